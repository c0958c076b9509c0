//! Distributed tracing with W3C Trace Context: every request runs in a trace, whose id is in
//! every log line of the request and in the `traceparent` of every call it makes, so one
//! order can be followed from the gateway through order-service to the services it calls.
//!
//! Each request is one server span. When an OTLP endpoint is configured, finished spans are
//! batched and sent to it as OTLP/HTTP JSON (`POST <endpoint>/v1/traces`) by a background
//! task, through a bounded queue: a slow or absent collector costs dropped spans (counted),
//! never a slower request. Without an endpoint nothing is recorded or sent.
//!
//! The gateway starts a fresh trace for every request from outside ([`Tracer::at_edge`]):
//! a client's `traceparent` is input like any other and does not get to join or name the
//! shop's traces.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Spans waiting to be exported; beyond this they are dropped.
const QUEUE: usize = 4096;
/// Spans per export request.
const BATCH: usize = 512;
/// How often a partial batch is sent.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The trace position of the work being done: which trace, and which span is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceContext {
    /// Parses a `traceparent` header (version 00, or a later version's first four fields, as
    /// the specification asks); `None` for anything malformed or all-zero.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || !is_lower_hex(version) {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id: [u8; 16] = decode_hex(trace)?;
        let span_id: [u8; 8] = decode_hex(span)?;
        let [flags]: [u8; 1] = decode_hex(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// A new trace, with a new root span.
    pub fn root() -> Self {
        let mut trace_id = [0u8; 16];
        rand::rng().fill_bytes(&mut trace_id);
        Self {
            trace_id,
            span_id: new_span_id(),
            sampled: true,
        }
    }

    /// A child span of this one, in the same trace.
    pub fn child(&self) -> Self {
        Self {
            span_id: new_span_id(),
            ..*self
        }
    }

    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            crate::hex::encode(&self.span_id),
            u8::from(self.sampled)
        )
    }

    pub fn trace_id_hex(&self) -> String {
        crate::hex::encode(&self.trace_id)
    }
}

fn new_span_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    while id == [0; 8] {
        rand::rng().fill_bytes(&mut id);
    }
    id
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !is_lower_hex(text) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// The trace context of the request this task serves, if any.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|context| *context).ok()
}

/// Runs `future` in trace context `context`.
pub async fn scope<F: std::future::Future>(context: TraceContext, future: F) -> F::Output {
    CURRENT.scope(context, future).await
}

/// The `traceparent` for a call made now: the current span is the callee's parent.
pub fn outgoing_header() -> Option<HeaderValue> {
    current().and_then(|context| HeaderValue::from_str(&context.header()).ok())
}

/// A finished server span.
struct SpanRecord {
    context: TraceContext,
    parent: Option<[u8; 8]>,
    name: String,
    method: String,
    route: Option<String>,
    status: u16,
    start: SystemTime,
    end: SystemTime,
}

/// Starts and ends the spans of one service, and hands them to the exporter if any.
#[derive(Clone)]
pub struct Tracer {
    accept_incoming: bool,
    export: Option<mpsc::Sender<SpanRecord>>,
    dropped: Option<prometheus_client::metrics::counter::Counter>,
}

impl Tracer {
    /// A tracer that joins callers' traces, and exports to `otlp_endpoint` if one is given
    /// (such as `http://collector:4318`).
    pub fn new(
        service: &'static str,
        otlp_endpoint: Option<&str>,
        metrics: &crate::observing::metrics::Metrics,
    ) -> Self {
        let (export, dropped) = match otlp_endpoint {
            Some(endpoint) => {
                let (sender, receiver) = mpsc::channel(QUEUE);
                let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
                tokio::spawn(export_loop(service, url, receiver));
                let dropped = metrics.counter(
                    "trace_spans_dropped",
                    "Spans not exported because the export queue was full",
                );
                (Some(sender), Some(dropped))
            }
            None => (None, None),
        };
        Self {
            accept_incoming: true,
            export,
            dropped,
        }
    }

    /// The same tracer for a service at the edge: it never joins a trace a client names.
    pub fn at_edge(mut self) -> Self {
        self.accept_incoming = false;
        self
    }

    fn incoming(&self, request: &Request) -> Option<TraceContext> {
        if !self.accept_incoming {
            return None;
        }
        request
            .headers()
            .get(&TRACEPARENT)
            .and_then(|value| value.to_str().ok())
            .and_then(TraceContext::parse)
    }

    fn record(&self, span: SpanRecord) {
        if let Some(export) = &self.export
            && export.try_send(span).is_err()
            && let Some(dropped) = &self.dropped
        {
            dropped.inc();
        }
    }

