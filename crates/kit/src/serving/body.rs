//! Every request body is read whole, within a deadline, before the request is admitted
//! and before any handler sees it.
//!
//! Two things follow. A client that sends its body slowly waits outside: it holds no
//! admission permit while others are refused. And every answer is given with the body
//! already read, so an HTTP/1.1 connection stays usable after a 401, a 404 or a handler
//! that ignores the body; only a body that is too large or too late is left unread, and
//! then the answer says `Connection: close`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::problem::Problem;

/// The largest request body any service reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads the body of `request` (up to [`MAX_BODY_BYTES`], within `deadline` of its
/// headers) and passes the request on with the body in memory.
pub async fn read_body(State(deadline): State<Duration>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let version = request.version();
    if request
        .body()
        .size_hint()
        .exact()
        .is_some_and(|declared| declared > MAX_BODY_BYTES as u64)
    {
        return refused(version, StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE);
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(deadline, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    match read {
        Ok(Ok(collected)) => {
            next.run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await
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

/// An answer given with the body not read to its end: an HTTP/1 connection cannot carry
/// another request, and says so (HTTP/2 resets the one stream and needs nothing).
fn refused(version: http::Version, status: StatusCode, detail: &'static str) -> Response {
    let mut problem = Problem::new(status, detail);
    if version < http::Version::HTTP_2 {
        problem
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    problem.into_response()
}
