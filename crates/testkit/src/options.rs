//! What a test may change about the system it starts, and the timings of tests.

use std::time::Duration;

use gateway::{PlainHttpMode, RateLimits};
use kit::calling::options::CallOptions;
use kit::serving::options::ServingOptions;

/// Deadline of calls between services in tests: short, so timeouts are quick to provoke,
/// yet with room for a loaded 2-core CI machine, where healthy calls must never time out.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Recovery runs this often in tests, so settling can be observed quickly.
pub const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

/// What a test may change about the system it starts. Everything else is each service's
/// default settings, as an operator gets them, and what they derive.
#[derive(Debug, Clone)]
pub struct Options {
    pub rates: RateLimits,
    /// The one browser origin allowed cross-origin calls.
    pub cors_origin: &'static str,
    /// What the gateway's plain HTTP port does (HTTPS is always served too).
    pub plain_http: PlainHttpMode,
    /// Calls between services; each service derives its deadlines from these.
    pub calls: CallOptions,
    /// Load shedding and the shutdown sequence of every service.
    pub serving: ServingOptions,
    /// Mutual TLS between the services, as deployed; off only where a test must read the
    /// traffic between them (what the tokens alone still defend).
    pub internal_tls: bool,
    /// The most security events the gateway's audit trail keeps.
    pub security_events_max: u64,
}

/// The defaults of a settings group; the `MSA_*` environment of a test run counts, as it
/// would for `msa`.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    kit::serving::options::defaults()
        .unwrap_or_else(|error| panic!("the MSA_* environment does not parse: {error}"))
}

impl Default for Options {
    fn default() -> Self {
        let mut calls: CallOptions = defaults();
        calls.call_timeout_ms = CALL_TIMEOUT.as_millis() as u64;
        Self {
            // Every test client shares 127.0.0.1: limits are high unless a test lowers them.
            rates: RateLimits {
                per_address: 100_000,
                per_key: 100_000,
            },
            cors_origin: "https://shop.example.com",
            plain_http: PlainHttpMode::Serve,
            calls,
            serving: defaults(),
            internal_tls: true,
            security_events_max: 1_000_000,
        }
    }
}
