//! What keeps one failing service from taking the others down: a circuit breaker and a
//! retry budget per upstream, and the policy that tunes them and the deadlines.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How calls to another service are bounded. One policy per process, every upstream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPolicy {
    /// Deadline of a whole call, retries included: a caller never waits longer.
    pub timeout: Duration,
    /// Deadline of opening a connection.
    pub connect_timeout: Duration,
    /// Extra attempts of an idempotent call that failed without an answer or with 502/503.
    /// A timed-out attempt is not repeated: its deadline is spent, and a slow upstream
    /// needs less load, not more.
    pub retries: u32,
    /// First backoff; each retry waits a random time up to twice the previous bound.
    pub backoff: Duration,
    /// Retries allowed per call made, on top of a small reserve: 0.2 keeps retry traffic
    /// below a fifth of the normal traffic when everything fails at once.
    pub retry_ratio: f64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before one probe may go through.
    pub breaker_cooldown: Duration,
    /// Calls to one upstream in flight at once; more are refused at once (503).
    pub max_concurrent: usize,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
            retries: 2,
            backoff: Duration::from_millis(25),
            retry_ratio: 0.2,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(2),
            max_concurrent: 256,
        }
    }
}

impl CallPolicy {
    /// The same policy with another deadline (the gateway waits longer than the services
    /// behind it, so that they can answer 503/504 themselves first).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self {
            timeout,
            connect_timeout: self.connect_timeout.min(timeout),
            ..self
        }
    }

    /// The wait before retry number `attempt` (1-based): "full jitter", a random time up to
    /// `backoff * 2^(attempt-1)`, so that callers that failed together do not retry together.
    pub fn backoff_before(&self, attempt: u32) -> Duration {
        let bound = self
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(10));
        bound.mul_f64(rand::random::<f64>())
    }
}

/// The state of a breaker, as exported in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    pub fn as_gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is on its way; its result closes or reopens the breaker. A probe that
    /// never reports (its caller gave up) is replaced after `stale_after`.
    HalfOpen {
        probe_sent: Instant,
    },
}

/// Stops calling an upstream that keeps failing, so callers fail in microseconds instead
/// of waiting for deadlines, and the upstream gets room to recover.
#[derive(Debug)]
pub struct CircuitBreaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
    stale_after: Duration,
}

/// Whether a call may go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The breaker is open; the caller may try again after this long.
    Refused(Duration),
}

/// What a breaker did after a result, for the caller to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened,
    Closed,
}

impl CircuitBreaker {
    pub fn new(policy: &CallPolicy) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: policy.breaker_failures.max(1),
            cooldown: policy.breaker_cooldown,
            stale_after: policy.timeout,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    pub fn admit(&self) -> Admission {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admission {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now < until => Admission::Refused(until - now),
            State::HalfOpen { probe_sent } if now < probe_sent + self.stale_after => {
                Admission::Refused(self.cooldown.min(Duration::from_secs(1)))
            }
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen { probe_sent: now };
                Admission::Allowed
            }
        }
    }

    pub fn record(&self, success: bool) -> Transition {
        self.record_at(success, Instant::now())
    }

    fn record_at(&self, success: bool, now: Instant) -> Transition {
        let mut state = self.lock();
        let was_closed = matches!(*state, State::Closed { .. });
        let (next, transition) = match (&*state, success) {
            (State::Closed { .. }, true) => (State::Closed { failures: 0 }, Transition::None),
            (_, true) => (State::Closed { failures: 0 }, Transition::Closed),
            (State::Closed { failures }, false) if failures + 1 < self.threshold => (
                State::Closed {
                    failures: failures + 1,
                },
                Transition::None,
            ),
            // An answer from before the breaker opened changes nothing.
            (State::Open { until }, false) => (State::Open { until: *until }, Transition::None),
            (_, false) => (
                State::Open {
                    until: now + self.cooldown,
                },
                if was_closed {
                    Transition::Opened
                } else {
                    // A failed probe: open again, counted once when it first opened.
                    Transition::None
                },
            ),
        };
        *state = next;
        transition
    }
}

