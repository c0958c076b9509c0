//! The request id: taken from the client when it is well formed, minted otherwise, carried
//! in the `x-request-id` header to every service a request touches and into every log line.

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use rand::Rng;
use tracing::Instrument;

pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    /// Set for the duration of a request so that problems and outgoing calls can read it
    /// without threading it through every function.
    static CURRENT: String;
}

/// The id of the request being served by this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Runs `future` with `id` as its request id.
pub async fn scope<F: Future>(id: String, future: F) -> F::Output {
    CURRENT.scope(id, future).await
}

/// A client's id is kept only if it is short and plain, so it cannot forge log lines or
/// smuggle markup into the places it is echoed.
pub fn is_valid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// 128 random bits in hex: unique without coordination between services.
pub fn mint() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    crate::hex::encode(&bytes)
}

/// Middleware: establishes the request id, logs the request once it is answered (in a
/// span naming the request id and `trace_id`), and returns the id to the client.
pub async fn layer<F: Future<Output = Response>>(
    mut request: Request,
    trace_id: String,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_valid(value))
        .map(str::to_owned)
        .unwrap_or_else(mint);
    let header = HeaderValue::from_str(&id).expect("BUG: a valid request id is a valid header");
    request
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), header.clone());

    let span = tracing::info_span!(
        "request",
        trace_id = %trace_id,
        request.id = %id,
        http.method = %request.method(),
        http.path = %request.uri().path(),
    );
    // Probes arrive every few seconds from supervisors and orchestrators; at info they
    // would drown the requests people care about.
    let is_probe = matches!(request.uri().path(), "/healthz" | "/readyz");
    let started = std::time::Instant::now();
    let mut response = CURRENT
        .scope(id, next(request))
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(http.status = status, elapsed_ms, "answered");
        } else if is_probe {
            tracing::debug!(http.status = status, elapsed_ms, "answered");
        } else {
            tracing::info!(http.status = status, elapsed_ms, "answered");
        }
    });
    response.headers_mut().insert(X_REQUEST_ID.clone(), header);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_valid_and_distinct() {
        let (a, b) = (mint(), mint());
        assert!(is_valid(&a));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn hostile_ids_are_rejected() {
        assert!(is_valid("abc-123_x.y:z"));
        assert!(!is_valid(""));
        assert!(!is_valid("a b"));
        assert!(!is_valid("line\nbreak"));
        assert!(!is_valid("<script>"));
        assert!(!is_valid(&"x".repeat(65)));
    }
}
