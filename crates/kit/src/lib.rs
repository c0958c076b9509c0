//! The shared service kit: mechanisms every msa-shop service needs, and no business rules.
//!
//! It is grouped by concern, one folder each:
//! - [`serving`]: the common request stack ([`serving::http::layers`]), the server and its
//!   shutdown, health probes, TLS, paging, detached tasks;
//! - [`calling`]: calls to other services, with deadlines, retries, breakers and limits
//!   ([`calling::client::Upstream`]);
//! - [`identity`]: the signed identity token every request carries, and the caller it names
//!   ([`identity::Caller`]);
//! - [`observing`]: logs, metrics, traces and request ids;
//! - [`storing`]: the database pool and its migrations ([`storing::db::open`]).
//!
//! A request into any service passes the same stack: a request id is taken or minted, the
//! request is logged, panics and timeouts become RFC 9457 problems ([`problem`]), and any
//! error response that is not yet a problem is turned into one ([`error`]), so that clients
//! see one error format everywhere.

pub mod calling;
pub mod error;
pub mod files;
pub mod hex;
pub mod identity;
pub mod observing;
pub mod problem;
pub mod serving;
pub mod storing;
pub mod time;
pub mod whole_number;

pub use error::{ApiError, ApiResult};
pub use problem::Problem;
