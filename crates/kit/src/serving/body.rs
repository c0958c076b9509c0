//! Every request body is read whole, within a deadline, before the request is admitted
//! and before any handler sees it.
//!
//! Two things follow. A client that sends its body slowly waits outside: it holds no
//! admission permit while others are refused. And every answer is given with the body
//! already read, so an HTTP/1.1 connection stays usable after a 401, a 404 or a handler
//! that ignores the body; only a body that is too large, too late or without room is left
//! unread, and then the answer says `Connection: close`.
//!
//! The bodies being received are held in memory, so they are bounded: all together by the
//! server's body budget (503 past it), and each client address to an eighth of it where
//! clients connect directly (429).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::Semaphore;

use crate::problem::Problem;
use crate::serving::clients::ClientShare;

/// The largest request body any service reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How bodies are read: their deadline, and the memory they may take all together.
#[derive(Clone)]
pub struct Reading {
    pub deadline: Duration,
    /// Kibibytes of request bodies held at once, as semaphore permits.
    budget: Arc<Semaphore>,
}

impl Reading {
    pub fn new(deadline: Duration, budget_bytes: usize) -> Self {
        let kib = u32::try_from(budget_bytes / 1024)
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            deadline,
            budget: Arc::new(Semaphore::new(kib as usize)),
        }
    }
}

/// Reads the body of `request` (up to [`MAX_BODY_BYTES`], within the deadline from its
/// headers, within the memory budgets) and passes the request on with the body in memory.
pub async fn read_body<F: Future<Output = Response>>(
    reading: &Reading,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    if request.body().is_end_stream() {
        return next(request).await;
    }
    let version = request.version();
    let declared = request.body().size_hint().exact();
    if declared.is_some_and(|declared| declared > MAX_BODY_BYTES as u64) {
        return refused(version, StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE);
    }
    // What the body may take: its declared length, or the most any body may be.
    let room = declared.map_or(MAX_BODY_BYTES, |declared| declared as usize);
    let client_share = match request.extensions().get::<ClientShare>() {
        None => None,
        Some(share) => match share.reserve_body(room) {
            Some(reserved) => Some(reserved),
            None => {
                return busy(
                    version,
                    StatusCode::TOO_MANY_REQUESTS,
                    "This client is sending as many request bodies at once as it may; wait for one to finish.",
                );
            }
        },
    };
    let kib = u32::try_from(room.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .max(1);
    let Ok(budget) = reading.budget.clone().try_acquire_many_owned(kib) else {
        return busy(
            version,
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is receiving as many request bodies as it can hold; try again shortly.",
        );
    };
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        reading.deadline,
        Limited::new(body, MAX_BODY_BYTES).collect(),
    )
    .await;
    match read {
        Ok(Ok(collected)) => {
            let response = next(Request::from_parts(parts, Body::from(collected.to_bytes()))).await;
            drop((budget, client_share));
            response
        }
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            refused(version, StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
        }
        // The client ended the body before its declared length, or framed it wrongly.
        Ok(Err(_)) => refused(
            version,
            StatusCode::BAD_REQUEST,
            "The request body ended before it was complete.",
        ),
        Err(_) => refused(
            version,
            StatusCode::REQUEST_TIMEOUT,
            "The request body did not arrive in time.",
        ),
    }
}

const TOO_LARGE: &str = "The request body is larger than 1 MiB.";

/// A body refused for want of room, unread: try again after a second, on a new connection.
fn busy(version: http::Version, status: StatusCode, detail: &'static str) -> Response {
    unread(version, Problem::new(status, detail).retry_after(1))
}

/// An answer given with the body not read to its end: an HTTP/1 connection cannot carry
/// another request, and says so (HTTP/2 resets the one stream and needs nothing).
fn refused(version: http::Version, status: StatusCode, detail: &'static str) -> Response {
    unread(version, Problem::new(status, detail))
}

fn unread(version: http::Version, mut problem: Problem) -> Response {
    if version < http::Version::HTTP_2 {
        problem
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    problem.into_response()
}
