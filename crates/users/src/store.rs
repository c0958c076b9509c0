//! The users table: the only code that talks to user-service's database.

use kit::storing::db::Pool;
use kit::storing::readers::Readers;
use kit::storing::statement::{Record, Row, Statement};

/// A stored user, as read back from the database.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for UserRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.integer("id")?,
            email: row.text("email")?,
            name: row.text("name")?,
            role: row.text("role")?,
            created_at: row.integer("created_at")?,
            updated_at: row.integer("updated_at")?,
        })
    }
}

kit::record_from_row!(UserRow);

/// The columns of [`UserRow`]; a macro so that statements stay `&'static str`.
macro_rules! columns {
    () => {
        "id, email, name, role, created_at, updated_at"
    };
}

pub struct InsertUser<'a> {
    pub id: Option<i64>,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub now: i64,
}

pub async fn insert<'c>(
    db: impl sqlx::Executor<'c, Database = sqlx::Any>,
    user: &InsertUser<'_>,
) -> Result<UserRow, sqlx::Error> {
    // The id column is named only when given: PostgreSQL generates an id only when the
    // column is left out, SQLite also for NULL.
    let statement = if user.id.is_some() {
        concat!(
            "INSERT INTO users (email, name, password_hash, role, created_at, updated_at, id)
             VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ",
            columns!()
        )
    } else {
        concat!(
            "INSERT INTO users (email, name, password_hash, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            columns!()
        )
    };
    let mut query = sqlx::query_as(statement)
        .bind(user.email)
        .bind(user.name)
        .bind(user.password_hash)
        .bind(user.role)
        .bind(user.now);
    if let Some(id) = user.id {
        query = query.bind(id);
    }
    query.fetch_one(db).await
}

pub async fn find(readers: &Readers, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    readers
        .fetch_optional(
            Statement::new(concat!("SELECT ", columns!(), " FROM users WHERE id = $1")).bind(id),
        )
        .await
}

/// Users with an id above `after`, in id order: keyset pagination, stable under inserts.
pub async fn list_after(pool: &Pool, after: i64, limit: i64) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

pub struct UpdateUser<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub role: Option<&'a str>,
    pub now: i64,
}

pub async fn update(
    pool: &Pool,
    id: i64,
    changes: &UpdateUser<'_>,
) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "UPDATE users SET email = COALESCE($1, email), name = COALESCE($2, name),
                password_hash = COALESCE($3, password_hash), role = COALESCE($4, role),
                updated_at = $5
         WHERE id = $6 RETURNING ",
        columns!(),
        ""
    ))
    .bind(changes.email)
    .bind(changes.name)
    .bind(changes.password_hash)
    .bind(changes.role)
    .bind(changes.now)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// What a login is checked against.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub role: String,
    pub password_hash: String,
}

pub async fn credentials_by_email(
    pool: &Pool,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, role, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn credentials_by_id(pool: &Pool, id: i64) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, role, password_hash FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn delete(pool: &Pool, id: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() > 0)
}

pub async fn count(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await
}
