//! The reading threads of an SQLite database, on a real file.

use kit::storing::db::{Database, Migrations, Pool, open};
use kit::storing::readers::Readers;
use kit::storing::statement::{Record, Row, Statement};
use sqlx::migrate::Migrator;

#[derive(Debug, PartialEq)]
struct Thing {
    id: i64,
    name: String,
}

impl Record for Thing {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.integer("id")?,
            name: row.text("name")?,
        })
    }
}

kit::record_from_row!(Thing);

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
        let things: Vec<Thing> = readers
            .fetch_all(Statement::new("SELECT id, name FROM things ORDER BY id"))
            .await
            .expect("a read");
        assert_eq!(things.len() as i64, n);
        assert_eq!(things.last().map(|thing| thing.id), Some(n));
    }
    let written: Result<Option<Thing>, _> = readers
        .fetch_optional(Statement::new(
            "INSERT INTO things (id, name) VALUES (99, 'sneaked in') RETURNING id, name",
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
    let found: Option<Thing> = readers
        .fetch_optional(Statement::new("SELECT id, name FROM things WHERE id = 1"))
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
    let _: Option<Thing> = readers
        .fetch_optional(Statement::new("SELECT id, name FROM things WHERE id = 1"))
        .await
        .expect("a read");
    pool.close().await;
    assert!(wal_of(&path).exists());
    readers.close().await;
}

#[tokio::test]
async fn arguments_bind_by_their_number_not_by_where_they_appear() {
    let dir = tempfile::tempdir().expect("a directory");
    let (pool, readers, _) = database(dir.path()).await;
    sqlx::query("INSERT INTO things (id, name) VALUES (1, 'one'), (2, 'two')")
        .execute(&pool)
        .await
        .expect("an insert");
    // `$2` comes first in the text: SQLite numbers it 1, yet it is the second argument.
    let found: Option<Thing> = readers
        .fetch_optional(
            Statement::new("SELECT id, name FROM things WHERE name = $2 AND id = $1 OR $1 IS NULL")
                .bind(2)
                .bind("two"),
        )
        .await
        .expect("a read");
    assert_eq!(
        found,
        Some(Thing {
            id: 2,
            name: "two".to_owned()
        })
    );
    let missing: Result<Option<Thing>, _> = readers
        .fetch_optional(Statement::new("SELECT id, name FROM things WHERE id = $1"))
        .await;
    assert!(
        matches!(missing, Err(sqlx::Error::InvalidArgument(_))),
        "{missing:?}"
    );
    readers.close().await;
    pool.close().await;
}

#[tokio::test]
async fn a_null_where_a_value_belongs_is_an_error_and_the_same_row_decodes_through_sqlx() {
    let dir = tempfile::tempdir().expect("a directory");
    let (pool, readers, _) = database(dir.path()).await;
    let null: Result<Option<Thing>, _> = readers
        .fetch_optional(Statement::new("SELECT 1 AS id, NULL AS name"))
        .await;
    assert!(
        matches!(&null, Err(sqlx::Error::ColumnDecode { index, .. }) if index == "name"),
        "{null:?}"
    );
    let unknown: Result<Option<Thing>, _> = readers
        .fetch_optional(Statement::new("SELECT 1 AS id"))
        .await;
    assert!(
        matches!(&unknown, Err(sqlx::Error::ColumnNotFound(name)) if name == "name"),
        "{unknown:?}"
    );
    // The record_from_row! decoding: a row written through sqlx comes back the same way.
    let written: Thing =
        sqlx::query_as("INSERT INTO things (id, name) VALUES ($1, $2) RETURNING id, name")
            .bind(7_i64)
            .bind("seven")
            .fetch_one(&pool)
            .await
            .expect("an insert");
    let read: Option<Thing> = readers
        .fetch_optional(Statement::new("SELECT id, name FROM things WHERE id = $1").bind(7))
        .await
        .expect("a read");
    assert_eq!(read, Some(written));
    readers.close().await;
    pool.close().await;
}

#[tokio::test]
async fn a_read_after_closing_is_refused() {
    let dir = tempfile::tempdir().expect("a directory");
    let (pool, readers, _) = database(dir.path()).await;
    readers.close().await;
    let refused: Result<Vec<Thing>, _> = readers
        .fetch_all(Statement::new("SELECT id, name FROM things"))
        .await;
    assert!(
        matches!(refused, Err(sqlx::Error::PoolClosed)),
        "{refused:?}"
    );
    pool.close().await;
}
