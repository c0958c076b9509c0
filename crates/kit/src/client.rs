//! Calls to other services: one pooled keep-alive client per process, a deadline on every
//! call, the request id passed on, and transport failures turned into 503/504 problems.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::identity::{CallSigner, Principal, Role, TOKEN_HEADER};
use crate::problem::Problem;
use crate::request_id::{self, X_REQUEST_ID};

/// Why a call to another service did not give a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("{service} is unavailable")]
    Unavailable { service: &'static str },
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

impl UpstreamError {
    pub fn to_problem(&self) -> Problem {
        match self {
            Self::Unavailable { service } => Problem::typed(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream-unavailable",
                "Upstream unavailable",
                format!("The {service} service is unavailable; try again shortly."),
            ),
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

    fn from_transport(service: &'static str, error: &reqwest::Error) -> Self {
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

/// Builds the process-wide HTTP client. Built once and cloned (a clone shares the pool),
/// never per request. Proxy variables are ignored: service-to-service traffic must not be
/// diverted by the environment.
pub fn http_client(call_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(call_timeout)
        .connect_timeout(Duration::from_secs(1).min(call_timeout))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("BUG: the HTTP client configuration is static and valid")
}

/// A service this process calls, by name and base URL.
#[derive(Debug, Clone)]
pub struct Upstream {
    service: &'static str,
    base_url: Arc<str>,
    http: reqwest::Client,
    signer: Option<CallSigner>,
}

impl Upstream {
    pub fn new(service: &'static str, base_url: &str, http: reqwest::Client) -> Self {
        Self {
            service,
            base_url: base_url.trim_end_matches('/').into(),
            http,
            signer: None,
        }
    }

    /// Signs every call with an identity token for this upstream, minted by `signer`.
    pub fn signed_by(mut self, signer: CallSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// A request to `path` carrying the current request id, in which this process speaks
    /// for itself.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let token = self
            .signer
            .as_ref()
            .map(|signer| signer.own_token(self.service));
        self.request_with_token(method, path, token)
    }

    /// A request to `path` in which this process vouches for another principal, such as
    /// the gateway forwarding a logged-in user's request.
    pub fn request_acting_for(
        &self,
        method: Method,
        path: &str,
        principal: &Principal,
        role: Role,
        scopes: &[String],
    ) -> reqwest::RequestBuilder {
        let token = self
            .signer
            .as_ref()
            .map(|signer| signer.token(self.service, principal, role, scopes));
        self.request_with_token(method, path, token)
    }

    fn request_with_token(
        &self,
        method: Method,
        path: &str,
        token: Option<String>,
    ) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        if let Some(id) = request_id::current() {
            builder = builder.header(&X_REQUEST_ID, id);
        }
        if let Some(token) = token {
            builder = builder.header(TOKEN_HEADER, token);
        }
        builder
    }

    /// Sends a request; any answer with a status is returned, transport failures are mapped.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, UpstreamError> {
        request
            .send()
            .await
            .map_err(|error| UpstreamError::from_transport(self.service, &error))
    }

    /// Reads a JSON body, mapping a body that breaks off or does not parse.
    pub async fn read_json<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, UpstreamError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|error| UpstreamError::from_transport(self.service, &error))?;
        serde_json::from_slice(&bytes).map_err(|_| UpstreamError::Invalid {
            service: self.service,
        })
    }

    /// `GET path` as JSON; `Ok(None)` on 404, an error on any other non-success status.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, UpstreamError> {
        let response = self.send(self.request(Method::GET, path)).await?;
        match response.status() {
            status if status.is_success() => self.read_json(response).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(self.unexpected(status)),
        }
    }

    /// The error for an answer whose status the caller did not expect. An upstream that is
    /// itself overloaded or cut off from its dependencies passes that on as 503/504.
    pub fn unexpected(&self, status: StatusCode) -> UpstreamError {
        match status {
            StatusCode::SERVICE_UNAVAILABLE => UpstreamError::Unavailable {
                service: self.service,
            },
            StatusCode::GATEWAY_TIMEOUT => UpstreamError::Timeout {
                service: self.service,
            },
            status => UpstreamError::Status {
                service: self.service,
                status,
            },
        }
    }
}
