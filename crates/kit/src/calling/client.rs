//! Calls to other services: one pooled keep-alive client per process, a deadline on every
//! call, the request id passed on, and transport failures turned into 503/504 problems.
//!
//! Every call passes its upstream's guard: a concurrency limit (more calls in flight are
//! refused at once, never queued), a circuit breaker, and for idempotent calls retries
//! with jittered backoff, paid from a retry budget, within the call's one deadline.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;

use tokio::sync::Semaphore;

use crate::calling::failure::{FAILED_UPSTREAM, Refusal, UpstreamError};
use crate::calling::resilience::{
    Admission, BreakerState, CallPolicy, CircuitBreaker, RetryBudget, Transition,
};
use crate::calling::transport;
use crate::identity::binding::{Bound, target_of_url};
use crate::identity::{Actor, CallSigner, TOKEN_HEADER};
use crate::observing::metrics::{CallOutcome, Metrics};
use crate::observing::request_id::{self, X_REQUEST_ID};
use crate::serving::internal_tls::InternalTls;

/// Everything a process needs to call other services: one pooled client, the call policy
/// and the metrics that count the outcomes. Each [`Upstream`] made from it gets its own
/// breaker, retry budget and concurrency limit.
#[derive(Clone)]
pub struct Calls {
    http: reqwest::Client,
    policy: CallPolicy,
    metrics: Metrics,
    /// Where calls go over mutual TLS: each upstream then gets a client of its own, which
    /// accepts only that service's certificate.
    internal_tls: Option<InternalTls>,
}

impl Calls {
    pub fn new(policy: CallPolicy, metrics: Metrics) -> Self {
        Self {
            http: transport::client_with(policy.timeout, policy.connect_timeout),
            policy,
            metrics,
            internal_tls: None,
        }
    }

    /// Makes every call over mutual TLS with `tls`, whatever scheme the URLs name.
    pub fn with_internal_tls(mut self, tls: Option<InternalTls>) -> Self {
        self.internal_tls = tls;
        self
    }

    /// The service `service` at `base_url`. With mutual TLS, the call goes over HTTPS and
    /// the server must prove to be `service`; a configuration that cannot do that panics
    /// at start, never mid-call.
    pub fn upstream(&self, service: &'static str, base_url: &str) -> Upstream {
        let (http, base_url) = match &self.internal_tls {
            None => (self.http.clone(), base_url.to_owned()),
            Some(tls) => {
                let config = tls.client_config(service).unwrap_or_else(|error| {
                    panic!("BUG: a loaded certificate is usable: {error:#}")
                });
                let client = transport::client_with_tls(
                    config,
                    self.policy.timeout,
                    self.policy.connect_timeout,
                );
                (client, crate::serving::internal_tls::https(base_url))
            }
        };
        let base_url = base_url.as_str();
        self.metrics
            .set_breaker_state(service, BreakerState::Closed.as_gauge());
        Upstream {
            service,
            base_url: base_url.trim_end_matches('/').into(),
            base: reqwest::Url::parse(base_url)
                .ok()
                .filter(|url| !url.cannot_be_a_base()),
            http,
            signer: None,
            guard: Arc::new(Guard::new(&self.policy)),
            shows_breaker: true,
            policy: self.policy,
            metrics: self.metrics.clone(),
        }
    }
}

/// The protections of one upstream, shared by all clones of its [`Upstream`].
#[derive(Debug)]
struct Guard {
    breaker: CircuitBreaker,
    budget: RetryBudget,
    in_flight: Semaphore,
}

impl Guard {
    fn new(policy: &CallPolicy) -> Self {
        Self {
            breaker: CircuitBreaker::new(policy),
            budget: RetryBudget::new(policy.retry_ratio),
            in_flight: Semaphore::new(policy.max_concurrent.max(1)),
        }
    }
}

