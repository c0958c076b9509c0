//! The error type of every handler.
//!
//! Policy: errors a client can act on are typed variants that become a problem with a
//! useful detail. Anything else is [`ApiError::Internal`]: its cause chain is logged once,
//! here, with the request id, and the client gets an opaque 500 that quotes only that id.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::calling::failure::UpstreamError;
use crate::problem::Problem;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or its values are out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well formed but breaks a rule of the domain.
    #[error("{detail}")]
    Unprocessable { slug: &'static str, detail: String },
    /// No valid credentials came with a request that needs them.
    #[error("unauthenticated")]
    Unauthenticated,
    /// The caller is known but may not do this.
    #[error("forbidden")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// The request conflicts with the current state (taken email, no stock, ...).
    #[error("{detail}")]
    Conflict {
        slug: &'static str,
        detail: String,
        extra: Option<serde_json::Value>,
    },
    /// An `If-Match` precondition failed: someone changed the resource first.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The service cannot take this request now (load shedding, not ready).
    #[error("{0}")]
    Unavailable(String),
    /// A refusal already stated as a problem, such as one passed on from another service.
    #[error("{}", .0.detail)]
    Problem(Box<Problem>),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(detail.into())
    }

    /// 422 for input that parses but breaks a rule of the domain; `detail` says which.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::unprocessable("validation-failed", detail)
    }

    pub fn unprocessable(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            slug,
            detail: detail.into(),
        }
    }

    pub fn conflict(slug: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            slug,
            detail: detail.into(),
            extra: None,
        }
    }

    pub fn to_problem(&self) -> Problem {
        match self {
            Self::BadRequest(detail) => Problem::new(StatusCode::BAD_REQUEST, detail),
            Self::Unprocessable { slug, detail } => Problem::typed(
                StatusCode::UNPROCESSABLE_ENTITY,
                slug,
                title_of(slug),
                detail,
            ),
            Self::Unauthenticated => Problem::typed(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Unauthenticated",
                "Log in, or send an API key, to use this resource.",
            ),
            Self::Forbidden => Problem::typed(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "Your account may not do this.",
            ),
            Self::NotFound(what) => {
                Problem::new(StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            Self::UnsupportedMediaType => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the body as application/json.",
            ),
            Self::Conflict {
                slug,
                detail,
                extra,
            } => {
                let mut problem =
                    Problem::typed(StatusCode::CONFLICT, slug, title_of(slug), detail);
                if let Some(serde_json::Value::Object(map)) = extra {
                    problem.extensions.extend(map.clone());
                }
                problem
            }
            Self::PreconditionFailed(detail) => {
                Problem::new(StatusCode::PRECONDITION_FAILED, detail)
            }
            Self::Unavailable(detail) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, detail),
            Self::Problem(problem) => (**problem).clone(),
            Self::Upstream(error) => error.to_problem(),
            Self::Internal(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server failed to answer this request; quote the request id to an operator.",
            ),
        }
    }
}

/// `out-of-stock` -> `Out of stock`: titles follow from the slug so they cannot drift.
fn title_of(slug: &str) -> String {
    let mut title = slug.replace('-', " ");
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    title
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            Self::Upstream(cause) => tracing::warn!(error = %cause, "upstream failed"),
            other => tracing::debug!(error = %other, "request refused"),
        }
        self.to_problem().into_response()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if database_unreachable(&error) {
            // Not a bug but an outage: the pool reconnects by itself once the database is
            // back, so the client is told to retry, as for an unavailable upstream.
            tracing::warn!(%error, "database unavailable");
            return Self::Unavailable(
                "The service cannot reach its database; try again shortly.".to_owned(),
            );
        }
        Self::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Whether `error` means the database could not be reached (rather than a query failing):
/// no connection to be had, a connection lost, or a server shutting down or starting.
pub(crate) fn database_unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P01-57P03 (shutdown, crash,
        // cannot connect now).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Maps a unique-constraint violation to a typed conflict in one line, so handlers never
/// match on database error strings themselves.
pub trait ResultExt<T> {
    fn on_unique_violation(self, slug: &'static str, detail: &str) -> ApiResult<T>;
}

impl<T> ResultExt<T> for Result<T, sqlx::Error> {
    fn on_unique_violation(self, slug: &'static str, detail: &str) -> ApiResult<T> {
        self.map_err(|error| match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                ApiError::conflict(slug, detail)
            }
            _ => error.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_slugs() {
        assert_eq!(title_of("out-of-stock"), "Out of stock");
        assert_eq!(title_of(""), "");
    }

    #[test]
    fn internal_errors_leak_nothing() {
        let error = ApiError::Internal(anyhow::anyhow!("disk /var/secret is full"));
        let problem = error.to_problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("secret"));
    }
}
