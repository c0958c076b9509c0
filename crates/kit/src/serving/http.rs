//! The middleware stack every server uses, built in one place so its order is visible.
//!
//! Outermost first:
//! 0. trace: the request joins its caller's trace (W3C `traceparent`) or starts one;
//! 1. request id: established before anything can fail, so every answer carries it;
//! 2. metrics: every answer is counted and timed, by route template, method and status;
//! 3. per-client share: where clients connect directly, one address with too many requests
//!    in flight is refused with 429 ([`crate::serving::clients`]);
//! 4. body: the whole body is read, within its deadline, before anything else happens
//!    ([`crate::serving::body`]): a slow client waits outside admission, and every answer
//!    leaves its connection usable;
//! 5. admission: beyond [`Serving::max_in_flight`] requests in flight, new ones are refused
//!    at once with 503 and `Retry-After` (load shedding: a queue would only add latency);
//! 6. error normalisation: any 4xx/5xx that is not yet problem+json becomes one (axum's
//!    own rejections, 404/405 from routing, 408 from the timeout, 413 from the body limit);
//! 7. header limit: headers larger than [`MAX_HEADER_BYTES`] in all are refused with 431
//!    before any handler parses them;
//! 8. catch-panic: a bug answers an opaque 500 instead of dropping the connection;
//! 9. request timeout: no request holds a connection forever;
//! 10. identity: in every service but the gateway, a request without a valid identity token
//!     is refused before routing ([`crate::identity::Gate`]), whatever its path;
//! 11. body limit: nothing larger than [`MAX_BODY_BYTES`] is read.
//!
//! Inside the router, on the matched routes only, the route template is noted for the
//! metrics and the trace.
//!
//! Around all of them, [`security_headers`] marks every answer, errors included.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tower::Layer as _;

use tokio::sync::Semaphore;

use crate::observing::metrics::{LabelledCounter, Metrics};
use crate::observing::request_id;
use crate::observing::trace::Tracer;
use crate::problem::{PROBLEM_JSON, Problem};
use crate::serving::body::MAX_BODY_BYTES;
use crate::serving::listener::MAX_HEADER_BYTES;

/// How a service takes load, how it stops, and where its traces go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serving {
    /// Requests served at once; more are shed with 503.
    pub max_in_flight: usize,
    /// How long a stopping service goes on serving, already reporting itself not ready,
    /// before it closes its listener: the time a load balancer or Kubernetes needs to stop
    /// sending it new requests.
    pub shutdown_delay: Duration,
    /// An OpenTelemetry collector's OTLP/HTTP base URL (such as `http://collector:4318`);
    /// without one, spans are neither recorded nor sent.
    pub otlp_endpoint: Option<String>,
    /// Timeouts and connection caps.
    pub connections: crate::serving::listener::ConnectionLimits,
}

/// The default of [`Serving::max_in_flight`]: far above what 2 cores serve at a useful
/// latency, low enough that memory stays bounded under a flood.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// One service's context for the common stack and its server: its name, metrics, limits,
/// and whether it is draining (then `/readyz` says so).
#[derive(Clone)]
pub struct Stack {
    pub service: &'static str,
    pub metrics: Metrics,
    pub serving: Serving,
    pub draining: tokio_util::sync::CancellationToken,
    pub tracer: Tracer,
    /// Whether clients connect to it directly (the gateway): then each client address is
    /// held to its share of connections and requests.
    pub faces_clients: bool,
    /// Connections and requests refused at a cap, by reason.
    pub refused: LabelledCounter,
}

impl Stack {
    /// Must run inside the Tokio runtime: with an OTLP endpoint, it starts the exporter.
    pub fn new(service: &'static str, serving: Serving) -> Self {
        let metrics = Metrics::new(service);
        let tracer = Tracer::new(service, serving.otlp_endpoint.as_deref(), &metrics);
        let refused = metrics.labelled_counter(
            "refused_at_capacity",
            "Connections and requests refused at a server or per-client cap, by reason",
        );
        Self {
            service,
            metrics,
            serving,
            draining: tokio_util::sync::CancellationToken::new(),
            tracer,
            faces_clients: false,
            refused,
        }
    }

