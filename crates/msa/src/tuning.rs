//! How the services protect themselves and each other: call retries, circuit breakers,
//! concurrency limits and load shedding. Every knob has a default that suits one machine;
//! `docs/operations.md` says when to turn which.

use std::time::Duration;

use clap::Args;
use kit::calling::resilience::CallPolicy;
use kit::serving::http::Serving;

#[derive(Debug, Clone, Args)]
pub struct Tuning {
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

    /// Requests each service serves at once; more are refused with 503 and Retry-After.
    #[arg(long, env = "MSA_MAX_IN_FLIGHT", default_value_t = kit::serving::http::DEFAULT_MAX_IN_FLIGHT as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Milliseconds a stopping service goes on serving while `/readyz` already fails, so
    /// that a load balancer stops sending it requests first (about 5000 on Kubernetes).
    #[arg(long, env = "MSA_SHUTDOWN_DELAY_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub shutdown_delay_ms: u64,

    /// OpenTelemetry collector (OTLP over HTTP, such as http://collector:4318) to which
    /// every service sends its trace spans; off when unset.
    #[arg(long, env = "MSA_OTLP_ENDPOINT", value_parser = parse_endpoint)]
    pub otlp_endpoint: Option<String>,
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|error| error.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL with a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the URL".to_owned());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

impl Tuning {
    /// The policy of calls with deadline `timeout`.
    pub fn call_policy(&self, timeout: Duration) -> CallPolicy {
        CallPolicy {
            retries: self.call_retries,
            backoff: Duration::from_millis(self.call_backoff_ms),
            retry_ratio: f64::from(self.retry_budget_percent) / 100.0,
            breaker_failures: self.breaker_failures,
            breaker_cooldown: Duration::from_millis(self.breaker_cooldown_ms),
            max_concurrent: self.max_upstream_calls as usize,
            ..CallPolicy::default()
        }
        .with_timeout(timeout)
    }

    pub fn serving(&self) -> Serving {
        Serving {
            max_in_flight: self.max_in_flight as usize,
            shutdown_delay: Duration::from_millis(self.shutdown_delay_ms),
            otlp_endpoint: self.otlp_endpoint.clone(),
        }
    }

    /// The same tuning as flags, for a child process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--call-retries={}", self.call_retries),
            format!("--call-backoff-ms={}", self.call_backoff_ms),
            format!("--retry-budget-percent={}", self.retry_budget_percent),
            format!("--breaker-failures={}", self.breaker_failures),
            format!("--breaker-cooldown-ms={}", self.breaker_cooldown_ms),
            format!("--max-upstream-calls={}", self.max_upstream_calls),
            format!("--max-in-flight={}", self.max_in_flight),
            format!("--shutdown-delay-ms={}", self.shutdown_delay_ms),
        ];
        if let Some(endpoint) = &self.otlp_endpoint {
            args.push(format!("--otlp-endpoint={endpoint}"));
        }
        args
    }
}
