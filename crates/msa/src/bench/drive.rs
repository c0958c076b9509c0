//! The load generator: one HTTP/1.1 connection per worker, kept alive, and a latency
//! histogram per worker, merged at the end (no lock on the hot path).
//!
//! Closed loop: each worker sends its next request when the last answer is in, so the
//! throughput found is the peak for that many connections.
//! Open loop: request `i` is due at `start + i / rate` whatever the answers; a worker that
//! takes it late still counts its latency from the time it was due, so a shop that falls
//! behind shows as queueing latency instead of hiding it (coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::plan::Plan;

/// The slowest answer a histogram keeps exactly; anything slower is recorded as this.
const MAX_LATENCY_US: u64 = 60_000_000;
/// A request not answered within this is a failure, and the connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Below this a worker sends at once rather than sleep: tokio's timer rounds up to the next
/// millisecond, which would add its own delay to every latency measured from the due time.
const TIMER_GRAIN: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as `connections` allow.
    Closed,
    /// This many requests per second, whatever the answers.
    Open { rate: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub pace: Pace,
    pub connections: usize,
    pub duration: Duration,
    /// Windows of this length get their own counts and histogram (for soaks).
    pub window: Duration,
}

/// What one run saw.
pub struct Outcome {
    pub latency: Histogram<u64>,
    pub requests: u64,
    pub errors: std::collections::BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Open loop: requests that were due but never sent before the end.
    pub unsent: u64,
    pub windows: Vec<WindowOutcome>,
}

pub struct WindowOutcome {
    pub latency: Histogram<u64>,
    pub errors: u64,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        self.latency.value_at_percentile(percentile) as f64 / 1000.0
    }
}

/// Counters the progress display reads while a run goes on.
#[derive(Default)]
pub struct Progress {
    pub answered: AtomicU64,
    pub failed: AtomicU64,
}

struct Worker {
    latency: Histogram<u64>,
    windows: Vec<WindowOutcome>,
    errors: std::collections::BTreeMap<String, u64>,
    requests: u64,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_max(MAX_LATENCY_US, 3).expect("BUG: fixed histogram bounds are valid")
}

/// A plan, and the tag that makes the idempotency keys of one run its own.
struct RunPlan {
    plan: Arc<Plan>,
    run: Box<str>,
}

pub async fn run(plan: Arc<Plan>, load: Load, progress: Arc<Progress>) -> Outcome {
    let started = Instant::now();
    let deadline = started + load.duration;
    let next_due = Arc::new(AtomicU64::new(0));
    // Every run's idempotency keys are its own (see Plan::request).
    let plan = Arc::new(RunPlan {
        plan,
        run: kit::observing::request_id::mint()[..12].into(),
    });
    let windows = (load.duration.as_nanos() / load.window.as_nanos().max(1)) as usize + 1;
    let workers: Vec<_> = (0..load.connections)
        .map(|_| {
            let worker = Worker {
                latency: histogram(),
                windows: (0..windows)
                    .map(|_| WindowOutcome {
                        latency: histogram(),
                        errors: 0,
                    })
                    .collect(),
                errors: Default::default(),
                requests: 0,
            };
            tokio::spawn(work(
                worker,
                plan.clone(),
                load,
                started,
                deadline,
                next_due.clone(),
                progress.clone(),
            ))
        })
        .collect();
    let mut outcome = Outcome {
        latency: histogram(),
        requests: 0,
        errors: Default::default(),
        elapsed: Duration::ZERO,
        unsent: 0,
        windows: (0..windows)
            .map(|_| WindowOutcome {
                latency: histogram(),
                errors: 0,
            })
            .collect(),
    };
    for worker in workers {
        let Ok(worker) = worker.await else {
            *outcome
                .errors
                .entry("worker panicked".to_owned())
                .or_default() += 1;
            continue;
        };
        let _ = outcome.latency.add(&worker.latency);
        outcome.requests += worker.requests;
        for (kind, count) in worker.errors {
            *outcome.errors.entry(kind).or_default() += count;
        }
        for (total, part) in outcome.windows.iter_mut().zip(worker.windows) {
            let _ = total.latency.add(&part.latency);
            total.errors += part.errors;
        }
    }
    outcome.elapsed = started.elapsed();
    if let Pace::Open { rate } = load.pace {
        let due = (load.duration.as_secs_f64() * rate) as u64;
        outcome.unsent = due.saturating_sub(outcome.requests);
        // The open loop's time is the schedule's, however long the last answers took.
        outcome.elapsed = load.duration;
    }
    outcome.windows.truncate(
        load.duration
            .as_nanos()
            .div_ceil(load.window.as_nanos().max(1)) as usize,
    );
    outcome
}