/// A service this process calls, by name and base URL.
#[derive(Clone)]
pub struct Upstream {
    service: &'static str,
    base_url: Arc<str>,
    /// `base_url` parsed once: a URL parsed per call ran the host through IDNA processing
    /// every time (issue 14). `None` if it does not parse; each call then fails as before.
    base: Option<reqwest::Url>,
    http: reqwest::Client,
    signer: Option<CallSigner>,
    guard: Arc<Guard>,
    /// Whether this upstream's breaker is the one `/metrics` shows (see
    /// [`Upstream::guarded_apart`]).
    shows_breaker: bool,
    policy: CallPolicy,
    metrics: Metrics,
}

/// A request about to be sent to an [`Upstream`]: its token is made when it is sent, for
/// its final method, target and body.
pub struct Outgoing {
    builder: reqwest::RequestBuilder,
    /// Whom the token speaks for: another actor, or (`None`) the calling process itself.
    acting_for: Option<Actor>,
}

impl Outgoing {
    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.json(body))
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|builder| builder.body(body))
    }

    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        http::HeaderName: TryFrom<K>,
        <http::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        http::HeaderValue: TryFrom<V>,
        <http::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|builder| builder.header(name, value))
    }

    fn map(self, change: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self {
            builder: change(self.builder),
            acting_for: self.acting_for,
        }
    }
}

/// The URL of `path_and_query` (such as `/products/7?x=1`) under `base`, as parsing
/// `base` followed by it would give, without parsing the host again.
fn url_at(base: &reqwest::Url, path_and_query: &str) -> reqwest::Url {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut url = base.clone();
    match base.path().trim_end_matches('/') {
        "" => url.set_path(path),
        prefix => url.set_path(&format!("{prefix}{path}")),
    }
    url.set_query(query);
    url
}

impl Upstream {
    /// Signs every call with an identity token for this upstream, minted by `signer`.
    pub fn signed_by(mut self, signer: CallSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The same service with a breaker, retry budget and limit of its own, for background
    /// calls (such as collecting a service's refusals) that must not open the breaker of
    /// the requests clients wait on, nor be short-circuited by it. Its breaker is not the
    /// one `/metrics` shows.
    pub fn guarded_apart(&self) -> Self {
        Self {
            guard: Arc::new(Guard::new(&self.policy)),
            shows_breaker: false,
            ..self.clone()
        }
    }

    /// A request to `path` carrying the current request id, in which this process speaks
    /// for itself.
    pub fn request(&self, method: Method, path: &str) -> Outgoing {
        self.outgoing(method, path, None)
    }

    /// A request to `path` in which this process vouches for another actor, such as the
    /// gateway forwarding a logged-in user's request.
    pub fn request_acting_for(&self, method: Method, path: &str, actor: &Actor) -> Outgoing {
        self.outgoing(method, path, Some(actor.clone()))
    }

    fn outgoing(&self, method: Method, path: &str, acting_for: Option<Actor>) -> Outgoing {
        let mut builder = match &self.base {
            Some(base) => self.http.request(method, url_at(base, path)),
            None => self
                .http
                .request(method, format!("{}{path}", self.base_url)),
        };
        if let Some(id) = request_id::current() {
            builder = builder.header(&X_REQUEST_ID, id);
        }
        if let Some(traceparent) = crate::observing::trace::outgoing_header() {
            builder = builder.header(&crate::observing::trace::TRACEPARENT, traceparent);
        }
        Outgoing {
            builder,
            acting_for,
        }
    }

    /// Puts on `request` a token made for it alone: its method, target and body, and a
    /// fresh id, so every attempt of a repeated call carries its own.
    fn sign(
        &self,
        request: &mut reqwest::Request,
        acting_for: Option<&Actor>,
    ) -> Result<(), UpstreamError> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        let invalid = || UpstreamError::Invalid {
            service: self.service,
        };
        // Every body we send is in memory; a streamed one could not be digested.
        let body = match request.body() {
            None => &[][..],
            Some(body) => body.as_bytes().ok_or_else(invalid)?,
        };
        let target = target_of_url(request.url());
        let bound = Bound {
            method: request.method(),
            target: &target,
            body,
        };
        let token = match acting_for {
            Some(actor) => signer.token(self.service, actor, &bound),
            None => signer.own_token(self.service, &bound),
        };
        if let Some(token) = token {
            let value = http::HeaderValue::try_from(token).map_err(|_| invalid())?;
            request.headers_mut().insert(TOKEN_HEADER, value);
        }
        Ok(())
    }