    /// The stack of a service that faces clients: it starts a new trace for every request
    /// rather than join one a client names, and holds each client address to its share.
    pub fn at_edge(mut self) -> Self {
        self.tracer = self.tracer.at_edge();
        self.faces_clients = true;
        self
    }
}

/// How long a request may take before it is answered with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A service's whole application: its documented API routes, `/healthz` and `/readyz`,
/// `/openapi.json` generated from the API routes, all inside the common stack, and behind
/// `gate`, which refuses every request without a valid identity token but the probes.
pub fn service(
    api: utoipa_axum::router::OpenApiRouter,
    readiness: crate::serving::health::Readiness,
    title: &str,
    gate: crate::identity::Gate,
    stack: &Stack,
) -> Router {
    let (api, openapi) = api
        .merge(crate::identity::refusals::routes(gate.refusals()))
        .split_for_parts();
    let routes = api
        .merge(crate::serving::health::routes(
            readiness,
            stack.draining.clone(),
        ))
        .merge(openapi_route(openapi, title))
        .merge(stack.metrics.route());
    stacked(routes, stack, Some(gate))
}

/// Wraps a service's routes in the common stack.
pub fn layers(router: Router, stack: &Stack) -> Router {
    stacked(router, stack, None)
}

/// The common stack is one service around the router, and one future per request.
///
/// Built from tower layers and `from_fn` middleware, each layer boxed its own future and
/// wrapped (and cloned) the rest of the stack on every request: twelve allocations and
/// deep copies before a handler ran, in every service a request crosses (issue 14,
/// docs/benchmarks.md). Here each step is an async function handed the next one as a
/// closure, so the compiler nests them into one state machine, boxed once.
fn stacked(router: Router, stack: &Stack, gate: Option<crate::identity::Gate>) -> Router {
    let common = Common {
        steps: Arc::new(Steps {
            tracer: stack.tracer.clone(),
            metrics: stack.metrics.clone(),
            refused: stack.refused.clone(),
            reading: crate::serving::body::Reading::new(
                stack.serving.connections.body_timeout,
                stack.serving.connections.body_memory,
            ),
            permits: Semaphore::new(stack.serving.max_in_flight.max(1)),
            gate,
        }),
        router: router.route_layer(tower::util::MapRequestLayer::new(
            crate::observing::metrics::note_route as fn(Request) -> Request,
        )),
    };
    Router::new().fallback_service(common)
}

#[derive(Clone)]
struct Common {
    steps: Arc<Steps>,
    router: Router,
}

/// What the steps of the common stack share between requests.
struct Steps {
    tracer: Tracer,
    metrics: Metrics,
    refused: LabelledCounter,
    reading: crate::serving::body::Reading,
    /// Requests admitted at once ([`Serving::max_in_flight`]); the steps are shared in
    /// one `Arc`, so the permits need none of their own.
    permits: Semaphore,
    /// Where requests need an identity token (every service but the gateway).
    gate: Option<crate::identity::Gate>,
}

impl tower::Service<Request> for Common {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let steps = self.steps.clone();
        let router = self.router.clone();
        Box::pin(async move { Ok(steps.serve(request, router).await) })
    }
}

impl Steps {
    /// Outermost first, as the module's documentation lists them.
    async fn serve(&self, request: Request, router: Router) -> Response {
        security_headers(request, |request| {
            self.tracer.layer(request, |request, trace_id| {
                request_id::layer(request, trace_id, |request| {
                    self.metrics.track(request, |request| {
                        crate::serving::clients::limit_requests(&self.refused, request, |request| {
                            crate::serving::body::read_body(&self.reading, request, |request| {
                                self.admit(request, |request| {
                                    normalize_errors(request, |request| {
                                        limit_headers(request, |request| {
                                            self.route(request, router)
                                        })
                                    })
                                })
                            })
                        })
                    })
                })
            })
        })
        .await
    }

