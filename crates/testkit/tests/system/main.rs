//! System tests: every test starts the real services (see `testkit`) and talks HTTP.

mod api_keys;
mod audit_trail;
mod connections;
mod contract;
mod demo;
mod deprovision;
mod errors;
mod http2_limits;
mod mtls;
mod observability;
mod orders;
mod owasp;
mod platform;
mod products;
mod replay;
mod resilience;
mod sessions;
mod storefront;
mod tls;
mod trust;
mod users;