async fn work(
    mut worker: Worker,
    plan: Arc<RunPlan>,
    load: Load,
    started: Instant,
    deadline: Instant,
    next_due: Arc<AtomicU64>,
    progress: Arc<Progress>,
) -> Worker {
    let mut connection: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let sequence = next_due.fetch_add(1, Ordering::Relaxed);
        let due = match load.pace {
            Pace::Closed => None,
            Pace::Open { rate } => Some(started + Duration::from_secs_f64(sequence as f64 / rate)),
        };
        let now = Instant::now();
        if due.unwrap_or(now) >= deadline || now >= deadline {
            break;
        }
        if let Some(due) = due
            && due > now + TIMER_GRAIN
        {
            tokio::time::sleep_until((due - TIMER_GRAIN).into()).await;
        }
        let sent = Instant::now();
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            exchange(&mut connection, &plan.plan, &plan.run, sequence),
        )
        .await
        .unwrap_or_else(|_| Err("timeout".to_owned()));
        let done = Instant::now();
        let from = due.map_or(sent, |due| due.min(sent));
        let micros = (done - from).as_micros().min(u128::from(MAX_LATENCY_US)) as u64;
        let window =
            ((due.unwrap_or(sent) - started).as_nanos() / load.window.as_nanos().max(1)) as usize;
        worker.requests += 1;
        let _ = worker.latency.record(micros.max(1));
        if let Some(slot) = worker.windows.get_mut(window) {
            let _ = slot.latency.record(micros.max(1));
        }
        match result {
            Ok(()) => {
                progress.answered.fetch_add(1, Ordering::Relaxed);
            }
            Err(kind) => {
                connection = None;
                progress.failed.fetch_add(1, Ordering::Relaxed);
                *worker.errors.entry(kind).or_default() += 1;
                if let Some(slot) = worker.windows.get_mut(window) {
                    slot.errors += 1;
                }
            }
        }
    }
    worker
}

/// One request on this worker's connection (opened, or opened again, as needed); the whole
/// answer is read, since a request is done when its answer is. Any status but 2xx fails.
async fn exchange(
    connection: &mut Option<SendRequest<Full<Bytes>>>,
    plan: &Plan,
    run: &str,
    sequence: u64,
) -> Result<(), String> {
    let sender = match connection {
        Some(sender) if sender.is_ready() => sender,
        _ => connection.insert(connect(plan).await?),
    };
    sender.ready().await.map_err(|_| "connection".to_owned())?;
    let answer = sender
        .send_request(plan.request(run, sequence))
        .await
        .map_err(|_| "connection".to_owned())?;
    let status = answer.status();
    // A stored answer to a key sent before: not the placement the run claims to measure.
    let replayed = answer
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|value| value.as_bytes() == b"true");
    let closing = answer
        .headers()
        .get(http::header::CONNECTION)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    answer
        .into_body()
        .collect()
        .await
        .map_err(|_| "body".to_owned())?;
    if closing {
        *connection = None;
    }
    if replayed {
        Err("replayed".to_owned())
    } else if status.is_success() {
        Ok(())
    } else {
        Err(status.as_u16().to_string())
    }
}

async fn connect(plan: &Plan) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(plan.address)
        .await
        .map_err(|_| "connect".to_owned())?;
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "connect".to_owned())?;
    tokio::spawn(connection);
    Ok(sender)
}
