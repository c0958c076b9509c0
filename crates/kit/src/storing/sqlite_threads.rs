//! Threads that serve one SQLite file, each with a connection of its own, taking work off
//! one queue: the readers ([`crate::storing::sqlite_readers`], two threads) and the writer
//! ([`crate::storing::write`], one thread, which is what makes writes take turns).
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

/// The threads serving one SQLite file.
pub(crate) struct SqliteThreads {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    places: Arc<Semaphore>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SqliteThreads {
    /// Starts `count` threads named `name`; each opens its connection when first needed.
    pub(crate) fn start(name: &str, count: usize, path: PathBuf, open: Open) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..count)
            .filter_map(|_| {
                let (receiver, path) = (receiver.clone(), path.clone());
                std::thread::Builder::new()
                    .name(name.to_owned())
                    .spawn(move || serve(&receiver, path, open))
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

    /// Runs `work` on one of the threads, with its connection, and gives back its result.
    /// Work whose caller went away (a cancelled request) before it started is skipped.
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
            if !reply.is_closed() {
                let _ = reply.send(work(slot));
            }
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

fn serve(queue: &Mutex<mpsc::Receiver<Job>>, path: PathBuf, open: Open) {
    let mut slot = Slot {
        path,
        open,
        connection: None,
    };
    loop {
        // One thread waits on the queue while the others wait for the lock; the lock is let
        // go before the work runs.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(&mut slot),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// One thread's connection, opened when first needed and again after it failed to open or
/// was discarded.
pub(crate) struct Slot {
    path: PathBuf,
    open: Open,
    connection: Option<Connection>,
}

impl Slot {
    pub(crate) fn connection(&mut self) -> Result<&mut Connection, sqlx::Error> {
        match &mut self.connection {
            Some(connection) => Ok(connection),
            none => Ok(none.insert((self.open)(&self.path)?)),
        }
    }

    /// Closes the connection (which rolls back whatever it had begun); the next work opens
    /// another.
    pub(crate) fn discard(&mut self) {
        self.connection = None;
    }
}
