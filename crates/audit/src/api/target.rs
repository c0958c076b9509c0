//! The deployment under audit, reached only at the base URL given: paths are appended to
//! it, redirects are never followed, and the dictionary's `servers` are never used. Every
//! exchange is kept short enough to quote as evidence.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// How much of a response body is kept (checks look for leaks in it, and the API dictionary
/// is one: a real one runs to hundreds of KiB, and a cut one does not parse).
const BODY_KEPT: usize = 4 * 1024 * 1024;
/// How much of a body an evidence line quotes.
const EXCERPT: usize = 160;

/// How often, and how long at most, a 429 is waited out.
const PACING_RETRIES: usize = 3;
const MAX_PACING: Duration = Duration::from_secs(5);

pub const USER_AGENT: &str = concat!("msa-audit/", env!("CARGO_PKG_VERSION"));

#[derive(Clone)]
pub struct Target {
    base: String,
    client: reqwest::Client,
    /// Opens a new connection for every request: the second try of an exchange that a
    /// reused connection lost, to tell a dropped request from a keep-alive race.
    fresh: reqwest::Client,
    sent: Arc<AtomicUsize>,
    seen: Arc<Mutex<Observations>>,
}

/// What every response of the audit is read for, whichever check sent it: leaks.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// Responses with a field that holds a credential (`password_hash`, `secret`, ...).
    pub sensitive_fields: Vec<String>,
    /// Responses with a stack trace, a source location or a database error.
    pub internals: Vec<String>,
    /// Exchanges lost on a reused connection and answered on a fresh one: the server
    /// closed a keep-alive connection without saying `Connection: close`.
    pub keep_alive_races: Vec<String>,
}

/// Field names that must never come back from an API.
const SENSITIVE_FIELDS: [&str; 9] = [
    "password",
    "password_hash",
    "passwordhash",
    "hash",
    "salt",
    "secret",
    "private_key",
    "key_hash",
    "secret_hash",
];

/// What leaks look like in a response body.
const INTERNALS: [&str; 12] = [
    "panicked at",
    "stack backtrace",
    "Traceback (most recent call last)",
    "at java.",
    "Exception in thread",
    "NullPointerException",
    "SQLSTATE",
    "syntax error at or near",
    "sqlx::",
    "rusqlite",
    "SQLITE_",
    "src/main.rs",
];

/// How a request proves who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    Cookie { name: String, value: String },
    Bearer(String),
}

impl Credential {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::Anonymous => request,
            Self::Cookie { name, value } => request.header("cookie", format!("{name}={value}")),
            Self::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// One request and what came back: the evidence a check quotes.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: Method,
    pub path: String,
    /// `None` when no answer came (timeout, connection refused); see `error`.
    pub status: Option<StatusCode>,
    pub headers: HeaderMap,
    pub body: String,
    pub error: Option<String>,
}

impl Exchange {
    pub fn status_code(&self) -> u16 {
        self.status.map_or(0, |status| status.as_u16())
    }

    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|status| status.is_success())
    }

    pub fn is_server_error(&self) -> bool {
        self.status.is_some_and(|status| status.is_server_error())
    }

    /// The server ended the exchange without an HTTP answer (but answered the connection).
    pub fn closed_without_answer(&self) -> bool {
        self.status.is_none() && self.error.as_deref() == Some(CLOSED)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// `GET /x -> 401 {"type":...}`, short.
    pub fn excerpt(&self) -> String {
        let path: String = self.path.chars().take(120).collect();
        let answer = match (&self.status, &self.error) {
            (Some(status), _) => status.as_u16().to_string(),
            (None, Some(error)) => format!("no answer ({error})"),
            (None, None) => "no answer".into(),
        };
        let body: String = self
            .body
            .chars()
            .filter(|c| !c.is_control())
            .take(EXCERPT)
            .collect();
        if body.is_empty() {
            format!("{} {path} -> {answer}", self.method)
        } else {
            format!("{} {path} -> {answer} {body}", self.method)
        }
    }
}

