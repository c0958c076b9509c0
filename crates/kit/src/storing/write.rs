//! Writing to a service's database: a transaction is a piece of work, handed over whole.
//!
//! SQLite lets one connection write at a time. Each database has one writing thread of ours
//! ([`SqliteThreads`], one thread), and a transaction ([`transact`]) runs there from its
//! `BEGIN IMMEDIATE` to its `COMMIT` with nothing in between: its statements go back to
//! back, the turn passes to the next transaction in the queue at once, and no transaction
//! waits in SQLite's busy handler (which sleeps 1, 2, 5, 10... ms between tries). So the
//! work is synchronous code ([`Statements`]): it decides what to run next from what came
//! back, but cannot wait for anything else inside a transaction.
//!
//! Before, each statement was a round trip to sqlx's worker thread while the turn was held,
//! and on a busy 2-core machine the task that was to send the next statement waited for a
//! core as well: an order placement's seven round trips made every other placement wait
//! (docs/benchmarks.md, finding 18).
//!
//! The thread commits the transactions it finds queued together, up to [`GROUP`], each in a
//! savepoint of its own, and answers none before the commit (group commit, as PostgreSQL's
//! `commit_delay` and most write-ahead logs do): consecutive orders share pages, which a
//! group writes to the WAL once.
//!
//! On PostgreSQL the same work runs on the runtime's blocking threads, each statement sent
//! as it comes, in a transaction of the pool's.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::runtime::Handle;

use crate::storing::db::{Pool, is_postgres};
use crate::storing::sqlite_statement::{self, driver_error};
use crate::storing::sqlite_threads::{Serving, Slot, SqliteThreads, transaction_rolled_back};
use crate::storing::statement::{Record, Row, Statement};

/// How a transaction's work ends.
pub enum End<T> {
    Commit(T),
    /// Undo what the work did (stock taken for an order that cannot be filled), and give
    /// back `T`.
    RollBack(T),
}

/// What a transaction's work runs its statements on.
pub trait Statements {
    /// Runs a statement that changes rows; how many it changed.
    fn execute(&mut self, statement: Statement) -> Result<u64, sqlx::Error>;

    /// Runs a statement, handing each row it gives to `each`.
    fn rows(
        &mut self,
        statement: Statement,
        each: &mut dyn FnMut(&Row<'_>) -> Result<(), sqlx::Error>,
    ) -> Result<(), sqlx::Error>;
}

impl dyn Statements + '_ {
    pub fn fetch_all<R: Record>(&mut self, statement: Statement) -> Result<Vec<R>, sqlx::Error> {
        let mut records = Vec::new();
        self.rows(statement, &mut |row| {
            records.push(R::from_row(row)?);
            Ok(())
        })?;
        Ok(records)
    }

    pub fn fetch_optional<R: Record>(
        &mut self,
        statement: Statement,
    ) -> Result<Option<R>, sqlx::Error> {
        Ok(self.fetch_all(statement)?.into_iter().next())
    }

    /// The integer in `column` of the first row, if there is a row.
    pub fn integer(
        &mut self,
        statement: Statement,
        column: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let mut first = None;
        self.rows(statement, &mut |row| {
            if first.is_none() {
                first = Some(row.integer(column)?);
            }
            Ok(())
        })?;
        Ok(first)
    }
}

/// Runs `work` as one transaction: committed if it ends with [`End::Commit`], rolled back if
/// it ends with [`End::RollBack`] or fails.
pub async fn transact<T, W>(pool: &Pool, work: W) -> Result<T, sqlx::Error>
where
    T: Send + 'static,
    W: FnOnce(&mut dyn Statements) -> Result<End<T>, sqlx::Error> + Send + 'static,
{
    if pool.is_closed() {
        return Err(sqlx::Error::PoolClosed);
    }
    if is_postgres(pool) {
        return postgres_transaction(pool.clone(), work).await;
    }
    writer(pool)?
        .run(move |slot| sqlite_transaction(slot, work))
        .await
}

/// Runs `statement` alone, as a transaction of its own; how many rows it changed.
pub async fn execute(pool: &Pool, statement: Statement) -> Result<u64, sqlx::Error> {
    transact(pool, move |statements| {
        Ok(End::Commit(statements.execute(statement)?))
    })
    .await
}

/// Lets the queued transactions of `pool`'s database finish and closes its writing
/// connection, so that the pool's are the last to close (the last one checkpoints the WAL
/// away). Call it before closing the pool.
pub async fn close(pool: &Pool) {
    let Some(database) = sqlite_file(pool) else {
        return;
    };
    let writer = writers().remove(&database);
    if let Some(writer) = writer {
        writer.close().await;
    }
}

