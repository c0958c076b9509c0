//! Connections that only read, for the queries on every request's path.
//!
//! sqlx's pool pings a connection when it is given back, on a task spawned for it: on
//! SQLite, whose connections each run on a worker thread of their own, that is a second
//! round trip between threads for every query, and a task (issue 14, docs/benchmarks.md).
//! An SQLite database here keeps a few connections of its own for reads instead, lent and
//! taken back without a check: the file they read cannot hang up on them. They are opened
//! when first needed, set `query_only` (a bug here cannot write), and never hold a
//! transaction, so each query sees what was last committed (WAL: readers never wait for the
//! writer, nor it for them). On PostgreSQL, reads go through the pool as before: there a
//! connection can die, and the ping on return is what finds out.

use std::sync::{Arc, Mutex, PoisonError};

use sqlx::any::{AnyArguments, AnyConnectOptions, AnyRow};
use sqlx::query::QueryAs;
use sqlx::{Any, AnyConnection, ConnectOptions, Connection, Executor, FromRow};
use tokio::sync::Semaphore;

use crate::storing::db::{ACQUIRE_TIMEOUT, Pool, is_postgres};

/// Reader connections of one SQLite database: as many as a 2-core machine keeps busy, and
/// each one a thread.
const READERS: usize = 4;

/// Where a service's reads go; cheap to clone.
#[derive(Clone)]
pub struct Readers(Arc<Source>);

enum Source {
    Pool(Pool),
    Own(Own),
}

struct Own {
    options: AnyConnectOptions,
    idle: Mutex<Vec<AnyConnection>>,
    lendable: Semaphore,
}

impl Readers {
    /// Reads of the database `pool` opens.
    pub fn of(pool: &Pool) -> Self {
        if is_postgres(pool) {
            return Self(Arc::new(Source::Pool(pool.clone())));
        }
        Self(Arc::new(Source::Own(Own {
            options: (*pool.connect_options()).clone(),
            idle: Mutex::new(Vec::with_capacity(READERS)),
            lendable: Semaphore::new(READERS),
        })))
    }

    /// The row `query` selects, if any.
    pub async fn fetch_optional<'q, O>(
        &self,
        query: QueryAs<'q, Any, O, AnyArguments>,
    ) -> Result<Option<O>, sqlx::Error>
    where
        O: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
    {
        match &*self.0 {
            Source::Pool(pool) => query.fetch_optional(pool).await,
            Source::Own(own) => {
                let mut lent = own.lend().await?;
                query.fetch_optional(lent.connection()).await
            }
        }
    }

    /// Every row `query` selects.
    pub async fn fetch_all<'q, O>(
        &self,
        query: QueryAs<'q, Any, O, AnyArguments>,
    ) -> Result<Vec<O>, sqlx::Error>
    where
        O: Send + Unpin + for<'r> FromRow<'r, AnyRow>,
    {
        match &*self.0 {
            Source::Pool(pool) => query.fetch_all(pool).await,
            Source::Own(own) => {
                let mut lent = own.lend().await?;
                query.fetch_all(lent.connection()).await
            }
        }
    }

    /// Closes the idle reader connections, so that the last connection to close is the
    /// pool's, which checkpoints the WAL. Call it before closing the pool.
    pub async fn close(&self) {
        if let Source::Own(own) = &*self.0 {
            own.lendable.close();
            let idle = std::mem::take(&mut *own.idle());
            for connection in idle {
                let _ = connection.close().await;
            }
        }
    }
}

impl Own {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<AnyConnection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection, waiting at most as long as the pool would ([`ACQUIRE_TIMEOUT`]).
    async fn lend(&self) -> Result<Lent<'_>, sqlx::Error> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.lendable.acquire())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self.idle().pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open().await?,
        };
        Ok(Lent {
            own: self,
            connection: Some(connection),
            _permit: permit,
        })
    }

    async fn open(&self) -> Result<AnyConnection, sqlx::Error> {
        let mut connection = self.options.connect().await?;
        connection.execute("PRAGMA query_only = ON").await?;
        Ok(connection)
    }
}

/// A lent connection; given back when dropped, also when its query was cancelled half-way
/// (each query has its own reply channel, so nothing of it reaches the next borrower).
struct Lent<'a> {
    own: &'a Own,
    connection: Option<AnyConnection>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Lent<'_> {
    fn connection(&mut self) -> &mut AnyConnection {
        self.connection
            .as_mut()
            .expect("BUG: a lent connection is there until it is given back")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.own.idle().push(connection);
        }
    }
}
