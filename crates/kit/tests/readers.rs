//! The reader connections of an SQLite database, on a real file.

use kit::storing::db::{Database, Migrations, Pool, open};
use kit::storing::readers::Readers;
use sqlx::migrate::Migrator;

static NO_MIGRATIONS: Migrations = Migrations {
    sqlite: Migrator::DEFAULT,
    postgres: Migrator::DEFAULT,
};

async fn database(dir: &std::path::Path) -> (Pool, Readers, std::path::PathBuf) {
    let path = dir.join("readers.db");
    let pool = open(&Database::Sqlite(path.clone()), &NO_MIGRATIONS)
        .await
        .expect("the database opens");
    sqlx::query("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        .execute(&pool)
        .await
        .expect("a table");
    let readers = Readers::of(&pool);
    (pool, readers, path)
}

fn wal_of(path: &std::path::Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

#[tokio::test]
async fn readers_see_every_commit_and_cannot_write() {
    let dir = tempfile::tempdir().expect("a directory");
    let (pool, readers, _) = database(dir.path()).await;
    for n in 1..=3_i64 {
        sqlx::query("INSERT INTO things (id, name) VALUES ($1, $2)")
            .bind(n)
            .bind(format!("thing {n}"))
            .execute(&pool)
            .await
            .expect("an insert");
        // The read right after the commit sees it, on whichever reader it gets.
        let names: Vec<(String,)> = readers
            .fetch_all(sqlx::query_as("SELECT name FROM things ORDER BY id"))
            .await
            .expect("a read");
        assert_eq!(names.len() as i64, n);
    }
    let written: Result<Option<(i64,)>, _> = readers
        .fetch_optional(sqlx::query_as(
            "INSERT INTO things (id, name) VALUES (99, 'sneaked in') RETURNING id",
        ))
        .await;
    assert!(written.is_err(), "a reader wrote: {written:?}");
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM things")
        .fetch_one(&pool)
        .await
        .expect("a count");
    assert_eq!(count, 3);
}

#[tokio::test]
async fn closing_readers_then_the_pool_leaves_no_write_ahead_log() {
    let dir = tempfile::tempdir().expect("a directory");
    let (pool, readers, path) = database(dir.path()).await;
    let found: Option<(i64,)> = readers
        .fetch_optional(sqlx::query_as("SELECT id FROM things WHERE id = 1"))
        .await
        .expect("a read");
    assert!(found.is_none());
    assert!(wal_of(&path).exists(), "WAL mode keeps a log while open");
    readers.close().await;
    pool.close().await;
    assert!(
        !wal_of(&path).exists(),
        "the last connection to close checkpoints and removes the log"
    );
}

#[tokio::test]
async fn a_reader_left_open_keeps_the_write_ahead_log() {
    // The control of the test above: the order of closing is what removes the log.
    let dir = tempfile::tempdir().expect("a directory");
    let (pool, readers, path) = database(dir.path()).await;
    let _: Option<(i64,)> = readers
        .fetch_optional(sqlx::query_as("SELECT id FROM things WHERE id = 1"))
        .await
        .expect("a read");
    pool.close().await;
    assert!(wal_of(&path).exists());
    readers.close().await;
}
