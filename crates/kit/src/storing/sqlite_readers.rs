//! Reads of an SQLite file on threads of their own ([`SqliteThreads`]), each with a
//! read-only connection.
//!
//! A read cost about 20 µs of CPU through sqlx's driver and 7 µs here (docs/benchmarks.md,
//! finding 16): rows decode straight into the caller's type, with no allocation per value.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::storing::sqlite_statement::{self, driver_error};
use crate::storing::sqlite_threads::{Serving, SqliteThreads};
use crate::storing::statement::{Record, Statement};

/// Reading threads per database: two keep both cores busy while one waits on the disk.
const THREADS: usize = 2;

/// Prepared statements each thread keeps: every hot read of a service, with room.
const STATEMENTS: usize = 32;

/// The reading threads of one SQLite file.
pub(crate) struct SqliteReaders(SqliteThreads);

impl SqliteReaders {
    /// Starts the threads; each opens its connection at its first read.
    pub(crate) fn start(path: PathBuf) -> Self {
        Self(SqliteThreads::start(
            "sqlite-reader",
            THREADS,
            Serving::Each,
            path,
            open,
        ))
    }

    /// At most `limit` rows of `read`.
    pub(crate) async fn fetch<O: Record>(
        &self,
        read: Statement,
        limit: usize,
    ) -> Result<Vec<O>, sqlx::Error> {
        self.0
            .run(move |slot| {
                let mut records = Vec::new();
                if limit > 0 {
                    sqlite_statement::run(slot.connection()?, &read, &mut |row| {
                        records.push(O::from_row(row)?);
                        Ok(records.len() < limit)
                    })?;
                }
                Ok(records)
            })
            .await
    }

    /// Lets the queued reads finish, then closes the connections.
    pub(crate) async fn close(&self) {
        self.0.close().await;
    }
}

fn open(path: &Path) -> Result<Connection, sqlx::Error> {
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
