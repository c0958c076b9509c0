//! Recording: counting, logging and queueing each event, and the task that writes them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kit::observing::metrics::{LabelledCounter, Metrics};
use kit::serving::shutdown::CancellationToken;
use kit::storing::db::Pool;
use tokio::sync::mpsc;

use super::event::{Event, Retention};
use super::kind::Kind;
use super::store;

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
    /// Counts the events a database that stayed away made it drop.
    lost: LabelledCounter,
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
                     (its queue was full, the database stayed away, or a service kept fewer \
                     refusals than came), by type",
                ),
            }),
        };
        let writer = Writer {
            pool,
            queue: receiver,
            retention,
            lost: trail.inner.lost.clone(),
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
        self.emit(Event {
            at: kit::time::now_unix(),
            kind,
            user_id,
            address: address.map(|a| a.to_string()),
            detail: detail.into(),
        });
    }

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
        if self.first_in_a_minute(kind, subject) {
            self.record(kind, user_id, address, detail);
        } else {
            self.inner.counted.inc("type", kind.as_str());
        }
    }

    /// An event another process reported, at its time `at`; recorded once a minute per
    /// `subject`, as [`Trail::record_once_a_minute`].
    pub fn record_reported(
        &self,
        kind: Kind,
        at: i64,
        subject: &str,
        address: Option<IpAddr>,
        detail: String,
    ) {
        if self.first_in_a_minute(kind, subject) {
            self.emit(Event {
                at,
                kind,
                user_id: None,
                address: address.map(|a| a.to_string()),
                detail,
            });
        } else {
            self.inner.counted.inc("type", kind.as_str());
        }
    }

    /// `count` events that happened but of which nothing is known beyond their number
    /// (a service kept fewer than came between two collections).
    pub fn unrecorded(&self, kind: Kind, count: u64) {
        self.inner.counted.inc_by("type", kind.as_str(), count);
        self.inner.lost.inc_by("type", kind.as_str(), count);
    }

    fn emit(&self, event: Event) {
        let kind = event.kind;
        self.inner.counted.inc("type", kind.as_str());
        tracing::warn!(
            security_event = kind.as_str(),
            user_id = event.user_id,
            address = event.address.as_deref(),
            "{}",
            event.detail
        );
        if self.inner.queue.try_send(event).is_err() {
            self.inner.lost.inc("type", kind.as_str());
        }
    }

    fn first_in_a_minute(&self, kind: Kind, subject: &str) -> bool {
        let now = kit::time::now_unix();
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
                    for event in batch.iter() {
                        self.lost.inc("type", event.kind.as_str());
                    }
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
