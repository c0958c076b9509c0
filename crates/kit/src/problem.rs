//! RFC 9457 problem details: the one error format every msa-shop service answers with.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::observing::request_id;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem detail object. `request_id` lets a user quote the failing request to an
/// operator, who finds it in the logs; nothing else about the server's inside is ever sent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub request_id: String,
    /// Problem-specific members, such as the product that ran out of stock.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
    #[serde(skip)]
    #[schema(ignore)]
    pub headers: HeaderMap,
}

impl Problem {
    /// A problem whose meaning is the status itself.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: request_id::current().unwrap_or_default(),
            extensions: Map::new(),
            headers: HeaderMap::new(),
        }
    }

    /// A problem of a named kind, such as `out-of-stock`, with its own title.
    pub fn typed(
        status: StatusCode,
        slug: &str,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        let mut problem = Self::new(status, detail);
        problem.kind = format!("urn:msa-shop:problem:{slug}");
        problem.title = title.into();
        problem
    }

    /// 503 `overloaded` with `Retry-After: 1`: the service sheds this request to keep the
    /// ones it has, and the next one may well pass.
    pub fn overloaded() -> Self {
        Self::typed(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Overloaded",
            "The service is at capacity; try again shortly.",
        )
        .retry_after(1)
    }

    /// Rebuilds a problem another service (or an earlier request) stated, under the current
    /// request's id: its type, title, detail and extensions are kept.
    pub fn from_body(status: StatusCode, body: &Value) -> Self {
        let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
        let mut problem = Self::new(status, text("detail"));
        if let Some(kind) = body["type"].as_str() {
            problem.kind = kind.to_owned();
            problem.title = text("title");
        }
        if let Value::Object(members) = body {
            for (key, value) in members {
                if !matches!(
                    key.as_str(),
                    "type" | "title" | "status" | "detail" | "request_id"
                ) {
                    problem.extensions.insert(key.clone(), value.clone());
                }
            }
        }
        problem
    }

    /// Adds a problem-specific member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Tells the client to try again after `seconds` (at least one): `Retry-After`, as 429 and
    /// 503 answers carry it.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.headers.insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from(seconds.max(1)),
        );
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        if self.request_id.is_empty() {
            self.request_id = request_id::current().unwrap_or_default();
        }
        let status = self.status_code();
        let headers = std::mem::take(&mut self.headers);
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.headers_mut().extend(headers);
        response
    }
}
