//! The security audit trail: every security event (a failed login, a replayed session, an
//! API key created, ...) is counted in `/metrics`, logged, and
//! kept in the gateway's database for administrators to query
//! (`GET /api/v1/admin/security-events`), bounded in age and in rows.
//!
//! Recording never waits on the database: an event goes into a bounded queue that one task
//! writes out in batches. If the database falls that far behind, events beyond the queue
//! are dropped from the table (never from the counters or the log) and counted as lost.

mod event;
pub mod kind;
pub mod routes;
mod store;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kit::observing::metrics::{LabelledCounter, Metrics};
use kit::serving::shutdown::CancellationToken;
use kit::storing::db::Pool;
use tokio::sync::mpsc;

pub use event::{Event, Retention};
pub use kind::Kind;

/// Events waiting for the writer: far more than a burst of failed logins produces between
/// two batches, and small enough (about 200 bytes each) not to matter in memory.
const QUEUE: usize = 4096;
/// The most events one transaction writes.
const BATCH: usize = 256;
/// The most subjects [`Trail::record_once_a_minute`] remembers at once.
const RECENT_SUBJECTS: usize = 10_000;

/// Where the gateway's parts record security events; cheap to clone.
#[derive(Clone)]
pub struct Trail {
    inner: Arc<Inner>,
}

struct Inner {
    queue: mpsc::Sender<Event>,
    /// When each (type, subject) of [`Trail::record_once_a_minute`] was last recorded.
    recent: Mutex<HashMap<(Kind, String), i64>>,
    counted: LabelledCounter,
    lost: LabelledCounter,
}

/// The other end of a [`Trail`]: writes its events to the database ([`Writer::run`]).
pub struct Writer {
    pool: Pool,
    queue: mpsc::Receiver<Event>,
    retention: Retention,
}

impl Trail {
    pub fn new(metrics: &Metrics, pool: Pool, retention: Retention) -> (Self, Writer) {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let trail = Self {
            inner: Arc::new(Inner {
                queue: sender,
                recent: Mutex::new(HashMap::new()),
                counted: metrics.labelled_counter("security_events", "Security events, by type"),
                lost: metrics.labelled_counter(
                    "security_events_unrecorded",
                    "Security events counted and logged but not written to the audit trail \
                     (its queue was full), by type",
                ),
            }),
        };
        let writer = Writer {
            pool,
            queue: receiver,
            retention,
        };
        (trail, writer)
    }

    /// Counts, logs and queues one event. `detail` says what happened in a few words; it
    /// never holds a secret (no password, cookie, key or token).
    pub fn record(
        &self,
        kind: Kind,
        user_id: Option<i64>,
        address: Option<IpAddr>,
        detail: impl Into<String>,
    ) {
        let detail = detail.into();
        self.inner.counted.inc("type", kind.as_str());
        tracing::warn!(
            security_event = kind.as_str(),
            user_id,
            address = address.map(|a| a.to_string()),
            "{detail}"
        );
        let event = Event {
            at: kit::time::now_unix(),
            kind,
            user_id,
            address: address.map(|a| a.to_string()),
            detail,
        };
        if self.inner.queue.try_send(event).is_err() {
            self.inner.lost.inc("type", kind.as_str());
        }
    }
}

impl Trail {
    /// Like [`Trail::record`], for events that come in floods (a client over its rate
    /// limit is refused on every request): the first of each `subject` in a minute is
    /// recorded, the rest only counted. An attacker cannot fill the trail, or the
    /// database's disk, by repeating what is refused.
    pub fn record_once_a_minute(
        &self,
        kind: Kind,
        subject: &str,
        user_id: Option<i64>,
        address: Option<IpAddr>,
        detail: impl Into<String>,
    ) {
        let now = kit::time::now_unix();
        let first = {
            let mut recent = self
                .inner
                .recent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if recent.len() >= RECENT_SUBJECTS {
                recent.retain(|_, at| now - *at < 60);
            }
            let key = (kind, subject.to_owned());
            match recent.get(&key) {
                Some(at) if now - *at < 60 => false,
                _ => {
                    // Still full of live subjects: recorded, not remembered.
                    if recent.len() < RECENT_SUBJECTS {
                        recent.insert(key, now);
                    }
                    true
                }
            }
        };
        if first {
            self.record(kind, user_id, address, detail);
        } else {
            self.inner.counted.inc("type", kind.as_str());
        }
    }
}

impl Writer {
    /// Writes queued events until shutdown, then whatever is still queued.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => {
                    self.queue.close();
                    self.queue.recv_many(&mut batch, BATCH).await
                }
                received = self.queue.recv_many(&mut batch, BATCH) => received,
            };
            if received == 0 {
                return;
            }
            self.write(&mut batch).await;
        }
    }

    async fn write(&self, batch: &mut Vec<Event>) {
        let mut delay = Duration::from_millis(100);
        // A database that is briefly away (a restart, a failover) gets a few tries; the
        // events are dropped after that rather than held without bound.
        for attempt in 1..=5 {
            match store::insert(&self.pool, batch, self.retention).await {
                Ok(()) => break,
                Err(error) if attempt == 5 => {
                    tracing::error!(%error, events = batch.len(), "security events not recorded");
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "security events not recorded yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        batch.clear();
    }
}
