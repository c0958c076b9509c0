//! Calling other services: one pooled HTTP client per process ([`transport`]), and per
//! upstream a guard of deadlines, retries, a circuit breaker and a concurrency cap
//! ([`client`], [`resilience`]), whose failures become problems ([`failure`]).

pub mod client;
pub mod failure;
pub mod options;
pub mod resilience;
pub mod transport;
