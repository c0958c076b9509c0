//! Where the reads on every request's path go.
//!
//! On SQLite, to threads of their own with a connection each ([`sqlite_readers`]), which
//! see what was last committed (WAL: readers never wait for the writer, nor it for them).
//! On PostgreSQL, through the pool, whose ping on giving a connection back is what finds
//! out that a server hung up. Either way a read is a [`Statement`] and gives a [`Record`].
//!
//! [`sqlite_readers`]: crate::storing::sqlite_readers

use std::sync::Arc;

use sqlx::any::AnyRow;

use crate::storing::db::{Pool, is_postgres};
use crate::storing::sqlite_readers::SqliteReaders;
use crate::storing::statement::{Record, Row, Statement};

/// Where a service's reads go; cheap to clone.
#[derive(Clone)]
pub struct Readers(Arc<Source>);

enum Source {
    Pool(Pool),
    Sqlite(SqliteReaders),
}

impl Readers {
    /// Reads of the database `pool` opens.
    pub fn of(pool: &Pool) -> Self {
        if is_postgres(pool) {
            return Self(Arc::new(Source::Pool(pool.clone())));
        }
        match sqlx::sqlite::SqliteConnectOptions::try_from(&*pool.connect_options()) {
            Ok(options) => Self(Arc::new(Source::Sqlite(SqliteReaders::start(
                options.get_filename().to_owned(),
            )))),
            Err(error) => {
                // Not expected: the pool opened this file. Reads still work, slower.
                tracing::warn!(%error, "SQLite reads go through the pool");
                Self(Arc::new(Source::Pool(pool.clone())))
            }
        }
    }

    /// The first row `read` selects, if any.
    pub async fn fetch_optional<O: Record>(
        &self,
        read: Statement,
    ) -> Result<Option<O>, sqlx::Error> {
        match &*self.0 {
            Source::Pool(pool) => match read.into_query().fetch_optional(pool).await? {
                Some(row) => decode(&row).map(Some),
                None => Ok(None),
            },
            Source::Sqlite(readers) => Ok(readers.fetch(read, 1).await?.into_iter().next()),
        }
    }

    /// Every row `read` selects.
    pub async fn fetch_all<O: Record>(&self, read: Statement) -> Result<Vec<O>, sqlx::Error> {
        match &*self.0 {
            Source::Pool(pool) => read
                .into_query()
                .fetch_all(pool)
                .await?
                .iter()
                .map(decode)
                .collect(),
            Source::Sqlite(readers) => readers.fetch(read, usize::MAX).await,
        }
    }

    /// Lets the reads under way finish and closes the SQLite readers' connections, so that
    /// the last connection to close is the pool's, which checkpoints the WAL. Call it
    /// before closing the pool.
    pub async fn close(&self) {
        if let Source::Sqlite(readers) = &*self.0 {
            readers.close().await;
        }
    }
}

fn decode<O: Record>(row: &AnyRow) -> Result<O, sqlx::Error> {
    O::from_row(&Row::new(row))
}