/// A request to send: method, path (with query), credentials, extra headers, body.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub credential: Credential,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Body>,
    pub user_agent: Option<String>,
    /// Whether a 429 is waited out and the request sent again (see [`Target::send`]).
    pub pace: bool,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(serde_json::Value),
    /// Sent as is, with this content type (malformed input).
    Raw(&'static str, Vec<u8>),
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            credential: Credential::Anonymous,
            headers: Vec::new(),
            body: None,
            user_agent: None,
            pace: true,
        }
    }

    /// Takes a 429 as the answer (the brute-force check wants to see it).
    #[must_use]
    pub fn no_pacing(mut self) -> Self {
        self.pace = false;
        self
    }

    #[must_use]
    pub fn credential(mut self, credential: &Credential) -> Self {
        self.credential = credential.clone();
        self
    }

    #[must_use]
    /// Adds a header; one that cannot be sent as given (a name or value with bytes HTTP
    /// forbids, such as CR LF) is left out: no client could send it either.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.push((name, value));
        }
        self
    }

    #[must_use]
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(Body::Json(body));
        self
    }

    #[must_use]
    pub fn raw(mut self, content_type: &'static str, body: Vec<u8>) -> Self {
        self.body = Some(Body::Raw(content_type, body));
        self
    }

    #[must_use]
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = Some(user_agent.to_owned());
        self
    }

    /// Whether a server may refuse this request by closing the connection before reading
    /// it all. The refusal it writes first can then be lost to the reset that unread bytes
    /// cause, on a fresh connection as on a reused one, so losing it says nothing about
    /// keep-alive.
    fn is_too_large_to_read(&self) -> bool {
        let body = match &self.body {
            Some(Body::Json(value)) => serde_json::to_vec(value).map_or(0, |bytes| bytes.len()),
            Some(Body::Raw(_, bytes)) => bytes.len(),
            None => 0,
        };
        self.path.len() + body > LARGE_REQUEST
    }
}

/// Past this size (request target and body), a lost exchange is not taken for a keep-alive
/// race: 16 KiB is the smallest body or header limit of common servers (nginx's large
/// header buffers are 8 KiB each, Envoy's headers 60 KiB, our services' bodies 64 KiB).
const LARGE_REQUEST: usize = 16 * 1024;