/// Bounds retries to a share of the calls made: each call deposits `ratio`, each retry
/// withdraws one, and the balance never exceeds a small reserve. When an upstream fails
/// for everyone, retry traffic stays a fraction of normal traffic instead of multiplying it.
#[derive(Debug)]
pub struct RetryBudget {
    balance: Mutex<f64>,
    ratio: f64,
    reserve: f64,
}

impl RetryBudget {
    const RESERVE: f64 = 10.0;

    pub fn new(ratio: f64) -> Self {
        Self {
            balance: Mutex::new(Self::RESERVE),
            ratio: ratio.max(0.0),
            reserve: Self::RESERVE,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, f64> {
        self.balance
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn deposit(&self) {
        let mut balance = self.lock();
        *balance = (*balance + self.ratio).min(self.reserve);
    }

    /// Takes one retry from the budget, if there is one.
    pub fn withdraw(&self) -> bool {
        let mut balance = self.lock();
        if *balance >= 1.0 {
            *balance -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CallPolicy {
        CallPolicy {
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            ..CallPolicy::default()
        }
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_only() {
        let breaker = CircuitBreaker::new(&policy());
        let now = Instant::now();
        assert_eq!(breaker.record_at(false, now), Transition::None);
        assert_eq!(breaker.record_at(false, now), Transition::None);
        // A success in between starts the count again.
        assert_eq!(breaker.record_at(true, now), Transition::None);
        assert_eq!(breaker.record_at(false, now), Transition::None);
        assert_eq!(breaker.record_at(false, now), Transition::None);
        assert_eq!(breaker.admit_at(now), Admission::Allowed);
        assert_eq!(breaker.record_at(false, now), Transition::Opened);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(
            breaker.admit_at(now + Duration::from_secs(1)),
            Admission::Refused(Duration::from_secs(4))
        );
    }

    #[test]
    fn after_the_cooldown_one_probe_decides() {
        let breaker = CircuitBreaker::new(&policy());
        let now = Instant::now();
        for _ in 0..3 {
            breaker.record_at(false, now);
        }
        let later = now + Duration::from_secs(5);
        assert_eq!(breaker.admit_at(later), Admission::Allowed);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        // Only one probe at a time.
        assert!(matches!(breaker.admit_at(later), Admission::Refused(_)));
        // A failed probe reopens for another cooldown.
        assert_eq!(breaker.record_at(false, later), Transition::None);
        assert!(matches!(
            breaker.admit_at(later + Duration::from_secs(4)),
            Admission::Refused(_)
        ));
        let again = later + Duration::from_secs(5);
        assert_eq!(breaker.admit_at(again), Admission::Allowed);
        assert_eq!(breaker.record_at(true, again), Transition::Closed);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced() {
        let breaker = CircuitBreaker::new(&policy());
        let now = Instant::now();
        for _ in 0..3 {
            breaker.record_at(false, now);
        }
        let probe = now + Duration::from_secs(5);
        assert_eq!(breaker.admit_at(probe), Admission::Allowed);
        assert_eq!(
            breaker.admit_at(probe + Duration::from_secs(2)),
            Admission::Allowed
        );
    }

    #[test]
    fn the_retry_budget_is_a_share_of_the_calls() {
        let budget = RetryBudget::new(0.2);
        let mut granted = 0;
        for _ in 0..100 {
            budget.deposit();
            if budget.withdraw() {
                granted += 1;
            }
        }
        // The reserve of 10, then one retry per five calls.
        assert!((25..=31).contains(&granted), "{granted} retries granted");
    }

    #[test]
    fn backoff_is_jittered_and_grows() {
        let policy = CallPolicy::default();
        for attempt in 1..=4 {
            let bound = policy.backoff * (1 << (attempt - 1));
            let wait = policy.backoff_before(attempt);
            assert!(wait <= bound, "{wait:?} > {bound:?}");
        }
    }
}
