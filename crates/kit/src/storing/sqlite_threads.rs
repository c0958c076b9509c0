//! Threads that serve one SQLite file, each with a connection of its own, taking work off
//! one queue: the readers ([`crate::storing::sqlite_readers`], two threads) and the writer
//! ([`crate::storing::write`], one thread, which is what makes writes take turns).
//!
//! The writer serves in groups ([`Serving::Grouped`]): the transactions queued when it
//! comes for work run one after another inside one SQLite transaction, each in a savepoint
//! of its own, and are answered after that transaction's commit. A commit writes every
//! page it changed to the WAL; consecutive orders, keys and reservations share pages, so a
//! group writes them once rather than once per transaction (docs/benchmarks.md, finding
//! 18). Each is still all or nothing, and none is answered before it is committed.
//!
//! sqlx's SQLite driver runs every connection on a thread of its own and hands each
//! statement and each row across, waking that thread and the task each time. Here a piece of
//! work (a read, or a whole write transaction) crosses once: a thread that finds the next
//! piece already queued goes on without sleeping, and statements stay prepared. The threads
//! are not the async runtime's, so nothing blocks it.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::storing::db::ACQUIRE_TIMEOUT;

/// Work queued or running at once; past this, work waits for a place, at most
/// [`ACQUIRE_TIMEOUT`], as it waited for a pooled connection before.
const QUEUED: usize = 256;

/// How a thread opens its connection: the readers' and the writer's differ.
pub(crate) type Open = fn(&Path) -> Result<Connection, sqlx::Error>;

type Job = Box<dyn FnOnce(&mut Slot) + Send>;

/// What a piece of work's caller is told once its outcome stands: with the error of the
/// group's commit, if that failed.
type Answer = Box<dyn FnOnce(Option<&sqlx::Error>) + Send>;

/// How a thread runs the work it takes off the queue.
#[derive(Clone, Copy)]
pub(crate) enum Serving {
    /// One piece at a time, answered when it is done (the readers).
    Each,
    /// Up to this many queued pieces in one transaction, answered after its commit (the
    /// writer). Each piece begins the transaction if none is open ([`Slot::connection`]
    /// and `BEGIN IMMEDIATE`) and keeps its own statements in a savepoint.
    Grouped(usize),
}

/// The threads serving one SQLite file.
pub(crate) struct SqliteThreads {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    places: Arc<Semaphore>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SqliteThreads {
    /// Starts `count` threads named `name`; each opens its connection when first needed.
    pub(crate) fn start(
        name: &str,
        count: usize,
        serving: Serving,
        path: PathBuf,
        open: Open,
    ) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..count)
            .filter_map(|_| {
                let (receiver, path) = (receiver.clone(), path.clone());
                std::thread::Builder::new()
                    .name(name.to_owned())
                    .spawn(move || serve(&receiver, serving, path, open))
                    .inspect_err(|error| tracing::error!(%error, name, "no SQLite thread"))
                    .ok()
            })
            .collect();
        Self {
            queue: Mutex::new(Some(sender)),
            places: Arc::new(Semaphore::new(QUEUED)),
            threads: Mutex::new(threads),
        }
    }

    /// Runs `work` on one of the threads, with its connection, and gives back its result
    /// (in groups: once the group is committed). Work whose caller went away (a cancelled
    /// request) before it started is skipped.
    pub(crate) async fn run<T, W>(&self, work: W) -> Result<T, sqlx::Error>
    where
        T: Send + 'static,
        W: FnOnce(&mut Slot) -> Result<T, sqlx::Error> + Send + 'static,
    {
        let place = tokio::time::timeout(ACQUIRE_TIMEOUT, self.places.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |slot: &mut Slot| {
            let _place: OwnedSemaphorePermit = place;
            if reply.is_closed() {
                return;
            }
            let outcome = work(slot);
            slot.answer(Box::new(move |group_failure: Option<&sqlx::Error>| {
                let _ = reply.send(match group_failure {
                    Some(failure) => Err(group_failed(failure)),
                    None => outcome,
                });
            }));
        });
        let sent = match &*self.queue.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(queue) => queue.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(sqlx::Error::PoolClosed);
        }
        answer.await.map_err(|_| sqlx::Error::WorkerCrashed)?
    }

    /// Lets the queued work finish, then closes the connections.
    pub(crate) async fn close(&self) {
        self.places.close();
        drop(
            self.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }
}

fn serve(queue: &Mutex<mpsc::Receiver<Job>>, serving: Serving, path: PathBuf, open: Open) {
    let mut slot = Slot {
        path,
        open,
        connection: None,
        answers: Vec::new(),
        grouped: matches!(serving, Serving::Grouped(_)),
    };
    let most = match serving {
        Serving::Each => 1,
        Serving::Grouped(most) => most.max(1),
    };
    let mut group = Vec::with_capacity(most);
    loop {
        {
            // One thread waits on the queue while the others wait for the lock; the lock is
            // let go before the work runs.
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            match queue.recv() {
                Ok(job) => group.push(job),
                Err(mpsc::RecvError) => return,
            }
            while group.len() < most {
                match queue.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
        }
        for job in group.drain(..) {
            job(&mut slot);
        }
        slot.end_group();
    }
}

/// One thread's connection, opened when first needed and again after it failed to open or
/// was discarded; in groups, with the answers that wait for the group's commit.
pub(crate) struct Slot {
    path: PathBuf,
    open: Open,
    connection: Option<Connection>,
    answers: Vec<Answer>,
    grouped: bool,
}

impl Slot {
    pub(crate) fn connection(&mut self) -> Result<&mut Connection, sqlx::Error> {
        match &mut self.connection {
            Some(connection) => Ok(connection),
            none => Ok(none.insert((self.open)(&self.path)?)),
        }
    }

    /// Closes the connection (which rolls back whatever it had begun, the group's earlier
    /// work too, whose callers are told); the next work opens another.
    pub(crate) fn discard(&mut self) {
        self.connection = None;
        self.transaction_lost();
    }

    /// The group's transaction ended before its commit (SQLite rolls a transaction back by
    /// itself on some failures): the work done in it so far is undone, and its callers are
    /// told so now.
    pub(crate) fn transaction_lost(&mut self) {
        let lost = transaction_rolled_back();
        for answer in self.answers.drain(..) {
            answer(Some(&lost));
        }
    }

    fn answer(&mut self, answer: Answer) {
        if self.grouped {
            self.answers.push(answer);
        } else {
            answer(None);
        }
    }

    /// Commits the group's transaction, if one is open, and answers its work.
    fn end_group(&mut self) {
        let failure = match &self.connection {
            Some(connection) if !connection.is_autocommit() => {
                match connection.execute_batch("COMMIT") {
                    Ok(()) => None,
                    Err(error) => Some(crate::storing::sqlite_statement::driver_error(error)),
                }
            }
            _ => None,
        };
        if failure.is_some()
            && let Some(connection) = &self.connection
            && !connection.is_autocommit()
            && connection.execute_batch("ROLLBACK").is_err()
        {
            self.connection = None;
        }
        for answer in self.answers.drain(..) {
            answer(failure.as_ref());
        }
    }
}

/// The error of work whose transaction SQLite rolled back before the commit.
pub(crate) fn transaction_rolled_back() -> sqlx::Error {
    sqlx::Error::Protocol("the transaction was rolled back".to_owned())
}

/// The error each piece of a group gets when the group's commit failed.
fn group_failed(failure: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the commit failed: {failure}"))
}
