//! The shared service kit: mechanisms every msa-shop service needs, and no business rules.
//!
//! A request into any service passes through the same stack ([`http::layers`]): a request id
//! is taken or minted ([`request_id`]), the request is logged, panics and timeouts become
//! RFC 9457 problems ([`problem`]), and any error response that is not yet a problem is
//! turned into one, so that clients see one error format everywhere. Handlers read the
//! caller from one extractor ([`identity::Caller`]), talk to other services through
//! [`client::Upstream`], and to their own database through a pool opened by [`db::open`].

pub mod client;
pub mod db;
pub mod error;
pub mod files;
pub mod health;
pub mod hex;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod pagination;
pub mod problem;
pub mod request_id;
pub mod resilience;
pub mod server;
pub mod shutdown;
pub mod task;
pub mod telemetry;
pub mod time;
pub mod tls;
pub mod token;
pub mod trace;

pub use error::{ApiError, ApiResult};
pub use problem::Problem;
