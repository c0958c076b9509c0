//! What a failed call to another service means for the caller's own client: each failure
//! becomes the problem (503, 504, 502) its handler answers with, unless it handles it.

use std::time::Duration;

use http::StatusCode;

use crate::problem::Problem;

/// Why a call to another service did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{service} is unavailable")]
    Unavailable { service: &'static str },
    /// Not sent: the circuit breaker is open, or too many calls are in flight.
    #[error("{service} is unavailable (not called: {reason})")]
    Refused {
        service: &'static str,
        reason: Refusal,
        retry_after: Duration,
    },
    #[error("{service} did not answer in time")]
    Timeout { service: &'static str },
    #[error("{service} answered with status {status}")]
    Status {
        service: &'static str,
        status: StatusCode,
    },
    #[error("{service} sent an answer that could not be read")]
    Invalid { service: &'static str },
}

/// Set on an answer that reports the failure of one of the answering service's own
/// upstreams, naming it. Its caller then knows the service itself is well: the answer
/// passes through without counting against the service's circuit breaker and without a
/// retry, so an outage two hops away never switches off a healthy service.
pub const FAILED_UPSTREAM: &str = "x-msa-failed-upstream";

impl UpstreamError {
    /// The service whose failure this is.
    pub fn service(&self) -> &'static str {
        match self {
            Self::Unavailable { service }
            | Self::Refused { service, .. }
            | Self::Timeout { service }
            | Self::Status { service, .. }
            | Self::Invalid { service } => service,
        }
    }

    /// The answer to give for this failure, marked with [`FAILED_UPSTREAM`].
    pub fn to_problem(&self) -> Problem {
        let mut problem = self.problem();
        problem.headers.insert(
            http::HeaderName::from_static(FAILED_UPSTREAM),
            http::HeaderValue::from_static(self.service()),
        );
        problem
    }

    fn problem(&self) -> Problem {
        match self {
            Self::Unavailable { service } => unavailable(service, Duration::from_secs(1)),
            Self::Refused {
                service,
                retry_after,
                ..
            } => unavailable(service, *retry_after),
            Self::Timeout { service } => Problem::typed(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream-timeout",
                "Upstream timeout",
                format!("The {service} service did not answer in time; try again shortly."),
            ),
            Self::Status { service, .. } | Self::Invalid { service } => Problem::typed(
                StatusCode::BAD_GATEWAY,
                "upstream-failed",
                "Upstream failed",
                format!("The {service} service could not complete the request."),
            ),
        }
    }

    pub(crate) fn from_transport(service: &'static str, error: &reqwest::Error) -> Self {
        // A call that never connected (refused, unresolvable name, or a name lookup or
        // connect that timed out) reached nothing: the service is unavailable. Only a
        // request that was sent and not answered in time is a timeout.
        if error.is_timeout() && !error.is_connect() {
            Self::Timeout { service }
        } else {
            Self::Unavailable { service }
        }
    }
}

/// Why a call was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("too many calls in flight")]
    Shed,
    #[error("circuit breaker open")]
    BreakerOpen,
}

fn unavailable(service: &str, retry_after: Duration) -> Problem {
    let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    Problem::typed(
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream-unavailable",
        "Upstream unavailable",
        format!("The {service} service is unavailable; try again shortly."),
    )
    .retry_after(seconds)
}
