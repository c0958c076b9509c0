//! Metrics in the Prometheus (OpenMetrics) text format, one registry per service.
//!
//! Every service measures the same things through the common stack: requests by route,
//! method and status, their latency, requests in flight and those shed under overload, and
//! the outcome of every call it makes to another service (with its circuit breaker's
//! state). A service adds its own business counters with [`Metrics::counter`] and gauges
//! read at scrape time with [`Metrics::on_scrape`].
//!
//! A registry per service, not one per process: the test harness runs all four services in
//! one process, and each must still report only itself.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::response::{IntoResponse, Response};
use http::{Method, header};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: from a cached read (~1 ms) to the request timeout (30 s).
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    /// The route template (`/orders/{id}`), never the raw path: ids in a label would make
    /// one series per object.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    upstream: &'static str,
    outcome: &'static str,
}

/// The outcome of one call to another service, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// An answer arrived (whatever its status).
    Answered,
    /// The upstream answered 503/504: it is alive but cannot serve.
    Overloaded,
    Timeout,
    /// No connection could be made.
    Unavailable,
    /// Not sent: the circuit breaker is open.
    ShortCircuited,
    /// Not sent: too many calls to this upstream are already in flight.
    Shed,
}

impl CallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::ShortCircuited => "short_circuited",
            Self::Shed => "shed",
        }
    }
}

type Refresh = Box<dyn Fn() + Send + Sync>;

struct Inner {
    registry: Mutex<Registry>,
    refreshers: Mutex<Vec<Refresh>>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    in_flight: Gauge,
    shed: Counter,
    calls: Family<OutcomeLabels, Counter>,
    call_latency: Family<UpstreamLabels, Histogram>,
    retries: Family<UpstreamLabels, Counter>,
    retries_denied: Family<UpstreamLabels, Counter>,
    breaker_state: Family<UpstreamLabels, Gauge>,
    breaker_opened: Family<UpstreamLabels, Counter>,
}

/// A service's metrics; cheap to clone (the clones share the registry).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Metrics {
    /// A registry whose series all carry `service="<service>"` and the `msa_` prefix.
    pub fn new(service: &'static str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "msa",
            [(Cow::Borrowed("service"), Cow::Borrowed(service))].into_iter(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        let in_flight = Gauge::default();
        let shed = Counter::default();
        let calls = Family::<OutcomeLabels, Counter>::default();
        let call_latency = Family::<UpstreamLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        let retries = Family::<UpstreamLabels, Counter>::default();
        let retries_denied = Family::<UpstreamLabels, Counter>::default();
        let breaker_state = Family::<UpstreamLabels, Gauge>::default();
        let breaker_opened = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route template, method and status",
            latency.clone(),
        );
        registry.register(
            "http_requests_in_flight",
            "Requests being served now",
            in_flight.clone(),
        );
        registry.register(
            "http_requests_shed",
            "Requests refused with 503 because too many were in flight",
            shed.clone(),
        );
        registry.register(
            "upstream_calls",
            "Calls to other services, by upstream and outcome",
            calls.clone(),
        );
        registry.register(
            "upstream_call_duration_seconds",
            "Time of calls to other services that were sent, retries included",
            call_latency.clone(),
        );
        registry.register(
            "upstream_retries",
            "Calls to other services sent again after a failure",
            retries.clone(),
        );
        registry.register(
            "upstream_retries_denied",
            "Retries not made because the retry budget was spent",
            retries_denied.clone(),
        );
        registry.register(
            "circuit_breaker_state",
            "State of the circuit breaker per upstream: 0 closed, 1 half-open, 2 open",
            breaker_state.clone(),
        );
        registry.register(
            "circuit_breaker_opened",
            "Times the circuit breaker of an upstream opened",
            breaker_opened.clone(),
        );
        Self(Arc::new(Inner {
            registry: Mutex::new(registry),
            refreshers: Mutex::new(Vec::new()),
            requests,
            latency,
            in_flight,
            shed,
            calls,
            call_latency,
            retries,
            retries_denied,
            breaker_state,
            breaker_opened,
        }))
    }

    /// Registers a business counter (`msa_<name>_total`), such as orders placed.
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.registry().register(name, help, counter.clone());
        counter
    }

    /// Registers a counter family with one label, such as reservations by outcome.
    pub fn labelled_counter(&self, name: &str, help: &str) -> LabelledCounter {
        let family = Family::<[(&'static str, &'static str); 1], Counter>::default();
        self.registry().register(name, help, family.clone());
        LabelledCounter(family)
    }

    /// Registers a gauge whose value `read` gives at every scrape, such as pool usage.
    pub fn gauge_on_scrape(
        &self,
        name: &str,
        help: &str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) {
        let gauge: Gauge = Gauge::default();
        self.registry().register(name, help, gauge.clone());
        self.on_scrape(move || {
            gauge.set(read());
        });
    }

    /// Runs `refresh` before every scrape.
    pub fn on_scrape(&self, refresh: impl Fn() + Send + Sync + 'static) {
        self.0
            .refreshers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::new(refresh));
    }

    /// The pool's open and idle connections and its maximum, read at each scrape.
    pub fn database_pool(&self, pool: &crate::storing::db::Pool) {
        let max = i64::from(pool.options().get_max_connections());
        let (open, idle) = (pool.clone(), pool.clone());
        self.gauge_on_scrape(
            "db_pool_connections_max",
            "Connections the database pool may open",
            move || max,
        );
        self.gauge_on_scrape(
            "db_pool_connections_open",
            "Connections the database pool holds open",
            move || i64::from(open.size()),
        );
        self.gauge_on_scrape(
            "db_pool_connections_idle",
            "Open connections of the database pool not in use",
            move || i64::try_from(idle.num_idle()).unwrap_or(i64::MAX),
        );
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.0
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        for refresh in self
            .0
            .refreshers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            refresh();
        }
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry());
        text
    }

    pub fn record_call(&self, upstream: &'static str, outcome: CallOutcome) {
        self.0
            .calls
            .get_or_create(&OutcomeLabels {
                upstream,
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub fn record_call_latency(&self, upstream: &'static str, seconds: f64) {
        self.0
            .call_latency
            .get_or_create(&UpstreamLabels { upstream })
            .observe(seconds);
    }

    pub fn record_retry(&self, upstream: &'static str, allowed: bool) {
        let family = if allowed {
            &self.0.retries
        } else {
            &self.0.retries_denied
        };
        family.get_or_create(&UpstreamLabels { upstream }).inc();
    }

    pub fn set_breaker_state(&self, upstream: &'static str, state: i64) {
        self.0
            .breaker_state
            .get_or_create(&UpstreamLabels { upstream })
            .set(state);
    }

    pub fn record_breaker_opened(&self, upstream: &'static str) {
        self.0
            .breaker_opened
            .get_or_create(&UpstreamLabels { upstream })
            .inc();
    }

    pub fn record_shed(&self) {
        self.0.shed.inc();
    }

    /// `GET /metrics`, for a router whose every request may read it (the services on the
    /// private network; the gateway guards its own).
    pub fn route(&self) -> Router {
        Router::new().route(
            "/metrics",
            axum::routing::get(serve).with_state(self.clone()),
        )
    }

    /// Middleware: counts and times every request, whatever answers it.
    pub async fn track<F: Future<Output = Response>>(
        &self,
        request: Request,
        next: impl FnOnce(Request) -> F,
    ) -> Response {
        let metrics = self;
        let method = method_label(request.method());
        let started = Instant::now();
        metrics.0.in_flight.inc();
        let in_flight = InFlight(metrics.0.in_flight.clone());
        let response = next(request).await;
        drop(in_flight);
        let route = response
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str)
            .to_owned();
        let labels = RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        };
        metrics
            .0
            .latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        metrics.0.requests.get_or_create(&labels).inc();
        response
    }
}

