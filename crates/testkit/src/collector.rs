//! A stand-in OpenTelemetry collector: accepts OTLP/HTTP JSON on `/v1/traces` and keeps the
//! spans, so tests can check what the services exported and how the spans link up.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::Value;

/// One exported span, flattened with the service that sent it.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
}

#[derive(Clone, Default)]
pub struct Collector {
    addr: Option<SocketAddr>,
    spans: Arc<Mutex<Vec<Span>>>,
}

impl Collector {
    pub async fn start() -> Self {
        let mut collector = Self::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(receive))
            .with_state(collector.spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        collector.addr = Some(listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        collector
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr.expect("started"))
    }

    pub fn spans(&self) -> Vec<Span> {
        self.spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The first span of `service` named `name` (`POST /orders`), if exported yet.
    pub fn find(&self, service: &str, name: &str) -> Option<Span> {
        self.spans()
            .into_iter()
            .find(|span| span.service == service && span.name == name)
    }
}

async fn receive(State(spans): State<Arc<Mutex<Vec<Span>>>>, Json(body): Json<Value>) {
    let mut received = Vec::new();
    for resource in body["resourceSpans"].as_array().into_iter().flatten() {
        let service = resource["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|attribute| attribute["key"] == "service.name")
            .and_then(|attribute| attribute["value"]["stringValue"].as_str())
            .unwrap_or_default()
            .to_owned();
        for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
            for span in scope["spans"].as_array().into_iter().flatten() {
                let text = |key: &str| span[key].as_str().map(str::to_owned);
                received.push(Span {
                    service: service.clone(),
                    name: text("name").unwrap_or_default(),
                    trace_id: text("traceId").unwrap_or_default(),
                    span_id: text("spanId").unwrap_or_default(),
                    parent_span_id: text("parentSpanId"),
                });
            }
        }
    }
    spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(received);
}
