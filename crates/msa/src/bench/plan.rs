//! What a run sends: a cycle of request templates against one address. Request `n` is
//! template `n % len`, so a mix is written as the templates' proportions.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;

#[derive(Debug, Clone)]
pub struct Template {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// Each request gets its own `Idempotency-Key` (a new order each time).
    unique_key: bool,
}

impl Template {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            unique_key: false,
        }
    }

    pub fn post_json(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            body: Bytes::from(body.to_string()),
            ..Self::get(path)
        }
        .header(http::header::CONTENT_TYPE, "application/json")
    }

    /// Adds a header; `value` comes from the bench itself (a cookie, a key), never from a user.
    pub fn header(mut self, name: HeaderName, value: &str) -> Self {
        let value = HeaderValue::from_str(value).expect("BUG: a bench header is visible ASCII");
        self.headers.push((name, value));
        self
    }

    pub fn with_idempotency_keys(mut self) -> Self {
        self.unique_key = true;
        self
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub address: SocketAddr,
    authority: HeaderValue,
    templates: Vec<Template>,
}

impl Plan {
    pub fn new(address: SocketAddr, templates: Vec<Template>) -> Self {
        assert!(!templates.is_empty(), "BUG: a plan sends something");
        let authority = HeaderValue::from_str(&address.to_string())
            .expect("BUG: a socket address is a valid header value");
        Self {
            address,
            authority,
            templates,
        }
    }

    /// The request numbered `sequence` of the run `run`: a run's idempotency keys are its
    /// own, or the runs after the first (warm-up, rounds, open loop) would be answered with
    /// stored replays, cheaper than placements, and measure those instead.
    pub fn request(&self, run: &str, sequence: u64) -> Request<Full<Bytes>> {
        let template = &self.templates[(sequence % self.templates.len() as u64) as usize];
        let mut request = Request::new(Full::new(template.body.clone()));
        *request.method_mut() = template.method.clone();
        *request.uri_mut() = template
            .path
            .parse()
            .expect("BUG: a bench path is a valid URI");
        let headers = request.headers_mut();
        headers.insert(http::header::HOST, self.authority.clone());
        for (name, value) in &template.headers {
            headers.append(name.clone(), value.clone());
        }
        if template.unique_key {
            let key = format!("bench-{run}-{sequence}");
            headers.insert(
                HeaderName::from_static("idempotency-key"),
                HeaderValue::from_str(&key).expect("BUG: the key is ASCII"),
            );
        }
        request
    }
}
