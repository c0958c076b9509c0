//! A security event as the trail holds it, and how long the trail holds events.

use super::kind::Kind;

/// How long, and how many, events the table keeps.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub days: u32,
    pub rows: u64,
}

/// One event, as recorded.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: i64,
    pub kind: Kind,
    pub user_id: Option<i64>,
    pub address: Option<String>,
    pub detail: String,
}
