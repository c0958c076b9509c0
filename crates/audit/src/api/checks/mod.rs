//! The checks, one module per concern; each returns its verdicts filed under OWASP items.

pub mod authentication;
pub mod functions;
pub mod injection;
pub mod inventory;
pub mod objects;
pub mod properties;
pub mod transport;

use super::target::Exchange;

/// An answer that grants what was asked: any 2xx.
pub fn granted(exchange: &Exchange) -> bool {
    exchange.is_success()
}

/// An answer that shows the server broke or hung: a 5xx, or no answer at all.
pub fn broke(exchange: &Exchange) -> bool {
    exchange.is_server_error() || exchange.status.is_none()
}
