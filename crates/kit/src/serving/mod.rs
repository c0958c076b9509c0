//! Serving requests: the common stack every service's routes sit in ([`http`]), the server
//! that binds, serves and drains ([`server`], [`shutdown`]), the health probes ([`health`]),
//! HTTPS ([`tls`]), list paging ([`pagination`]) and work that outlives its request
//! ([`task`]).

pub mod health;
pub mod http;
pub mod options;
pub mod pagination;
pub mod server;
pub mod shutdown;
pub mod task;
pub mod tls;
