//! Seeing what a service does: log set-up ([`telemetry`]) and the writer of its lines
//! ([`log_writer`]), OpenMetrics counters and
//! histograms ([`metrics`]), W3C trace context with OTLP export ([`trace`]), and the
//! request id that ties a request's log lines together ([`request_id`]).

pub mod log_writer;
pub mod metrics;
pub mod request_id;
pub mod telemetry;
pub mod trace;
