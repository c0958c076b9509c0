//! Abuse limits at the door: request rates per client address and per API key, and login
//! throttling per address and per account with a growing delay.
//!
//! The state lives in this process's memory: each gateway replica limits on its own, so
//! with N replicas a client gets at most N times the rate. That is the documented price of
//! needing no shared store for this.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::StatusCode;
use kit::serving::clients::ClientKey;
use kit::{ApiError, Problem};

/// Failed logins an account may have in an hour, whatever their pace.
pub const MAX_ACCOUNT_FAILURES_PER_HOUR: usize = 100;
/// Failures before the delay starts: a person mistyping is never slowed down.
const FREE_FAILURES_PER_ACCOUNT: usize = 5;
/// Many people can share one address (an office, a carrier's NAT): it gets more slack.
const FREE_FAILURES_PER_ADDRESS: usize = 20;
/// The longest delay between two attempts.
const MAX_DELAY_SECONDS: i64 = 15 * 60;
const HOUR: i64 = 3600;
/// Buckets and failure records kept before idle ones are dropped.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Requests per second each client address may make, sustained.
    pub per_address: u32,
    /// Requests per second each API key may make, sustained.
    pub per_key: u32,
}

/// Addresses are counted as [`ClientKey`]s: an IPv6 client by its /64, which one subscriber
/// holds whole and could otherwise rotate through.
pub struct Limits {
    per_address: KeyedRates<ClientKey>,
    per_key: KeyedRates<i64>,
    logins: Mutex<LoginFailures>,
}

impl Limits {
    pub fn new(rates: RateLimits) -> Self {
        Self {
            per_address: KeyedRates::new(rates.per_address),
            per_key: KeyedRates::new(rates.per_key),
            logins: Mutex::new(LoginFailures::default()),
        }
    }

    pub fn allow_address(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.per_address
            .take(ClientKey::of(ip))
            .map_err(|wait| too_many("Too many requests from your address.", wait))
    }

    pub fn allow_key(&self, key: i64) -> Result<(), ApiError> {
        self.per_key
            .take(key)
            .map_err(|wait| too_many("Too many requests with this API key.", wait))
    }

    /// Refuses a login attempt that comes too soon after failures for this account or from
    /// this address. Checked before the password is, so a throttled guess costs no hash.
    pub fn allow_login(&self, account: &str, ip: IpAddr, now: i64) -> Result<(), ApiError> {
        let logins = self
            .logins
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let wait = logins
            .accounts
            .get(account)
            .and_then(|record| {
                record.wait(
                    now,
                    FREE_FAILURES_PER_ACCOUNT,
                    MAX_ACCOUNT_FAILURES_PER_HOUR,
                )
            })
            .max(
                logins
                    .addresses
                    .get(&ClientKey::of(ip))
                    .and_then(|record| record.wait(now, FREE_FAILURES_PER_ADDRESS, usize::MAX)),
            );
        match wait {
            // The caller records the event: it knows the account it may name.
            Some(seconds) => Err(too_many(
                "Too many failed logins; wait before trying again.",
                seconds as u64,
            )),
            None => Ok(()),
        }
    }

    pub fn login_failed(&self, account: &str, ip: IpAddr, now: i64) {
        let mut logins = self
            .logins
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        logins.forget_idle(now);
        logins
            .accounts
            .entry(account.to_owned())
            .or_default()
            .record(now);
        logins
            .addresses
            .entry(ClientKey::of(ip))
            .or_default()
            .record(now);
    }

    /// A success clears the account's record; the address keeps its own, so one valid
    /// account does not reset the count of guesses at others.
    pub fn login_succeeded(&self, account: &str) {
        let mut logins = self
            .logins
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        logins.accounts.remove(account);
    }
}

fn too_many(detail: &str, retry_after_seconds: u64) -> ApiError {
    let problem = Problem::typed(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "Too many requests",
        detail,
    )
    .retry_after(retry_after_seconds);
    ApiError::Problem(Box::new(problem))
}