impl Target {
    /// A client for `base` (scheme, host, port, no path), trusting `ca_pem` in addition to
    /// nothing else: the audit has no system CA store (it runs in scratch images too).
    pub fn new(base: &str, ca_pem: Option<&[u8]>, timeout: Duration) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base).map_err(|e| format!("{base}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("{base}: not an http(s) URL with a host"));
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = ca_pem {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject;
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate = certificate.map_err(|e| format!("the CA file: {e}"))?;
                roots
                    .add(certificate)
                    .map_err(|e| format!("the CA file: {e}"))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        // What browsers offer: HTTP/2 where the server speaks it.
        let mut tls = tls;
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let builder = || {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls.clone())
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .no_proxy()
                .user_agent(USER_AGENT)
        };
        let client = builder().build().map_err(|e| e.to_string())?;
        let fresh = builder()
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            base,
            client,
            fresh,
            sent: Arc::new(AtomicUsize::new(0)),
            seen: Arc::new(Mutex::new(Observations::default())),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    /// How many requests the audit has sent.
    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    /// What the responses so far have leaked.
    pub fn observations(&self) -> Observations {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    fn observe(&self, exchange: &Exchange) {
        let internal = INTERNALS
            .iter()
            .find(|needle| exchange.body.contains(*needle));
        let sensitive = exchange.json().and_then(|body| sensitive_field(&body));
        if internal.is_none() && sensitive.is_none() {
            return;
        }
        if let Ok(mut seen) = self.seen.lock() {
            if let Some(needle) = internal {
                seen.internals
                    .push(format!("{} (contains \"{needle}\")", exchange.excerpt()));
            }
            if let Some(field) = sensitive {
                seen.sensitive_fields
                    .push(format!("{} (field \"{field}\")", exchange.excerpt()));
            }
        }
    }

    /// Sends `request`. A 429 with a short `Retry-After` is waited out and the request sent
    /// again (a few times): the checks probe the API, not the rate limiter in front of it.
    pub async fn send(&self, request: Request) -> Exchange {
        let mut exchange = self.exchange_once_more_if_lost(&request).await;
        for _ in 0..PACING_RETRIES {
            let wait = exchange
                .header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .filter(|seconds| *seconds <= MAX_PACING.as_secs());
            match (request.pace, exchange.status_code(), wait) {
                (true, 429, Some(seconds)) => {
                    tokio::time::sleep(Duration::from_secs(seconds.max(1))).await;
                    exchange = self.exchange_once_more_if_lost(&request).await;
                }
                _ => break,
            }
        }
        self.observe(&exchange);
        exchange
    }

    /// One exchange; if the server closed it without an answer, the request is sent once
    /// more on a fresh connection. An answer there means the first was lost to a reused
    /// connection the server had closed silently, which is noted as a finding of its own
    /// rather than taken for the server refusing the request.
    async fn exchange_once_more_if_lost(&self, request: &Request) -> Exchange {
        let first = self.exchange(&self.client, request).await;
        if !first.closed_without_answer() {
            return first;
        }
        let second = self.exchange(&self.fresh, request).await;
        if second.status.is_some()
            && !request.is_too_large_to_read()
            && let Ok(mut seen) = self.seen.lock()
        {
            seen.keep_alive_races.push(format!(
                "{} {}: {} on a reused connection; {} on a fresh one",
                request.method,
                first.path,
                CLOSED,
                second.status_code()
            ));
        }
        second
    }

    async fn exchange(&self, client: &reqwest::Client, request: &Request) -> Exchange {
        // Only a path may follow the base: the request goes nowhere else.
        let path = if request.path.starts_with('/') {
            request.path.clone()
        } else {
            format!("/{}", request.path)
        };
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut builder = client.request(request.method.clone(), format!("{}{path}", self.base));
        builder = request.credential.apply(builder);
        if let Some(agent) = &request.user_agent {
            builder = builder.header("user-agent", agent);
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        builder = match &request.body {
            Some(Body::Json(value)) => builder.json(value),
            Some(Body::Raw(content_type, bytes)) => builder
                .header("content-type", *content_type)
                .body(bytes.clone()),
            None => builder,
        };
        let mut exchange = Exchange {
            method: request.method.clone(),
            path,
            status: None,
            headers: HeaderMap::new(),
            body: String::new(),
            error: None,
        };
        match builder.send().await {
            Ok(response) => {
                exchange.status = Some(response.status());
                exchange.headers = response.headers().clone();
                match response.bytes().await {
                    Ok(bytes) => {
                        let kept = &bytes[..bytes.len().min(BODY_KEPT)];
                        exchange.body = String::from_utf8_lossy(kept).into_owned();
                    }
                    Err(error) => exchange.error = Some(short_error(&error)),
                }
            }
            Err(error) => exchange.error = Some(short_error(&error)),
        }
        exchange
    }
}

/// The first field, at any depth, whose name says it holds a credential.
fn sensitive_field(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Object(object) => object.iter().find_map(|(key, value)| {
            let lower = key.to_ascii_lowercase();
            // A value, not a schema's description of one (the dictionary has those).
            let holds_value = value.as_str().is_some_and(|v| !v.is_empty()) || value.is_number();
            if SENSITIVE_FIELDS.contains(&lower.as_str()) && holds_value {
                Some(key.clone())
            } else {
                sensitive_field(value)
            }
        }),
        serde_json::Value::Array(items) => items.iter().find_map(sensitive_field),
        _ => None,
    }
}

fn short_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        TIMED_OUT.into()
    } else if error.is_connect() {
        COULD_NOT_CONNECT.into()
    } else {
        CLOSED.into()
    }
}

pub const TIMED_OUT: &str = "timed out";
pub const COULD_NOT_CONNECT: &str = "could not connect";
/// The server ended the exchange without an answer (a reset stream, a closed connection):
/// how servers refuse what is too large to read.
pub const CLOSED: &str = "the server closed the exchange without an answer";
