//! The settings of calls between services: their deadline and how they protect the callee
//! and the caller ([`CallOptions`]), and where each service is reached ([`UsersAt`],
//! [`ProductsAt`], [`OrdersAt`]: one group each, so that a service reads only the
//! addresses of the services it calls). `docs/operations.md` says when to turn which.

use std::time::Duration;

use clap::Args;

use crate::calling::resilience::CallPolicy;
use crate::serving::options::{Place, ports};

/// Deadlines, retries, circuit breakers and concurrency limits of calls to other services.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Calls to other services")]
pub struct CallOptions {
    /// Deadline of each call between services, in milliseconds.
    #[arg(long, env = "MSA_CALL_TIMEOUT_MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub call_timeout_ms: u64,

    /// Extra attempts of an idempotent call to another service that found it down or
    /// overloaded (never of one that timed out), within the call's deadline.
    #[arg(long, env = "MSA_CALL_RETRIES", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(0..=5))]
    pub call_retries: u32,

    /// First wait before a retry, in milliseconds; later ones wait a random time up to
    /// twice as long as the last bound.
    #[arg(long, env = "MSA_CALL_BACKOFF_MS", default_value_t = 25,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub call_backoff_ms: u64,

    /// Retries allowed, as a percentage of calls made (plus a reserve of 10), so that an
    /// outage does not multiply the traffic.
    #[arg(long, env = "MSA_RETRY_BUDGET_PERCENT", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retry_budget_percent: u32,

    /// Consecutive failed calls that open an upstream's circuit breaker.
    #[arg(long, env = "MSA_BREAKER_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub breaker_failures: u32,

    /// Milliseconds an open breaker refuses calls before letting one probe through.
    #[arg(long, env = "MSA_BREAKER_COOLDOWN_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(10..=600_000))]
    pub breaker_cooldown_ms: u64,

    /// Calls to one upstream in flight at once; more are refused with 503 at once.
    #[arg(long, env = "MSA_MAX_UPSTREAM_CALLS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_upstream_calls: u32,
}

impl CallOptions {
    /// The deadline of one call.
    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    /// The policy of calls whose deadline is `calls_in_a_row` call deadlines: a caller
    /// whose callee itself makes that many calls in a row waits for all of them, so that
    /// the callee answers 503/504 itself first.
    pub fn policy(&self, calls_in_a_row: u32) -> CallPolicy {
        CallPolicy {
            retries: self.call_retries,
            backoff: Duration::from_millis(self.call_backoff_ms),
            retry_ratio: f64::from(self.retry_budget_percent) / 100.0,
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_millis(self.breaker_cooldown_ms),
            max_concurrent: self.max_upstream_calls as usize,
            ..CallPolicy::default()
        }
        .with_timeout(self.call_timeout() * calls_in_a_row)
    }
}

/// Where user-service is reached, for the services that call it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Calls to other services")]
pub struct UsersAt {
    /// URL at which user-service is reached [default: http://HOST:5001, the port it listens on
    /// by default; `msa up` passes the port it started it on].
    #[arg(long, env = "MSA_USERS_URL")]
    pub users_url: Option<String>,
}

impl UsersAt {
    pub fn url(&self, place: &Place) -> String {
        self.users_url
            .clone()
            .unwrap_or_else(|| place.url(ports::USERS))
    }
}

/// Where product-service is reached, for the services that call it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Calls to other services")]
pub struct ProductsAt {
    /// URL at which product-service is reached [default: http://HOST:5002, the port it listens on
    /// by default; `msa up` passes the port it started it on].
    #[arg(long, env = "MSA_PRODUCTS_URL")]
    pub products_url: Option<String>,
}

impl ProductsAt {
    pub fn url(&self, place: &Place) -> String {
        self.products_url
            .clone()
            .unwrap_or_else(|| place.url(ports::PRODUCTS))
    }
}

/// Where order-service is reached, for the gateway.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Calls to other services")]
pub struct OrdersAt {
    /// URL at which order-service is reached [default: http://HOST:5003, the port it listens on
    /// by default; `msa up` passes the port it started it on].
    #[arg(long, env = "MSA_ORDERS_URL")]
    pub orders_url: Option<String>,
}

impl OrdersAt {
    pub fn url(&self, place: &Place) -> String {
        self.orders_url
            .clone()
            .unwrap_or_else(|| place.url(ports::ORDERS))
    }
}