/// Rate limits by key: each may spend `rate` requests a second, with bursts of twice that
/// (GCRA, the token bucket's exact twin, in governor's sharded map: no global lock).
struct KeyedRates<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> KeyedRates<K> {
    fn new(rate: u32) -> Self {
        let rate = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
        Self {
            limiter: RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes a request's worth, or says how many seconds until one is available.
    fn take(&self, key: K) -> Result<(), u64> {
        if self.limiter.len() >= MAX_TRACKED {
            // Keys whose allowance is full again carry no information: drop them.
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&key).map_err(|not_until| {
            not_until
                .wait_time_from(self.limiter.clock().now())
                .as_secs_f64()
                .ceil() as u64
        })
    }
}

#[derive(Default)]
struct LoginFailures {
    accounts: HashMap<String, FailureRecord>,
    addresses: HashMap<ClientKey, FailureRecord>,
}

impl LoginFailures {
    fn forget_idle(&mut self, now: i64) {
        if self.accounts.len() + self.addresses.len() >= MAX_TRACKED {
            self.accounts.retain(|_, record| !record.is_stale(now));
            self.addresses.retain(|_, record| !record.is_stale(now));
        }
    }
}

/// Failed attempts within the last hour, oldest first.
#[derive(Default)]
struct FailureRecord {
    at: VecDeque<i64>,
}

impl FailureRecord {
    fn record(&mut self, now: i64) {
        self.at.push_back(now);
        while self.at.len() > MAX_ACCOUNT_FAILURES_PER_HOUR {
            self.at.pop_front();
        }
    }

    fn is_stale(&self, now: i64) -> bool {
        self.at.back().is_none_or(|last| now - last >= HOUR)
    }

    /// Seconds to wait before the next attempt, if any: none for the first `free`
    /// failures of the hour, then doubling from one second up to [`MAX_DELAY_SECONDS`],
    /// and no attempt at all once `cap` failures fall within the hour.
    fn wait(&self, now: i64, free: usize, cap: usize) -> Option<i64> {
        let recent: Vec<i64> = self.at.iter().copied().filter(|t| now - t < HOUR).collect();
        if recent.len() >= cap {
            return Some(recent[recent.len() - cap] + HOUR - now);
        }
        let beyond = recent.len().checked_sub(free)?;
        let delay = 1i64
            .checked_shl(u32::try_from(beyond).unwrap_or(u32::MAX))
            .unwrap_or(MAX_DELAY_SECONDS)
            .min(MAX_DELAY_SECONDS);
        let last = *recent.last()?;
        (now < last + delay).then_some(last + delay - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn limits() -> Limits {
        Limits::new(RateLimits {
            per_address: 10,
            per_key: 10,
        })
    }

    #[test]
    fn the_delay_grows_after_the_free_failures() {
        let limits = limits();
        for _ in 0..FREE_FAILURES_PER_ACCOUNT {
            assert!(limits.allow_login("a@example.com", IP, 0).is_ok());
            limits.login_failed("a@example.com", IP, 0);
        }
        assert!(limits.allow_login("a@example.com", IP, 0).is_err());
        assert!(limits.allow_login("a@example.com", IP, 1).is_ok());
        limits.login_failed("a@example.com", IP, 1);
        assert!(limits.allow_login("a@example.com", IP, 2).is_err());
        assert!(limits.allow_login("a@example.com", IP, 3).is_ok());
    }

    #[test]
    fn one_account_under_attack_does_not_lock_out_another() {
        let limits = limits();
        let other_ip = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));
        for _ in 0..10 {
            limits.login_failed("victim@example.com", IP, 0);
        }
        assert!(
            limits
                .allow_login("victim@example.com", other_ip, 0)
                .is_err()
        );
        assert!(
            limits
                .allow_login("bystander@example.com", other_ip, 0)
                .is_ok()
        );
    }

    #[test]
    fn an_account_gets_at_most_a_hundred_failures_an_hour() {
        let mut record = FailureRecord::default();
        // An attacker who waits out every delay still hits the hourly cap.
        for second in 0..MAX_ACCOUNT_FAILURES_PER_HOUR as i64 {
            record.record(second * 30);
        }
        let now = 100 * 30;
        let wait = record.wait(
            now,
            FREE_FAILURES_PER_ACCOUNT,
            MAX_ACCOUNT_FAILURES_PER_HOUR,
        );
        assert_eq!(wait, Some(HOUR - now));
        // An hour after the first failure, it no longer counts, but the delay still does.
        assert_eq!(
            record.wait(
                HOUR,
                FREE_FAILURES_PER_ACCOUNT,
                MAX_ACCOUNT_FAILURES_PER_HOUR
            ),
            Some(99 * 30 + MAX_DELAY_SECONDS - HOUR)
        );
    }

    #[test]
    fn a_success_clears_the_account_but_not_the_address() {
        let limits = limits();
        for _ in 0..FREE_FAILURES_PER_ADDRESS + 1 {
            limits.login_failed("a@example.com", IP, 0);
        }
        limits.login_succeeded("a@example.com");
        assert!(limits.allow_login("b@example.com", IP, 0).is_err());
    }

    #[test]
    fn rates_allow_a_burst_then_refuse() {
        let rates = KeyedRates::new(5);
        for _ in 0..10 {
            assert!(rates.take(1).is_ok());
        }
        assert_eq!(rates.take(1), Err(1));
        assert!(rates.take(2).is_ok());
    }

    #[test]
    fn an_ipv6_client_cannot_rotate_through_its_64() {
        let limits = limits();
        let mut refused = 0;
        for host in 0..100u16 {
            let ip: IpAddr = format!("2001:db8:7:7::{host:x}")
                .parse()
                .expect("an address");
            refused += usize::from(limits.allow_address(ip).is_err());
        }
        assert_eq!(refused, 80, "a burst of 20 for the whole /64");
        let elsewhere: IpAddr = "2001:db8:7:8::1".parse().expect("an address");
        assert!(
            limits.allow_address(elsewhere).is_ok(),
            "the next /64 is another client"
        );
    }
}
