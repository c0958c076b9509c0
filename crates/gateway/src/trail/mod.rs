//! The security audit trail: every security event (a failed login, a replayed session, an
//! API key created, ...) is counted in `/metrics`, logged, and
//! kept in the gateway's database for administrators to query
//! (`GET /api/v1/admin/security-events`), bounded in age and in rows.
//!
//! Recording never waits on the database: an event goes into a bounded queue that one task
//! writes out in batches. If the database falls that far behind, events beyond the queue
//! are dropped from the table (never from the counters or the log) and counted as lost.

mod collect;
mod event;
pub mod kind;
mod record;
pub mod routes;
mod store;

pub use collect::run as collect_refusals;
pub use event::Retention;
pub use kind::Kind;
pub use record::Trail;
