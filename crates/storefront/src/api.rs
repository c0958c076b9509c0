//! The storefront's only way to the shop: `/api/v1`, asked in-process through the gateway's
//! own API router, as the visitor. Each call carries the visitor's cookies, user agent and
//! address, and passes the same authentication, rate limits, route policy and signed
//! identity tokens as a call from any other client; the storefront has no key, token or
//! database of its own that could do more.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use kit::identity::SessionEnded;
use kit::observing::request_id::X_REQUEST_ID;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceExt;

/// The largest answer the storefront reads from the API (a page of 100 products is ~30 KiB).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The headers of the visitor's request that the API sees as theirs.
const PASSED_ON: [HeaderName; 3] = [
    COOKIE,
    USER_AGENT,
    HeaderName::from_static("x-forwarded-for"),
];

/// The gateway's API router, as the storefront calls it.
#[derive(Clone)]
pub struct Api(pub Router);

/// What the API said, for the page to show: its status, problem type and detail.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    /// The last segment of the problem's `type` (`urn:msa-shop:problem:out-of-stock` gives
    /// `out-of-stock`).
    pub kind: String,
    pub detail: String,
}

impl Failure {
    fn unreadable(status: StatusCode) -> Self {
        Self {
            status,
            kind: String::new(),
            detail: String::new(),
        }
    }
}

/// What the API's answers asked of the browser, gathered across one page's calls.
#[derive(Debug, Default)]
pub struct Effects {
    /// Cookies to set or clear (a login's session, a logout's clearing).
    pub set_cookies: Vec<HeaderValue>,
    /// Why the visitor's session ended, if the gateway said.
    pub ended: Option<SessionEnded>,
}

/// The visitor's side of the calls of one page.
#[derive(Clone)]
pub struct Caller {
    api: Api,
    headers: HeaderMap,
    peer: Option<ConnectInfo<SocketAddr>>,
    effects: Arc<Mutex<Effects>>,
}

impl Caller {
    pub fn new(
        api: Api,
        request_headers: &HeaderMap,
        peer: Option<ConnectInfo<SocketAddr>>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        for name in PASSED_ON {
            for value in request_headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(id) = request_headers.get(&X_REQUEST_ID) {
            headers.insert(X_REQUEST_ID.clone(), id.clone());
        }
        Self {
            api,
            headers,
            peer,
            effects: Arc::default(),
        }
    }

    /// Whether a call so far found the visitor's session ended early, and why.
    pub fn ended(&self) -> Option<SessionEnded> {
        self.effects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ended
    }

    /// Takes what the calls so far asked of the browser.
    pub fn effects(&self) -> Effects {
        std::mem::take(&mut *self.effects.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.call(Method::GET, path, None::<&()>, &[]).await
    }

    /// A call with a JSON body (or none) and extra headers; its answer's JSON body.
    pub async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        extra: &[(&'static str, &str)],
    ) -> Result<T, Failure> {
        let bytes = self.send(method, path, body, extra).await?;
        // A 204 has no body: read it as JSON `null`, which `()` and `Option` accept.
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|error| {
            tracing::warn!(%error, path, "the API answered what the storefront cannot read");
            Failure::unreadable(StatusCode::BAD_GATEWAY)
        })
    }

    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        extra: &[(&'static str, &str)],
    ) -> Result<Vec<u8>, Failure> {
        let mut request = Request::builder().method(method).uri(path);
        let headers = request
            .headers_mut()
            .expect("BUG: method and path were checked by the pages");
        headers.extend(self.headers.clone());
        for (name, value) in extra {
            let value = HeaderValue::from_str(value)
                .map_err(|_| Failure::unreadable(StatusCode::BAD_REQUEST))?;
            headers.insert(*name, value);
        }
        let body = match body {
            Some(body) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Body::from(serde_json::to_vec(body).expect("BUG: page bodies serialise"))
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|_| Failure::unreadable(StatusCode::BAD_REQUEST))?;
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        let response = match self.api.0.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        {
            let mut effects = self.effects.lock().unwrap_or_else(PoisonError::into_inner);
            effects
                .set_cookies
                .extend(parts.headers.get_all(SET_COOKIE).iter().cloned());
            if let Some(ended) = parts.extensions.get::<SessionEnded>() {
                effects.ended = Some(*ended);
            }
        }
        let bytes = axum::body::to_bytes(body, MAX_ANSWER_BYTES)
            .await
            .map_err(|_| Failure::unreadable(StatusCode::BAD_GATEWAY))?;
        if parts.status.is_success() {
            return Ok(bytes.to_vec());
        }
        let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let text = |field: &str| {
            problem
                .get(field)
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Err(Failure {
            status: parts.status,
            kind: text("type")
                .rsplit(['/', ':'])
                .next()
                .unwrap_or_default()
                .to_owned(),
            detail: text("detail"),
        })
    }
}