    /// Sends a request through the guard; any answer with a status is returned, transport
    /// failures are mapped. Requests with an idempotent method are retried.
    pub async fn send(&self, request: Outgoing) -> Result<reqwest::Response, UpstreamError> {
        self.send_guarded(request, None).await
    }

    /// Like [`Self::send`], for a request that is safe to repeat whatever its method (the
    /// callee deduplicates it, as product-service does reservations by order id).
    pub async fn send_idempotent(
        &self,
        request: Outgoing,
    ) -> Result<reqwest::Response, UpstreamError> {
        self.send_guarded(request, Some(true)).await
    }

    /// One attempt, outside breaker and budget: for readiness checks, which must report
    /// the upstream as it is, not as the breaker last saw it.
    pub async fn probe(&self, path: &str) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self.build(self.request(Method::GET, path).builder)?;
        self.sign(&mut request, None)?;
        self.http
            .execute(request)
            .await
            .map_err(|error| UpstreamError::from_transport(self.service, &error))
    }

    fn build(&self, builder: reqwest::RequestBuilder) -> Result<reqwest::Request, UpstreamError> {
        builder.build().map_err(|_| UpstreamError::Invalid {
            service: self.service,
        })
    }

    async fn send_guarded(
        &self,
        request: Outgoing,
        idempotent: Option<bool>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let started = tokio::time::Instant::now();
        let result = self.call(request, idempotent).await;
        let outcome = match &result {
            Ok(response) if is_overloaded(response.status()) && !blames_another(response) => {
                CallOutcome::Overloaded
            }
            Ok(_) => CallOutcome::Answered,
            Err(error) => outcome(error),
        };
        self.metrics.record_call(self.service, outcome);
        if !matches!(outcome, CallOutcome::ShortCircuited | CallOutcome::Shed) {
            self.metrics
                .record_call_latency(self.service, started.elapsed().as_secs_f64());
        }
        result
    }

    async fn call(
        &self,
        outgoing: Outgoing,
        idempotent: Option<bool>,
    ) -> Result<reqwest::Response, UpstreamError> {
        let Ok(_permit) = self.guard.in_flight.try_acquire() else {
            return Err(self.refused(Refusal::Shed, Duration::from_secs(1)));
        };
        let acting_for = outgoing.acting_for;
        let mut request = self.build(outgoing.builder)?;
        let retryable = idempotent.unwrap_or_else(|| request.method().is_idempotent());
        let started = tokio::time::Instant::now();
        let deadline = started + self.policy.timeout;
        self.guard.budget.deposit();
        let mut attempt = 0;
        loop {
            if let Admission::Refused(retry_after) = self.guard.breaker.admit() {
                self.report_breaker();
                return Err(self.refused(Refusal::BreakerOpen, retry_after));
            }
            // The body is in memory for every call we make; a streamed one cannot be
            // repeated, and is sent once.
            let again = if retryable { request.try_clone() } else { None };
            self.sign(&mut request, acting_for.as_ref())?;
            *request.timeout_mut() =
                Some(deadline.saturating_duration_since(tokio::time::Instant::now()));
            let attempt_started = tokio::time::Instant::now();
            let result = self
                .http
                .execute(request)
                .await
                .map_err(|error| UpstreamError::from_transport(self.service, &error));
            // An answer that blames one of the callee's own upstreams says the callee is
            // well: it neither counts against it nor is repeated (the same upstream would be
            // asked again, by a service that already retried it).
            let failed = match &result {
                Ok(response) => response.status().is_server_error() && !blames_another(response),
                Err(_) => true,
            };
            self.breaker_result(!failed);
            let worth_repeating = match &result {
                Ok(response) => {
                    matches!(
                        response.status(),
                        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE
                    ) && !blames_another(response)
                }
                Err(UpstreamError::Unavailable { .. }) => true,
                Err(_) => false,
            };
            attempt += 1;
            let Some(next) = again.filter(|_| worth_repeating && attempt <= self.policy.retries)
            else {
                return result;
            };
            let wait = self.policy.backoff_before(attempt);
            // Retry only when another attempt as long as this one still fits in the
            // deadline: an upstream that took seconds to refuse would otherwise turn a
            // clear 503 into a 504.
            let now = tokio::time::Instant::now();
            if now + wait + (now - attempt_started) >= deadline {
                return result;
            }
            let allowed = self.guard.budget.withdraw();
            self.metrics.record_retry(self.service, allowed);
            if !allowed {
                return result;
            }
            tokio::time::sleep(wait).await;
            request = next;
        }
    }

    fn refused(&self, reason: Refusal, retry_after: Duration) -> UpstreamError {
        UpstreamError::Refused {
            service: self.service,
            reason,
            retry_after,
        }
    }

    fn breaker_result(&self, success: bool) {
        match self.guard.breaker.record(success) {
            Transition::None => {}
            Transition::Opened => {
                if self.shows_breaker {
                    self.metrics.record_breaker_opened(self.service);
                }
                tracing::warn!(upstream = self.service, "circuit breaker opened");
            }
            Transition::Closed => {
                tracing::info!(upstream = self.service, "circuit breaker closed");
            }
        }
        self.report_breaker();
    }

    fn report_breaker(&self) {
        if self.shows_breaker {
            self.metrics
                .set_breaker_state(self.service, self.guard.breaker.state().as_gauge());
        }
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

/// Whether an answer reports the failure of one of the callee's own upstreams.
fn blames_another(response: &reqwest::Response) -> bool {
    response.headers().contains_key(FAILED_UPSTREAM)
}

fn is_overloaded(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

/// How a failed call is counted.
fn outcome(error: &UpstreamError) -> CallOutcome {
    match error {
        UpstreamError::Unavailable { .. } => CallOutcome::Unavailable,
        UpstreamError::Timeout { .. } => CallOutcome::Timeout,
        UpstreamError::Refused {
            reason: Refusal::Shed,
            ..
        } => CallOutcome::Shed,
        UpstreamError::Refused {
            reason: Refusal::BreakerOpen,
            ..
        } => CallOutcome::ShortCircuited,
        UpstreamError::Status { .. } | UpstreamError::Invalid { .. } => CallOutcome::Answered,
    }
}

#[cfg(test)]
mod tests {
    use super::url_at;

    #[test]
    fn a_path_under_a_parsed_base_is_the_url_parsing_both_would_give() {
        for base in [
            "http://127.0.0.1:5002",
            "http://users:5001/",
            "http://[::1]:5003",
            "http://gateway.example:8080/prefix",
        ] {
            let parsed = reqwest::Url::parse(base).expect("a base URL");
            for path in [
                "/products/7",
                "/products?limit=20&q=a%20b",
                "/products?",
                "/products/%2e%2e/users/1",
                "/a/../b/./c",
                "/search?q=\u{e9}t\u{e9}&x=<y>",
                "/\u{fc}ber/x y",
            ] {
                let expected =
                    reqwest::Url::parse(&format!("{}{path}", base.trim_end_matches('/')))
                        .expect("the joined URL");
                assert_eq!(url_at(&parsed, path), expected, "{base} + {path}");
            }
        }
    }
}
