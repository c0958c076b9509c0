//! The service's own database: opened, hardened and migrated before the service listens.
//!
//! Services use sqlx's `Any` driver with portable SQL (`$1` placeholders, 64-bit integers
//! and text), so the same store code runs on an embedded SQLite file and on PostgreSQL.
//! Each service ships one migrations folder per dialect, applied by [`open`].

use std::fs::{self, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

pub use sqlx::AnyPool as Pool;

/// Where a service keeps its data.
#[derive(Clone)]
pub enum Database {
    /// An SQLite file, created with owner-only permissions if absent.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by URL (which may hold a password, so it is never printed).
    Postgres { url: String, max_connections: u32 },
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres {
                max_connections, ..
            } => f
                .debug_struct("Postgres")
                .field("url", &"[redacted]")
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}

impl Database {
    /// The SQLite file `<data_dir>/<service>.db`.
    pub fn sqlite_in(data_dir: &Path, service: &str) -> Self {
        Self::Sqlite(data_dir.join(format!("{service}.db")))
    }

    /// The PostgreSQL database at `url` (`postgres://...`), or an error naming the problem.
    pub fn postgres(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        anyhow::ensure!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "a database URL starts with postgres://"
        );
        Ok(Self::Postgres {
            url: url.to_owned(),
            max_connections: max_connections.max(1),
        })
    }
}

/// A service's migrations, one folder per dialect.
pub struct Migrations {
    pub sqlite: Migrator,
    pub postgres: Migrator,
}

/// Opens the pool (SQLite in WAL mode) and applies the embedded migrations.
pub async fn open(database: &Database, migrations: &Migrations) -> anyhow::Result<AnyPool> {
    sqlx::any::install_default_drivers();
    let (pool, migrator) = match database {
        Database::Sqlite(path) => (open_sqlite(path).await?, &migrations.sqlite),
        Database::Postgres {
            url,
            max_connections,
        } => (
            open_postgres(url, *max_connections).await?,
            &migrations.postgres,
        ),
    };
    migrator
        .run(&pool)
        .await
        .context("Failed to apply database migrations")?;
    Ok(pool)
}

/// How long a service starting before its database waits for it. Containers and pods
/// start in any order; a database that is still down after this is a problem to report
/// (and the orchestrator restarts the service).
pub const STARTUP_WAIT: Duration = Duration::from_secs(60);

/// How long a request waits for a database connection before it is answered 503: long
/// enough to ride out a burst that holds every pooled connection, short enough that a
/// database that is down fails its callers fast, well inside their call deadline (3 s).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

async fn open_postgres(url: &str, max_connections: u32) -> anyhow::Result<AnyPool> {
    let options = AnyPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT);
    let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
    let mut pause = Duration::from_millis(100);
    loop {
        match options.clone().connect(url).await {
            Ok(pool) => return Ok(pool),
            // Not there yet (refused, starting up): wait for it. Anything else (a wrong
            // password, an unknown database) will not mend by waiting.
            Err(error)
                if crate::error::database_unreachable(&error)
                    && tokio::time::Instant::now() + pause < deadline =>
            {
                tracing::warn!(%error, retry_in_ms = pause.as_millis() as u64, "waiting for PostgreSQL");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            // The error of a failed connection names host and user, never the password.
            Err(error) => anyhow::bail!("Failed to connect to PostgreSQL: {error}"),
        }
    }
}

/// Whether `pool` talks to PostgreSQL.
pub fn is_postgres(pool: &Pool) -> bool {
    matches!(
        pool.connect_options().database_url.scheme(),
        "postgres" | "postgresql"
    )
}

/// After rows were inserted with explicit ids (seed data), moves `table`'s id sequence past
/// them, so that the next generated id follows the highest; SQLite's AUTOINCREMENT does so
/// by itself.
pub async fn sync_id_sequence(pool: &Pool, table: &'static str) -> Result<(), sqlx::Error> {
    if !is_postgres(pool) {
        return Ok(());
    }
    // `table` is a compile-time name, never input.
    let statement = format!(
        "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
         GREATEST((SELECT MAX(id) FROM {table}), 1))"
    );
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(pool)
        .await
        .map(drop)
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
        // sqlx pings a connection before lending it by default: a round trip to the
        // connection's worker thread on every query, to find out whether a file it has open
        // is still there (issue 14). It pings it on return anyway.
        .test_before_acquire(false)
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