fn sqlite_transaction<T, W>(slot: &mut Slot, work: W) -> Result<T, sqlx::Error>
where
    W: FnOnce(&mut dyn Statements) -> Result<End<T>, sqlx::Error>,
{
    let connection = slot.connection()?;
    // The first work of a group begins its transaction; the thread commits it after the
    // group's last (SqliteThreads, Serving::Grouped).
    if connection.is_autocommit() {
        connection
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(driver_error)?;
    }
    connection
        .execute_batch("SAVEPOINT work")
        .map_err(driver_error)?;
    // A bug in the work must not end the thread that every write of the database needs.
    let outcome =
        std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut SqliteStatements(connection))));
    let (keep, result) = match outcome {
        Ok(Ok(End::Commit(value))) => (true, Ok(value)),
        Ok(Ok(End::RollBack(value))) => (false, Ok(value)),
        Ok(Err(error)) => (false, Err(error)),
        Err(_panic) => (
            false,
            Err(sqlx::Error::Protocol(
                "a write transaction's work panicked".to_owned(),
            )),
        ),
    };
    if connection.is_autocommit() {
        // SQLite rolled the whole transaction back by itself (it does on some failures):
        // this work and the group's earlier work are undone.
        slot.transaction_lost();
        return Err(result.err().unwrap_or_else(transaction_rolled_back));
    }
    let end = if keep {
        "RELEASE work"
    } else {
        "ROLLBACK TO work; RELEASE work"
    };
    if let Err(error) = connection.execute_batch(end) {
        // A connection that cannot say what it holds is not used again (closing it rolls
        // back the group, whose callers are told).
        slot.discard();
        return Err(driver_error(error));
    }
    result
}

struct SqliteStatements<'c>(&'c Connection);

impl Statements for SqliteStatements<'_> {
    fn execute(&mut self, statement: Statement) -> Result<u64, sqlx::Error> {
        sqlite_statement::run(self.0, &statement, &mut |_| Ok(true))?;
        Ok(self.0.changes())
    }

    fn rows(
        &mut self,
        statement: Statement,
        each: &mut dyn FnMut(&Row<'_>) -> Result<(), sqlx::Error>,
    ) -> Result<(), sqlx::Error> {
        sqlite_statement::run(self.0, &statement, &mut |row| each(row).map(|()| true))
    }
}

/// Transactions committed together at most: those queued when the writing thread comes for
/// work, up to this many (a placement waits for the others of its group; 32 of them take
/// about a millisecond).
const GROUP: usize = 32;

/// Prepared statements the writing thread keeps: every write of a service, with room.
const STATEMENTS: usize = 64;

/// How long the writing thread waits for another connection's write to end: the pool's
/// (migrations, maintenance) write outside the queue. As sqlx's default.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn open_writer(path: &Path) -> Result<Connection, sqlx::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(driver_error)?;
    // As the pool's connections: durable across a crash of the process, only the last
    // commits at risk on a power loss (docs/operations.md); foreign keys enforced, as sqlx
    // does by default.
    connection
        .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
        .map_err(driver_error)?;
    connection.set_prepared_statement_cache_capacity(STATEMENTS);
    Ok(connection)
}

type Writers = HashMap<std::path::PathBuf, Arc<SqliteThreads>>;

fn writers() -> std::sync::MutexGuard<'static, Writers> {
    static WRITERS: LazyLock<Mutex<Writers>> = LazyLock::new(Mutex::default);
    WRITERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The writing thread of the database `pool` opens, shared by every pool of this process on
/// the same file.
fn writer(pool: &Pool) -> Result<Arc<SqliteThreads>, sqlx::Error> {
    let database = sqlite_file(pool)
        .ok_or_else(|| sqlx::Error::Configuration("not an SQLite database with a file".into()))?;
    let mut writers = writers();
    if let Some(writer) = writers.get(&database) {
        return Ok(writer.clone());
    }
    let writer = Arc::new(SqliteThreads::start(
        "sqlite-writer",
        1,
        Serving::Grouped(GROUP),
        database.clone(),
        open_writer,
    ));
    writers.insert(database, writer.clone());
    Ok(writer)
}

fn sqlite_file(pool: &Pool) -> Option<std::path::PathBuf> {
    if is_postgres(pool) {
        return None;
    }
    sqlx::sqlite::SqliteConnectOptions::try_from(&*pool.connect_options())
        .ok()
        .map(|options| options.get_filename().to_owned())
}

async fn postgres_transaction<T, W>(pool: Pool, work: W) -> Result<T, sqlx::Error>
where
    T: Send + 'static,
    W: FnOnce(&mut dyn Statements) -> Result<End<T>, sqlx::Error> + Send + 'static,
{
    let runtime = Handle::current();
    let blocking = tokio::task::spawn_blocking(move || {
        let mut statements = PostgresStatements {
            transaction: runtime.block_on(pool.begin())?,
            runtime: &runtime,
        };
        let outcome = work(&mut statements);
        let transaction = statements.transaction;
        match outcome {
            Ok(End::Commit(value)) => runtime.block_on(transaction.commit()).map(|()| value),
            Ok(End::RollBack(value)) => runtime.block_on(transaction.rollback()).map(|()| value),
            Err(error) => {
                let _ = runtime.block_on(transaction.rollback());
                Err(error)
            }
        }
    });
    blocking
        .await
        .map_err(|_| sqlx::Error::Protocol("a write transaction's work panicked".to_owned()))?
}

struct PostgresStatements<'r> {
    transaction: sqlx::Transaction<'static, sqlx::Any>,
    runtime: &'r Handle,
}

impl Statements for PostgresStatements<'_> {
    fn execute(&mut self, statement: Statement) -> Result<u64, sqlx::Error> {
        let done = self
            .runtime
            .block_on(statement.into_query().execute(&mut *self.transaction))?;
        Ok(done.rows_affected())
    }

    fn rows(
        &mut self,
        statement: Statement,
        each: &mut dyn FnMut(&Row<'_>) -> Result<(), sqlx::Error>,
    ) -> Result<(), sqlx::Error> {
        let rows = self
            .runtime
            .block_on(statement.into_query().fetch_all(&mut *self.transaction))?;
        rows.iter().try_for_each(|row| each(&Row::new(row)))
    }
}
