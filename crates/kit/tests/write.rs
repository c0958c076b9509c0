//! Write transactions on a real SQLite file: the BEGIN sent with the first statement and the
//! COMMIT with the last must keep what a transaction promises.

use kit::storing::db::{Database, Migrations, Pool, open};
use kit::storing::write::{begin_write, begin_write_with};
use sqlx::migrate::Migrator;

static NO_MIGRATIONS: Migrations = Migrations {
    sqlite: Migrator::DEFAULT,
    postgres: Migrator::DEFAULT,
};

async fn database(dir: &std::path::Path) -> Pool {
    let pool = open(&Database::Sqlite(dir.join("write.db")), &NO_MIGRATIONS)
        .await
        .expect("the database opens");
    sqlx::query("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        .execute(&pool)
        .await
        .expect("a table");
    pool
}

async fn names(pool: &Pool) -> Vec<String> {
    sqlx::query_scalar("SELECT name FROM things ORDER BY id")
        .fetch_all(pool)
        .await
        .expect("a read")
}

fn insert(name: &str) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query("INSERT INTO things (name) VALUES ($1)").bind(name)
}

#[tokio::test]
async fn the_first_and_last_statements_commit_with_the_rest() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    let first = sqlx::query_as("INSERT INTO things (name) VALUES ($1) RETURNING id").bind("first");
    let (mut transaction, ids): (_, Vec<(i64,)>) =
        begin_write_with(&pool, first).await.expect("begun");
    assert_eq!(ids, vec![(1,)], "the first statement's rows come back");
    insert("middle")
        .execute(&mut *transaction)
        .await
        .expect("a middle statement");
    // Not visible to others before the commit: it is one transaction, not three statements.
    assert!(names(&pool).await.is_empty());
    transaction
        .commit_with(insert("last"))
        .await
        .expect("committed");
    assert_eq!(names(&pool).await, ["first", "middle", "last"]);
}

#[tokio::test]
async fn a_failing_last_statement_or_a_dropped_transaction_leaves_nothing() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    insert("taken").execute(&pool).await.expect("a row");

    let (transaction, _): (_, Vec<(i64,)>) = begin_write_with(
        &pool,
        sqlx::query_as("INSERT INTO things (name) VALUES ('one') RETURNING id"),
    )
    .await
    .expect("begun");
    // The name is taken: the statement fails, and the COMMIT sent with it must not run.
    let failed = transaction.commit_with(insert("taken")).await;
    assert!(failed.is_err(), "a duplicate name was accepted");

    // Dropped before its commit, as a cancelled request drops it.
    let (transaction, _): (_, Vec<(i64,)>) = begin_write_with(
        &pool,
        sqlx::query_as("INSERT INTO things (name) VALUES ('two') RETURNING id"),
    )
    .await
    .expect("begun");
    drop(transaction);

    // The next writer waits for the rollbacks, then finds the database as it was.
    let transaction = begin_write(&pool)
        .await
        .expect("the writer turn comes back");
    transaction.commit().await.expect("an empty commit");
    assert_eq!(names(&pool).await, ["taken"]);
    insert("three").execute(&pool).await.expect("a later write");
    assert_eq!(names(&pool).await, ["taken", "three"]);
}

#[tokio::test]
async fn closing_the_writer_then_the_pool_leaves_no_wal_and_the_file_opens_again() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    let transaction = begin_write(&pool).await.expect("begun");
    transaction
        .commit_with(insert("kept"))
        .await
        .expect("committed");
    kit::storing::write::write(&pool, insert("also kept"))
        .await
        .expect("a single write");
    let wal = dir.path().join("write.db-wal");
    assert!(
        wal.exists(),
        "a write in WAL mode leaves a WAL while connections are open"
    );

    kit::storing::write::close(&pool).await;
    pool.close().await;
    // The writer connection closed first, so the pool's last connection checkpointed the
    // WAL away: nothing of the data lives only in it.
    assert!(!wal.exists(), "the WAL outlived every connection");

    // The same file, opened again in this process, gets a writer again.
    let pool = open(
        &Database::Sqlite(dir.path().join("write.db")),
        &NO_MIGRATIONS,
    )
    .await
    .expect("the database opens again");
    kit::storing::write::write(&pool, insert("after"))
        .await
        .expect("a write after reopening");
    assert_eq!(names(&pool).await, ["kept", "also kept", "after"]);
}
