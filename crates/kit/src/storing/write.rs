//! Writing to a service's database: one writer at a time on SQLite, in a queue of ours.
//!
//! SQLite lets one connection write at a time. A transaction here takes that turn up front
//! (`BEGIN IMMEDIATE`), so one that reads before it writes waits its turn instead of failing
//! when another writer got in first; and it waits in a queue per database, not in SQLite's
//! busy handler, which sleeps 1, 2, 5, 10... ms between tries (under load, most of an order
//! placement's time was spent asleep there).
//!
//! Every statement is a round trip to the connection's worker thread, and the turn is held
//! for all of them: on a busy 2-core machine those round trips are what placements queue
//! behind (docs/benchmarks.md). So on SQLite the `BEGIN` travels with a transaction's first
//! statement and the `COMMIT` with its last ([`begin_write_with`], [`WriteTransaction::commit_with`]).
//! The turn is a connection of its own, kept open: a transaction needs no connection from the
//! pool (whose return costs one more round trip, a ping), and the pages it reads stay in
//! that connection's cache, where another connection's write would have made them stale.
//!
//! On PostgreSQL, which has no writer turn and runs one statement per prepared query, each
//! is sent on its own, as sqlx's transactions do.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyQueryResult, AnyRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{
    Any, AnyConnection, AssertSqlSafe, ConnectOptions, Connection, Execute, Executor, FromRow,
};
use tokio::sync::OwnedMutexGuard;

use crate::storing::db::{Pool, is_postgres};

/// Begins a transaction that will write; on SQLite it waits for the database's writer turn
/// first and holds it until the transaction ends.
pub async fn begin_write(pool: &Pool) -> Result<WriteTransaction, sqlx::Error> {
    if is_postgres(pool) {
        return Ok(WriteTransaction(Kind::Postgres(pool.begin().await?)));
    }
    let mut transaction = WriteTransaction::sqlite(pool).await?;
    transaction.sqlite_send("BEGIN IMMEDIATE").await?;
    Ok(transaction)
}

/// [`begin_write`], and `first` run in the transaction: on SQLite in the same round trip.
/// `first` is one statement.
pub async fn begin_write_with<'q, O>(
    pool: &Pool,
    mut first: QueryAs<'q, Any, O, AnyArguments>,
) -> Result<(WriteTransaction, Vec<O>), sqlx::Error>
where
    O: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
{
    if is_postgres(pool) {
        let mut transaction = pool.begin().await?;
        let rows = first.fetch_all(&mut *transaction).await?;
        return Ok((WriteTransaction(Kind::Postgres(transaction)), rows));
    }
    let arguments = first.take_arguments().map_err(sqlx::Error::Encode)?;
    let sql = format!("BEGIN IMMEDIATE; {}", first.sql().as_str());
    // Made before the statement runs, so that a failure of the statement after the BEGIN
    // rolls the transaction back when it is dropped.
    let mut transaction = WriteTransaction::sqlite(pool).await?;
    let rows = sqlx::query_as_with(AssertSqlSafe(sql), arguments.unwrap_or_default())
        .fetch_all(transaction.connection())
        .await?;
    Ok((transaction, rows))
}

/// A transaction from [`begin_write`]: used as the connection it runs on, committed with
/// [`WriteTransaction::commit`], rolled back when dropped; on SQLite it holds the database's
/// writer turn until then.
pub struct WriteTransaction(Kind);

enum Kind {
    Postgres(sqlx::Transaction<'static, Any>),
    /// Begun and ended by statements of ours, not by sqlx's transaction, which would send
    /// `BEGIN` and `COMMIT` on their own.
    Sqlite(Turn),
    /// Committed (or handed to the rollback on drop).
    Ended,
}

impl WriteTransaction {
    async fn sqlite(pool: &Pool) -> Result<Self, sqlx::Error> {
        Ok(Self(Kind::Sqlite(Turn::take(pool).await?)))
    }

    fn connection(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            Kind::Postgres(transaction) => transaction,
            Kind::Sqlite(turn) => turn.connection(),
            Kind::Ended => unreachable!("BUG: a transaction is not used after it ended"),
        }
    }

    async fn sqlite_send(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        self.connection().execute(sql).await.map(drop)
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.finish(None).await
    }

    /// Runs `last`, one statement, and commits: on SQLite in one round trip.
    pub async fn commit_with(self, last: Query<'_, Any, AnyArguments>) -> Result<(), sqlx::Error> {
        self.finish(Some(last)).await
    }

