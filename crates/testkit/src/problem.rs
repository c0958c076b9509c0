//! The shape every error must have: RFC 9457 problem+json that names the request.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts that `response` is a problem with `status`, with every member a client relies
/// on, and with the same request id in the body as in the `x-request-id` header.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.expect("a JSON problem body");
    for member in ["type", "title", "detail", "request_id"] {
        assert!(
            body[member].as_str().is_some_and(|s| !s.is_empty()),
            "problem lacks {member}: {body}"
        );
    }
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(!header_id.is_empty(), "x-request-id header missing");
    assert_eq!(body["request_id"], header_id.as_str(), "{body}");
    body
}