/// Where the router notes the route template a request matched, for the layers outside
/// the router: they put it on the response, where [`Metrics::track`] reads it.
#[derive(Clone, Default)]
pub struct RouteSlot(Arc<OnceLock<MatchedPath>>);

impl RouteSlot {
    pub fn take(&self) -> Option<MatchedPath> {
        self.0.get().cloned()
    }
}

/// Handlers' route templates are known only after routing, inside the router: as a route
/// layer, this notes the template in the request's [`RouteSlot`]. A plain function, so
/// that the layer adds no future of its own to every request.
pub fn note_route(request: Request) -> Request {
    if let (Some(slot), Some(route)) = (
        request.extensions().get::<RouteSlot>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        // Only the first (outermost) router's note counts; a nested one names the same route.
        let _ = slot.0.set(route.clone());
    }
    request
}

/// Decrements the in-flight gauge even when the request's future is dropped.
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A fixed set of names: a client's invented methods must not create series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub async fn serve(State(metrics): State<Metrics>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
}

/// A counter family with one label whose values the code names, never the input.
#[derive(Clone)]
pub struct LabelledCounter(Family<[(&'static str, &'static str); 1], Counter>);

impl LabelledCounter {
    pub fn inc(&self, label: &'static str, value: &'static str) {
        self.0.get_or_create(&[(label, value)]).inc();
    }

    pub fn inc_by(&self, label: &'static str, value: &'static str, count: u64) {
        self.0.get_or_create(&[(label, value)]).inc_by(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_the_service_and_prefix() {
        let metrics = Metrics::new("orders");
        metrics.counter("orders_placed", "Orders confirmed").inc();
        metrics.record_call("products", CallOutcome::Timeout);
        metrics.set_breaker_state("products", 2);
        let text = metrics.render();
        assert!(
            text.contains("msa_orders_placed_total{service=\"orders\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "msa_upstream_calls_total{service=\"orders\",upstream=\"products\",outcome=\"timeout\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("msa_circuit_breaker_state{service=\"orders\",upstream=\"products\"} 2"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn invented_methods_share_one_label() {
        let odd = Method::from_bytes(b"BREW").unwrap_or(Method::GET);
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }
}