    /// The innermost steps: a panic answers an opaque 500, a request past
    /// [`REQUEST_TIMEOUT`] 408, the identity token is checked where one is needed, and the
    /// route taken is put on the answer.
    async fn route(&self, mut request: Request, router: Router) -> Response {
        use futures::FutureExt as _;
        use tower::ServiceExt as _;
        let slot = crate::observing::metrics::RouteSlot::default();
        request.extensions_mut().insert(slot.clone());
        let routed = async move {
            if let Some(gate) = &self.gate {
                request = match gate.admit(request).await {
                    Ok(admitted) => admitted,
                    Err(refusal) => return refusal.into_response(),
                };
            }
            match DefaultBodyLimit::max(MAX_BODY_BYTES)
                .layer(router)
                .oneshot(request)
                .await
            {
                Ok(response) => response,
                Err(never) => match never {},
            }
        };
        let answered = tokio::time::timeout(
            REQUEST_TIMEOUT,
            std::panic::AssertUnwindSafe(routed).catch_unwind(),
        )
        .await;
        let mut response = match answered {
            Ok(Ok(response)) => response,
            Ok(Err(panic)) => panic_to_problem(panic),
            Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
        };
        if let Some(route) = slot.take() {
            response.extensions_mut().insert(route);
        }
        response
    }

    /// Sheds load: a request beyond the limit is refused at once, so that the ones admitted
    /// keep their latency. Probes and metrics always pass: an overloaded service must still
    /// say so, and be seen.
    async fn admit<F: Future<Output = Response>>(
        &self,
        request: Request,
        next: impl FnOnce(Request) -> F,
    ) -> Response {
        if crate::identity::UNAUTHENTICATED_PATHS.contains(&request.uri().path()) {
            return next(request).await;
        }
        let Ok(permit) = self.permits.try_acquire() else {
            self.metrics.record_shed();
            return Problem::overloaded().into_response();
        };
        let response = next(request).await;
        drop(permit);
        response
    }
}

/// Whether `headers` hold one `Host`, a plain `host[:port]` without user information.
fn one_valid_host(headers: &http::HeaderMap) -> bool {
    let mut hosts = headers.get_all(header::HOST).iter();
    let (Some(host), None) = (hosts.next(), hosts.next()) else {
        return false;
    };
    host.to_str().is_ok_and(|host| {
        !host.is_empty() && !host.contains('@') && host.parse::<http::uri::Authority>().is_ok()
    })
}

/// Refuses requests with oversized headers (hyper's own limit is far higher), and HTTP/1.1
/// requests without exactly one valid `Host` (RFC 9112, 3.2: such a request is answered
/// 400, since proxies and caches on the way may each read another host from it), before
/// any handler parses them.
async fn limit_headers<F: Future<Output = Response>>(
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    if request.version() == http::Version::HTTP_11 && !one_valid_host(request.headers()) {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "An HTTP/1.1 request needs exactly one Host header naming a host (and port).",
        )
        .into_response();
    }
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "The request headers are larger than 16 KiB.",
        )
        .into_response();
    }
    next(request).await
}

/// The policy of an API answer: it is data, never a page to render, frame or run.
pub const API_CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Headers that tell a browser to treat every answer as inert data. A route that serves a
/// page (the API docs, the storefront) sets its own `Content-Security-Policy` and
/// `Referrer-Policy`, which are kept.
async fn security_headers<F: Future<Output = Response>>(
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let mut response = next(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_CONTENT_SECURITY_POLICY));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // No banner: nothing in the stack sets one, and nothing a handler sets survives.
    headers.remove(header::SERVER);
    response
}

fn panic_to_problem(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server failed to answer this request; quote the request id to an operator.",
    )
    .into_response()
}