    async fn finish(
        mut self,
        last: Option<Query<'_, Any, AnyArguments>>,
    ) -> Result<(), sqlx::Error> {
        let postgres = matches!(self.0, Kind::Postgres(_));
        match (postgres, last) {
            (true, last) => {
                if let Some(last) = last {
                    last.execute(self.connection()).await?;
                }
                let Kind::Postgres(transaction) = std::mem::replace(&mut self.0, Kind::Ended)
                else {
                    unreachable!("BUG: matched as PostgreSQL above")
                };
                return transaction.commit().await;
            }
            (false, None) => self.sqlite_send("COMMIT").await?,
            (false, Some(mut last)) => {
                let arguments = last.take_arguments().map_err(sqlx::Error::Encode)?;
                let sql = format!("{}; COMMIT", last.sql().as_str());
                sqlx::query_with(AssertSqlSafe(sql), arguments.unwrap_or_default())
                    .execute(self.connection())
                    .await?;
            }
        }
        // Committed: the turn goes to the next writer.
        self.0 = Kind::Ended;
        Ok(())
    }
}

/// An SQLite transaction dropped before its commit (an error, or the request cancelled) is
/// rolled back before the turn goes to the next writer; that needs a round trip, so it runs
/// on a task of its own. Without a runtime (the process is ending) the connection is
/// closed, which rolls back too.
impl Drop for WriteTransaction {
    fn drop(&mut self) {
        let Kind::Sqlite(mut turn) = std::mem::replace(&mut self.0, Kind::Ended) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            turn.discard();
            return;
        };
        runtime.spawn(async move {
            // Fails when the failed statement was the BEGIN itself; a connection that cannot
            // say whether it is in a transaction is not used again.
            if turn.connection().execute("ROLLBACK").await.is_err() {
                turn.discard();
            }
        });
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            Kind::Postgres(transaction) => transaction,
            Kind::Sqlite(Turn(slot)) => slot
                .as_ref()
                .expect("BUG: a turn is only handed out with an open connection"),
            Kind::Ended => unreachable!("BUG: a transaction is not used after it ended"),
        }
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.connection()
    }
}

/// Runs `statement` outside any transaction, in the database's writer turn (see
/// [`begin_write`]); on PostgreSQL, on the pool.
pub async fn write(
    pool: &Pool,
    statement: Query<'_, Any, AnyArguments>,
) -> Result<AnyQueryResult, sqlx::Error> {
    if is_postgres(pool) {
        return statement.execute(pool).await;
    }
    let mut turn = Turn::take(pool).await?;
    statement.execute(turn.connection()).await
}

/// Closes the writer connection of `pool`'s database, so that the pool's are the last to
/// close (the last one checkpoints the WAL away). Call it before closing the pool.
pub async fn close(pool: &Pool) {
    if is_postgres(pool) {
        return;
    }
    let connection = writer(pool).slot.clone().lock_owned().await.take();
    if let Some(connection) = connection {
        let _ = connection.close().await;
    }
}

/// The writer turn of one SQLite database, with its connection.
struct Turn(OwnedMutexGuard<Option<AnyConnection>>);

impl Turn {
    /// Waits for the turn, in order of arrival; opens the connection on the first write.
    async fn take(pool: &Pool) -> Result<Self, sqlx::Error> {
        if pool.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        let writer = writer(pool);
        let mut slot = writer.slot.clone().lock_owned().await;
        if slot.is_none() {
            let mut connection = writer.options.connect().await?;
            // As the pool's connections: durable across a crash of the process, and only
            // the last commits at risk on a power loss (docs/operations.md).
            connection.execute("PRAGMA synchronous = NORMAL").await?;
            *slot = Some(connection);
        }
        Ok(Self(slot))
    }

    fn connection(&mut self) -> &mut AnyConnection {
        self.0
            .as_mut()
            .expect("BUG: a turn is only handed out with an open connection")
    }

    /// Drops the connection (closing it rolls back what it had begun); the next writer
    /// opens another.
    fn discard(&mut self) {
        *self.0 = None;
    }
}

/// One SQLite database's writer: its turn, and how to open its connection.
struct Writer {
    slot: Arc<tokio::sync::Mutex<Option<AnyConnection>>>,
    options: AnyConnectOptions,
}

/// The writer of the database `pool` opens, shared by every pool of this process on the
/// same database (told apart by URL).
fn writer(pool: &Pool) -> Arc<Writer> {
    static WRITERS: LazyLock<Mutex<HashMap<String, Arc<Writer>>>> = LazyLock::new(Mutex::default);
    let options = pool.connect_options();
    let database = options.database_url.as_str();
    let mut writers = WRITERS.lock().unwrap_or_else(|poison| poison.into_inner());
    // Looked up by reference: a write allocates no key once its database has a writer.
    if let Some(writer) = writers.get(database) {
        return writer.clone();
    }
    let writer = Arc::new(Writer {
        slot: Arc::default(),
        options: (*options).clone(),
    });
    writers.insert(database.to_owned(), writer.clone());
    writer
}
