//! Threads that read an SQLite file, each with a connection of its own, taking reads off
//! one queue.
//!
//! sqlx's SQLite driver runs every connection on a thread of its own and hands each query
//! and each row across: a wake-up of that thread and of the task per query, and an
//! allocation per value (its `Any` rows). A read cost about 20 µs of CPU that way, and 7 µs
//! here (docs/benchmarks.md, finding 16): a thread that finds the next read already queued
//! goes on without sleeping, statements stay prepared, and rows decode straight into the
//! caller's type. The threads are not the async runtime's, so nothing blocks it.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::storing::db::ACQUIRE_TIMEOUT;
use crate::storing::read::{Argument, Columns, Read, Record, Row};

/// Reading threads per database: two keep both cores busy while one waits on the disk.
const THREADS: usize = 2;

/// Reads queued or running at once; past this a read waits for a place, at most
/// [`ACQUIRE_TIMEOUT`], as a read waited for a pooled connection before.
const QUEUED: usize = 256;

/// Prepared statements each thread keeps: every hot read of a service, with room.
const STATEMENTS: usize = 32;

type Job = Box<dyn FnOnce(&mut Reader) + Send>;

/// The reading threads of one SQLite file.
pub(crate) struct SqliteReaders {
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    places: Arc<Semaphore>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl SqliteReaders {
    /// Starts the threads; each opens its connection at its first read.
    pub(crate) fn start(path: PathBuf) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..THREADS)
            .filter_map(|_| {
                let (receiver, path) = (receiver.clone(), path.clone());
                std::thread::Builder::new()
                    .name("sqlite-reader".to_owned())
                    .spawn(move || serve(&receiver, path))
                    .inspect_err(|error| tracing::error!(%error, "no SQLite reading thread"))
                    .ok()
            })
            .collect();
        Self {
            queue: Mutex::new(Some(sender)),
            places: Arc::new(Semaphore::new(QUEUED)),
            threads: Mutex::new(threads),
        }
    }

    /// At most `limit` rows of `read`.
    pub(crate) async fn fetch<O: Record>(
        &self,
        read: Read,
        limit: usize,
    ) -> Result<Vec<O>, sqlx::Error> {
        let place = tokio::time::timeout(ACQUIRE_TIMEOUT, self.places.clone().acquire_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |reader: &mut Reader| {
            let _place: OwnedSemaphorePermit = place;
            // A caller that went away (a cancelled request) needs no answer.
            if !reply.is_closed() {
                let _ = reply.send(reader.fetch(&read, limit));
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

    /// Lets the queued reads finish, then closes the connections.
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

fn serve(queue: &Mutex<mpsc::Receiver<Job>>, path: PathBuf) {
    let mut reader = Reader {
        path,
        connection: None,
    };
    loop {
        // One thread waits on the queue while the other waits for the lock; the lock is
        // let go before the read runs.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(&mut reader),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// One thread's connection, opened when first needed and again after it failed to open.
struct Reader {
    path: PathBuf,
    connection: Option<Connection>,
}

impl Reader {
    fn connection(&mut self) -> Result<&Connection, sqlx::Error> {
        match &mut self.connection {
            Some(connection) => Ok(connection),
            none => Ok(none.insert(open(&self.path)?)),
        }
    }

    fn fetch<O: Record>(&mut self, read: &Read, limit: usize) -> Result<Vec<O>, sqlx::Error> {
        let connection = self.connection()?;
        let mut statement = connection
            .prepare_cached(read.statement)
            .map_err(driver_error)?;
        for index in 1..=statement.parameter_count() {
            // `$2` is the second argument wherever it appears; SQLite numbers parameters by
            // first appearance, which a statement may order differently.
            let position = statement
                .parameter_name(index)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|number| number.parse::<usize>().ok())
                .unwrap_or(index);
            let argument = read.arguments.get(position - 1).ok_or_else(|| {
                sqlx::Error::InvalidArgument(format!("no argument for parameter {position}"))
            })?;
            statement
                .raw_bind_parameter(index, value_of(argument))
                .map_err(driver_error)?;
        }
        let mut rows = statement.raw_query();
        let mut records = Vec::new();
        while records.len() < limit {
            let Some(row) = rows.next().map_err(driver_error)? else {
                break;
            };
            records.push(O::from_row(&Row::new(&SqliteRow(row)))?);
        }
        Ok(records)
    }
}

fn open(path: &std::path::Path) -> Result<Connection, sqlx::Error> {
    // The file exists already: the pool made it, owner-only. Read-write, because a
    // connection to a WAL database writes its shared-memory index even to read.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?;
    // A bug here cannot write.
    connection
        .pragma_update(None, "query_only", true)
        .map_err(driver_error)?;
    connection.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(connection)
}

fn value_of(argument: &Argument) -> ToSqlOutput<'_> {
    use rusqlite::types::ValueRef;
    match argument {
        Argument::Integer(Some(value)) => ToSqlOutput::Owned(Value::Integer(*value)),
        Argument::Text(Some(value)) => ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes())),
        Argument::Integer(None) | Argument::Text(None) => ToSqlOutput::Owned(Value::Null),
    }
}

fn driver_error(error: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::AnyDriverError(Box::new(error))
}

struct SqliteRow<'a, 'statement>(&'a rusqlite::Row<'statement>);

impl SqliteRow<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T, sqlx::Error> {
        self.0.get(column).map_err(|error| match error {
            rusqlite::Error::InvalidColumnName(name) => sqlx::Error::ColumnNotFound(name),
            error => sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: Box::new(error),
            },
        })
    }
}

impl Columns for SqliteRow<'_, '_> {
    fn integer(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.get(column)
    }

    fn text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.get(column)
    }
}