/// Turns every error answer into problem+json, keeping status and meaningful headers.
async fn normalize_errors<F: Future<Output = Response>>(
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let response = next(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || is_problem(&response)
        || is_page(&response)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let is_text = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    // axum's rejections explain a client's mistake in a short text body; it names the
    // offending field or header and nothing of the server's inside. A 5xx text is never shown.
    let detail = if status.is_client_error() && is_text {
        let text = to_bytes(body, 2048).await.unwrap_or_default();
        let text = without_client_values(String::from_utf8_lossy(&text).trim());
        if text.is_empty() {
            default_detail(status)
        } else {
            text
        }
    } else {
        default_detail(status)
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut problem = Problem::new(status, detail);
    problem.headers = parts.headers;
    problem.into_response()
}

/// A rejection's text without the values the client sent: serde and axum quote them
/// (`invalid type: string "' OR 1=1", expected ...`, ``unknown field `x` ``, ``Cannot parse
/// `abc` ``). An error that echoes input is how injection payloads get reflected, so only
/// the field names and the expected types of our own schema are kept.
pub fn without_client_values(text: &str) -> String {
    let text = text.replace(
        "Failed to deserialize the JSON body into the target type",
        "The JSON body does not match the schema",
    );
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // A quoted value: skip it, escapes included.
                while let Some(inner) = chars.next() {
                    match inner {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                if out.ends_with(' ') {
                    out.pop();
                }
            }
            '`' if quotes_client_value(&out) => {
                for inner in chars.by_ref() {
                    if inner == '`' {
                        break;
                    }
                }
                if out.ends_with(' ') {
                    out.pop();
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether the backtick quote that follows `before` holds what the client sent.
fn quotes_client_value(before: &str) -> bool {
    [
        "unknown field ",
        "unknown variant ",
        "Cannot parse ",
        "duplicate field ",
    ]
    .iter()
    .any(|prefix| before.ends_with(prefix))
        || before
            .rsplit_once("invalid value: ")
            .or_else(|| before.rsplit_once("invalid type: "))
            .is_some_and(|(_, kind)| kind.ends_with(' ') && !kind.trim_end().contains([' ', ',']))
}

/// A page of the storefront: its error pages say what went wrong in the visitor's language,
/// which is what problem+json is to a program.
fn is_page(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"))
}

fn is_problem(response: &Response<Body>) -> bool {
    response.headers().get(header::CONTENT_TYPE) == Some(&HeaderValue::from_static(PROBLEM_JSON))
}

fn default_detail(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "There is no resource at this path.",
        StatusCode::METHOD_NOT_ALLOWED => {
            "This method is not allowed on this resource; the Allow header lists those that are."
        }
        StatusCode::REQUEST_TIMEOUT => "The request took too long to complete.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than 1 MiB.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Send the body as application/json.",
        status if status.is_server_error() => {
            "The server failed to answer this request; quote the request id to an operator."
        }
        _ => "The request could not be processed.",
    }
    .to_owned()
}

/// The `info` block of every msa-shop OpenAPI document. Set explicitly: the default one
/// describes the crate that generated the document, not our API.
pub fn openapi_info(title: &str, description: &str) -> utoipa::openapi::Info {
    utoipa::openapi::InfoBuilder::new()
        .title(title)
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(description))
        .license(Some(utoipa::openapi::License::new("MIT OR Apache-2.0")))
        .build()
}

/// `GET /openapi.json`: the document generated from the handlers' annotations, rendered once.
pub fn openapi_route(mut openapi: utoipa::openapi::OpenApi, title: &str) -> Router {
    openapi.info = openapi_info(
        title,
        "An internal API of msa-shop; only the gateway publishes routes to clients.",
    );
    let mut document =
        serde_json::to_value(&openapi).expect("BUG: a generated OpenAPI document serializes");
    document_problems(&mut document);
    let body =
        bytes::Bytes::from(serde_json::to_vec(&document).expect("BUG: a JSON value serializes"));
    Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    )
}

/// The headers the stack sets: the request id on every answer, and on a refusal that may
/// pass (429, 503) how long to wait. Each response refers to one description of each.
fn document_headers(status: &str, response: &mut serde_json::Value) {
    use serde_json::json;
    let headers = &mut response["headers"];
    if !headers.is_object() {
        *headers = json!({});
    }
    headers[request_id::X_REQUEST_ID.as_str()] =
        json!({ "$ref": "#/components/headers/RequestId" });
    if matches!(status, "429" | "503" | "4XX" | "5XX") {
        headers["Retry-After"] = json!({ "$ref": "#/components/headers/RetryAfter" });
    }
}

/// The descriptions [`document_headers`] refers to.
fn header_components() -> serde_json::Value {
    serde_json::json!({
        "RequestId": {
            "description": "This request's id; quote it to an operator. One you send (1 to 64 letters, digits, `-`, `_`, `.` or `:`) is kept.",
            "required": true,
            "schema": { "type": "string" }
        },
        "RetryAfter": {
            "description": "Seconds to wait before trying again (on 429 and 503).",
            "schema": { "type": "integer", "minimum": 1 }
        }
    })
}

const OPERATIONS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// States what the stack guarantees for every operation: error answers are problem+json,
/// and every response is described.
/// Documented error responses get that media type, and `4XX`/`5XX` ranges cover the
/// statuses the stack itself answers with (malformed input, 413, 415, 408, outages).
pub fn document_problems(document: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let problem =
        || json!({ PROBLEM_JSON: { "schema": { "$ref": "#/components/schemas/Problem" } } });
    document["components"]["headers"] = header_components();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for (method, operation) in item.iter_mut() {
            if !OPERATIONS.contains(&method.as_str()) {
                continue;
            }
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                document_headers(status, response);
                // OpenAPI requires a description; where the annotation gave none, the
                // status's own name says it.
                let described = response
                    .get("description")
                    .and_then(Value::as_str)
                    .is_some_and(|d| !d.is_empty());
                if !described {
                    let reason = StatusCode::from_bytes(status.as_bytes())
                        .ok()
                        .and_then(|code| code.canonical_reason())
                        .unwrap_or("Response");
                    response["description"] = Value::from(reason);
                }
                if !(status.starts_with('4') || status.starts_with('5')) {
                    continue;
                }
                if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                    && let Some(schema) = content.remove("application/json")
                {
                    content.insert(PROBLEM_JSON.to_owned(), schema);
                }
            }
            for (range, description) in [
                ("4XX", "The request was refused; nothing was changed."),
                (
                    "5XX",
                    "The service or one it depends on failed or is unavailable.",
                ),
            ] {
                responses.entry(range).or_insert_with(|| {
                    let mut response = json!({ "description": description, "content": problem() });
                    document_headers(range, &mut response);
                    response
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_keep_field_names_and_types_but_not_what_the_client_sent() {
        assert_eq!(
            without_client_values(
                r#"Failed to deserialize the JSON body into the target type: scopes: invalid type: string "' OR \"1\"='1", expected a sequence at line 1 column 40"#
            ),
            "The JSON body does not match the schema: scopes: invalid type: string, expected a sequence at line 1 column 40"
        );
        assert_eq!(
            without_client_values(
                "items[0].quantity: invalid value: integer `-5`, expected u32 at line 1 column 9"
            ),
            "items[0].quantity: invalid value: integer, expected u32 at line 1 column 9"
        );
        assert_eq!(
            without_client_values("unknown field `<script>`, expected one of `email`, `name`"),
            "unknown field, expected one of `email`, `name`"
        );
        assert_eq!(
            without_client_values("Invalid URL: Cannot parse `../etc/passwd` to a `u64`"),
            "Invalid URL: Cannot parse to a `u64`"
        );
        assert_eq!(
            without_client_values("Expected request with `Content-Type: application/json`"),
            "Expected request with `Content-Type: application/json`"
        );
    }

    #[test]
    fn a_request_names_exactly_one_plain_host() {
        let with = |values: &[&str]| {
            let mut headers = http::HeaderMap::new();
            for value in values {
                headers.append(
                    header::HOST,
                    HeaderValue::from_str(value).expect("a header value"),
                );
            }
            one_valid_host(&headers)
        };
        assert!(with(&["localhost"]));
        assert!(with(&["shop.example.com:8443"]));
        assert!(with(&["[::1]:8080"]));
        assert!(!with(&[]));
        assert!(!with(&["localhost", "localhost"]));
        assert!(!with(&["user@localhost"]));
        assert!(!with(&["a b"]));
        assert!(!with(&[""]));
        assert!(!with(&["localhost/path"]));
    }
}