    /// Middleware: runs the request in its trace context (a child of the caller's, or a new
    /// trace), and records the span when answered. `next` is handed the trace id for the
    /// log lines, which the request's log span carries
    /// ([`crate::observing::request_id::layer`]): one span per request, not two, each
    /// formatted and allocated on every request.
    pub async fn layer<F: Future<Output = Response>>(
        &self,
        request: Request,
        next: impl FnOnce(Request, String) -> F,
    ) -> Response {
        let tracer = self;
        let parent = tracer.incoming(&request);
        let context = parent.map_or_else(TraceContext::root, |parent| parent.child());
        let method = request.method().clone();
        let start = SystemTime::now();
        let response = CURRENT
            .scope(context, next(request, context.trace_id_hex()))
            .await;
        if context.sampled && tracer.export.is_some() {
            let route = response
                .extensions()
                .get::<MatchedPath>()
                .map(|path| path.as_str().to_owned());
            tracer.record(SpanRecord {
                context,
                parent: parent.map(|parent| parent.span_id),
                name: format!("{method} {}", route.as_deref().unwrap_or("unmatched")),
                method: method.as_str().to_owned(),
                route,
                status: response.status().as_u16(),
                start,
                end: SystemTime::now(),
            });
        }
        response
    }
}

async fn export_loop(service: &'static str, url: String, mut spans: mpsc::Receiver<SpanRecord>) {
    let client = crate::calling::transport::http_client(Duration::from_secs(5));
    let mut batch = Vec::with_capacity(BATCH);
    let mut failures_reported = false;
    loop {
        let flush_at = tokio::time::sleep(FLUSH_EVERY);
        tokio::pin!(flush_at);
        let closed = loop {
            tokio::select! {
                span = spans.recv() => match span {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= BATCH {
                            break false;
                        }
                    }
                    None => break true,
                },
                () = &mut flush_at => break false,
            }
        };
        if !batch.is_empty() {
            let body = otlp_json(service, &batch);
            batch.clear();
            let sent = client.post(&url).json(&body).send().await;
            match sent {
                Ok(response) if response.status().is_success() => failures_reported = false,
                // Said once per outage of the collector, not once per batch.
                Ok(response) if !failures_reported => {
                    failures_reported = true;
                    tracing::warn!(
                        status = response.status().as_u16(),
                        "the OTLP collector refused spans"
                    );
                }
                Err(error) if !failures_reported => {
                    failures_reported = true;
                    tracing::warn!(%error, "the OTLP collector is unreachable; spans are dropped");
                }
                _ => {}
            }
        }
        if closed {
            return;
        }
    }
}

fn unix_nanos(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
        .to_string()
}

/// The OTLP/HTTP JSON encoding of a batch (ids in hex, 64-bit integers as strings).
fn otlp_json(service: &str, spans: &[SpanRecord]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|span| {
            let mut attributes = vec![
                json!({"key": "http.request.method", "value": {"stringValue": span.method}}),
                json!({"key": "http.response.status_code", "value": {"intValue": span.status.to_string()}}),
            ];
            if let Some(route) = &span.route {
                attributes.push(json!({"key": "http.route", "value": {"stringValue": route}}));
            }
            let mut value = json!({
                "traceId": crate::hex::encode(&span.context.trace_id),
                "spanId": crate::hex::encode(&span.context.span_id),
                "name": span.name,
                "kind": 2,
                "startTimeUnixNano": unix_nanos(span.start),
                "endTimeUnixNano": unix_nanos(span.end),
                "attributes": attributes,
                "status": {"code": if span.status >= 500 { 2 } else { 0 }},
            });
            if let Some(parent) = span.parent {
                value["parentSpanId"] = Value::from(crate::hex::encode(&parent));
            }
            value
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": service}},
                {"key": "service.namespace", "value": {"stringValue": "msa-shop"}},
                {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
            ]},
            "scopeSpans": [{"scope": {"name": "msa-shop"}, "spans": spans}],
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = TraceContext::parse(header).expect("valid");
        assert_eq!(context.header(), header);
        assert!(context.sampled);
        let child = context.child();
        assert_eq!(child.trace_id, context.trace_id);
        assert_ne!(child.span_id, context.span_id);
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for header in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(header), None, "{header}");
        }
        // A later version may add fields; its first four are read.
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|context| !context.sampled)
        );
    }

    #[test]
    fn spans_encode_as_otlp_json() {
        let context = TraceContext::root();
        let body = otlp_json(
            "orders",
            &[SpanRecord {
                context,
                parent: Some([1; 8]),
                name: "POST /orders".to_owned(),
                method: "POST".to_owned(),
                route: Some("/orders".to_owned()),
                status: 201,
                start: UNIX_EPOCH + Duration::from_secs(1),
                end: UNIX_EPOCH + Duration::from_secs(2),
            }],
        );
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], context.trace_id_hex());
        assert_eq!(span["parentSpanId"], "0101010101010101");
        assert_eq!(span["startTimeUnixNano"], "1000000000");
        assert_eq!(
            body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "orders"
        );
    }
}
