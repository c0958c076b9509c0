//! Serving requests: the common stack every service's routes sit in ([`http`]), with the
//! request body read first ([`body`]) and each client's share ([`clients`]); the server
//! that binds, serves and drains ([`server`], [`shutdown`]) on connections held to bounded
//! waits ([`listener`], [`activity`]); the health probes ([`health`]),
//! HTTPS ([`tls`]), list paging ([`pagination`]) and work that outlives its request
//! ([`task`]).

pub mod activity;
pub mod body;
pub mod clients;
pub mod cookies;
pub mod handle;
pub mod health;
pub mod http;
pub mod internal_tls;
pub mod listener;
pub mod options;
pub mod pagination;
pub mod server;
pub mod shutdown;
pub mod task;
pub mod tls;
