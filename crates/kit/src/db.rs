//! The service's own database: opened, hardened and migrated before the service listens.
//!
//! Services use sqlx's `Any` driver with portable SQL (`$1` placeholders, integers and
//! text), so the same store code runs on an embedded SQLite file and on PostgreSQL.

use std::fs::{self, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

pub use sqlx::AnyPool as Pool;

/// Where a service keeps its data.
#[derive(Debug, Clone)]
pub enum Database {
    /// An SQLite file, created with owner-only permissions if absent.
    Sqlite(PathBuf),
}

impl Database {
    /// The SQLite file `<data_dir>/<service>.db`.
    pub fn sqlite_in(data_dir: &Path, service: &str) -> Self {
        Self::Sqlite(data_dir.join(format!("{service}.db")))
    }
}

/// Opens the pool, switches SQLite to WAL and applies the embedded migrations.
pub async fn open(database: &Database, migrator: &Migrator) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let pool = match database {
        Database::Sqlite(path) => open_sqlite(path).await?,
    };
    migrator
        .run(&pool)
        .await
        .context("Failed to apply database migrations")?;
    Ok(pool)
}

async fn open_sqlite(path: &Path) -> anyhow::Result<AnyPool> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        crate::files::ensure_private_dir(dir)?;
    }
    // SQLite would create the file with the umask's permissions; create it first so that
    // the database, and the -wal/-shm files SQLite derives from it, are owner-only.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("Failed to create database file {}", path.display()))?;
    fs::set_permissions(path, Permissions::from_mode(0o600))
        .with_context(|| format!("Failed to restrict permissions of {}", path.display()))?;

    let url = format!("sqlite://{}?mode=rwc", encode_path(path));
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .after_connect(|connection, _| {
            Box::pin(async move {
                // WAL with NORMAL sync stays durable across application crashes and only
                // risks the last transactions on power loss; FULL would fsync every commit.
                connection.execute("PRAGMA synchronous = NORMAL").await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .with_context(|| format!("Failed to open database {}", path.display()))?;
    pool.execute("PRAGMA journal_mode = WAL")
        .await
        .context("Failed to switch the database to WAL mode")?;
    Ok(pool)
}

/// SQLite URLs are percent-decoded, so characters that mean something in a URL are escaped.
fn encode_path(path: &Path) -> String {
    path.to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23")
}

/// Begins a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes waits its turn
/// through the busy timeout instead of failing when another writer got in first.
pub async fn begin_write(
    pool: &Pool,
) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    if pool.connect_options().database_url.scheme() == "sqlite" {
        pool.begin_with("BEGIN IMMEDIATE").await
    } else {
        pool.begin().await
    }
}
