//! Write transactions on a real SQLite file: a transaction is handed to the database's
//! writing thread whole, and must keep what a transaction promises.

use kit::storing::db::{Database, Migrations, Pool, open};
use kit::storing::statement::Statement;
use kit::storing::write::{End, close, execute, transact};
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

fn insert(name: &str) -> Statement {
    Statement::new("INSERT INTO things (name) VALUES ($1)").bind(name)
}

#[tokio::test]
async fn a_transaction_commits_its_statements_and_reads_what_it_wrote() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    let (first, seen) = transact(&pool, |tx| {
        let first = tx.integer(
            Statement::new("INSERT INTO things (name) VALUES ($1) RETURNING id").bind("first"),
            "id",
        )?;
        tx.execute(insert("second"))?;
        // Its own writes, before the commit.
        let seen = tx.integer(
            Statement::new("SELECT COUNT(*) AS seen FROM things"),
            "seen",
        )?;
        Ok(End::Commit((first, seen)))
    })
    .await
    .expect("committed");
    assert_eq!((first, seen), (Some(1), Some(2)));
    assert_eq!(names(&pool).await, ["first", "second"]);
    let changed = execute(
        &pool,
        Statement::new("UPDATE things SET name = name || '!'"),
    )
    .await
    .expect("an update");
    assert_eq!(changed, 2, "execute counts the rows changed");
}

#[tokio::test]
async fn a_failure_a_rollback_or_a_panic_leaves_nothing_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    execute(&pool, insert("taken")).await.expect("a row");

    // The name is taken: the last statement fails, and the first must go with it.
    let failed = transact(&pool, |tx| {
        tx.execute(insert("one"))?;
        tx.execute(insert("taken"))?;
        Ok(End::Commit(()))
    })
    .await;
    assert!(failed.is_err(), "a duplicate name was accepted");

    let rolled_back = transact(&pool, |tx| {
        tx.execute(insert("two"))?;
        Ok(End::RollBack("given back"))
    })
    .await
    .expect("rolled back");
    assert_eq!(rolled_back, "given back");

    let panicked = transact(&pool, |tx| -> Result<End<()>, sqlx::Error> {
        tx.execute(insert("three"))?;
        panic!("a bug in the work");
    })
    .await;
    assert!(panicked.is_err(), "a panic in the work reads as success");

    assert_eq!(names(&pool).await, ["taken"]);
    execute(&pool, insert("four"))
        .await
        .expect("the writing thread outlives a panic");
    assert_eq!(names(&pool).await, ["taken", "four"]);
}

#[tokio::test]
async fn concurrent_transactions_take_turns() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    sqlx::query("CREATE TABLE counter (value INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .expect("a table");
    execute(
        &pool,
        Statement::new("INSERT INTO counter (value) VALUES (0)"),
    )
    .await
    .expect("a row");
    // Each reads the value and writes it back one higher, in two statements: a lost
    // update, or a transaction refused as busy, would show in the total.
    let increments = (0..64).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            transact(&pool, |tx| {
                let value = tx
                    .integer(Statement::new("SELECT value FROM counter"), "value")?
                    .unwrap_or(0);
                tx.execute(Statement::new("UPDATE counter SET value = $1").bind(value + 1))?;
                Ok(End::Commit(()))
            })
            .await
        })
    });
    for increment in futures::future::join_all(increments).await {
        increment.expect("the task ran").expect("committed");
    }
    let total: i64 = sqlx::query_scalar("SELECT value FROM counter")
        .fetch_one(&pool)
        .await
        .expect("a read");
    assert_eq!(total, 64);
}

#[tokio::test]
async fn in_a_group_each_transaction_keeps_or_loses_only_its_own_work() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    execute(&pool, insert("taken")).await.expect("a row");
    // Sent together, so that the writing thread finds many queued and commits them as
    // groups: every third fails after a first insert, every third rolls back.
    let transactions = (0..96).map(|n| {
        let pool = pool.clone();
        tokio::spawn(async move {
            transact(&pool, move |tx| {
                tx.execute(insert(&format!("thing {n}")))?;
                match n % 3 {
                    0 => Ok(End::Commit(n)),
                    1 => tx.execute(insert("taken")).map(|_| End::Commit(n)),
                    _ => Ok(End::RollBack(n)),
                }
            })
            .await
        })
    });
    let outcomes = futures::future::join_all(transactions).await;
    for (n, outcome) in outcomes.into_iter().enumerate() {
        let outcome = outcome.expect("the task ran");
        assert_eq!(outcome.is_err(), n % 3 == 1, "transaction {n}: {outcome:?}");
    }
    let kept = names(&pool).await;
    let expected: Vec<String> = std::iter::once("taken".to_owned())
        .chain((0..96).step_by(3).map(|n| format!("thing {n}")))
        .collect();
    assert_eq!(kept, expected);
}

#[tokio::test]
async fn closing_the_writer_then_the_pool_leaves_no_wal_and_the_file_opens_again() {
    let dir = tempfile::tempdir().expect("a directory");
    let pool = database(dir.path()).await;
    execute(&pool, insert("kept")).await.expect("a write");
    let wal = dir.path().join("write.db-wal");
    assert!(
        wal.exists(),
        "a write in WAL mode leaves a WAL while connections are open"
    );

    close(&pool).await;
    pool.close().await;
    // The writing connection closed first, so the pool's last connection checkpointed the
    // WAL away: nothing of the data lives only in it.
    assert!(!wal.exists(), "the WAL outlived every connection");

    // The same file, opened again in this process, gets a writer again.
    let pool = open(
        &Database::Sqlite(dir.path().join("write.db")),
        &NO_MIGRATIONS,
    )
    .await
    .expect("the database opens again");
    execute(&pool, insert("after"))
        .await
        .expect("a write after reopening");
    assert_eq!(names(&pool).await, ["kept", "after"]);
}
