//! The gateway's database: sessions and API keys, found by the hash of their secret.

use kit::storing::db::Pool;
use kit::storing::readers::Readers;
use kit::storing::statement::{Record, Row, Statement};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub role: String,
    pub user_agent_hash: String,
    pub network: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// Why the session was ended before its time, if it was (see [`end_session`]).
    pub ended_reason: Option<String>,
}

impl Record for SessionRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.integer("id")?,
            user_id: row.integer("user_id")?,
            role: row.text("role")?,
            user_agent_hash: row.text("user_agent_hash")?,
            network: row.text("network")?,
            created_at: row.integer("created_at")?,
            last_seen_at: row.integer("last_seen_at")?,
            expires_at: row.integer("expires_at")?,
            ended_reason: row.optional_text("ended_reason")?,
        })
    }
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: i64,
    pub role: &'a str,
    pub user_agent_hash: &'a str,
    pub network: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn insert_session(pool: &Pool, session: &NewSession<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO sessions (token_hash, user_id, role, user_agent_hash, network, created_at,
                               last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id",
    )
    .bind(session.token_hash)
    .bind(session.user_id)
    .bind(session.role)
    .bind(session.user_agent_hash)
    .bind(session.network)
    .bind(session.now)
    .bind(session.expires_at)
    .fetch_one(pool)
    .await
}

/// A query for the sessions matching `condition`, with every column of [`SessionRow`].
macro_rules! select_session {
    ($condition:literal) => {
        concat!(
            "SELECT id, user_id, role, user_agent_hash, network, created_at, last_seen_at, ",
            "expires_at, ended_reason FROM sessions WHERE ",
            $condition
        )
    };
}

pub async fn find_session(
    readers: &Readers,
    token_hash: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    readers
        .fetch_optional(Statement::new(select_session!("token_hash = $1")).bind(token_hash))
        .await
}

pub async fn session_by_id(pool: &Pool, id: i64) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as(select_session!("id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn touch_session(pool: &Pool, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

pub async fn delete_session(pool: &Pool, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await
        .map(drop)
}

/// Ends a session but keeps it, marked with `reason`, so that whoever presents it next is
/// told why; [`purge_sessions`] removes it when it would have timed out.
pub async fn end_session(pool: &Pool, id: i64, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET ended_reason = $2 WHERE id = $1")
        .bind(id)
        .bind(reason)
        .execute(pool)
        .await
        .map(drop)
}

/// The sessions of a user that are still in use, newest first.
pub async fn user_sessions(
    pool: &Pool,
    user_id: i64,
    now: i64,
    idle_cutoff: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(select_session!(
        "user_id = $1 AND ended_reason IS NULL AND expires_at > $2 AND last_seen_at > $3 \
         ORDER BY id DESC LIMIT 100"
    ))
    .bind(user_id)
    .bind(now)
    .bind(idle_cutoff)
    .fetch_all(pool)
    .await
}

/// Ends every session of a user but `keep` (the one asking, when it stays logged in).
pub async fn delete_user_sessions(
    pool: &Pool,
    user_id: i64,
    keep: Option<i64>,
) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep.unwrap_or(0))
        .execute(pool)
        .await
        .map(|result| result.rows_affected())
}

/// Removes sessions that can no longer be used, so the table does not grow without bound.
pub async fn purge_sessions(pool: &Pool, now: i64, idle_cutoff: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now)
        .bind(idle_cutoff)
        .execute(pool)
        .await
        .map(|result| result.rows_affected())
}

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: i64,
    pub prefix: String,
    pub user_id: i64,
    pub role: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Record for ApiKeyRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.integer("id")?,
            prefix: row.text("prefix")?,
            user_id: row.integer("user_id")?,
            role: row.text("role")?,
            name: row.text("name")?,
            scopes: row.text("scopes")?,
            created_at: row.integer("created_at")?,
            last_used_at: row.optional_integer("last_used_at")?,
            revoked_at: row.optional_integer("revoked_at")?,
        })
    }
}

kit::record_from_row!(SessionRow, ApiKeyRow);

macro_rules! key_columns {
    () => {
        "id, prefix, user_id, role, name, scopes, created_at, last_used_at, revoked_at"
    };
}

pub struct NewApiKey<'a> {
    pub key_hash: &'a str,
    pub prefix: &'a str,
    pub user_id: i64,
    pub role: &'a str,
    pub name: &'a str,
    pub scopes: &'a str,
    pub now: i64,
}

pub async fn insert_key(pool: &Pool, key: &NewApiKey<'_>) -> Result<ApiKeyRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "INSERT INTO api_keys (key_hash, prefix, user_id, role, name, scopes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        key_columns!()
    ))
    .bind(key.key_hash)
    .bind(key.prefix)
    .bind(key.user_id)
    .bind(key.role)
    .bind(key.name)
    .bind(key.scopes)
    .bind(key.now)
    .fetch_one(pool)
    .await
}

pub async fn find_key(readers: &Readers, key_hash: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    readers
        .fetch_optional(
            Statement::new(concat!(
                "SELECT ",
                key_columns!(),
                " FROM api_keys WHERE key_hash = $1"
            ))
            .bind(key_hash),
        )
        .await
}

pub async fn list_keys(pool: &Pool, user_id: i64) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
}

/// Revokes one of the user's keys; false if the user has no such key.
pub async fn revoke_key(pool: &Pool, user_id: i64, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND user_id = $3",
    )
    .bind(now)
    .bind(id)
    .bind(user_id)
    .execute(pool)
    .await
    .map(|result| result.rows_affected() > 0)
}

/// Revokes every key of a user that is not revoked yet; how many.
pub async fn revoke_user_keys(pool: &Pool, user_id: i64, now: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|result| result.rows_affected())
}

/// Gives every live key of a user the role `role`, which caps the scopes the key carries;
/// how many.
pub async fn set_user_key_role(pool: &Pool, user_id: i64, role: &str) -> Result<u64, sqlx::Error> {
    sqlx::query("UPDATE api_keys SET role = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(role)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|result| result.rows_affected())
}

/// Records the first use of a key: true for the one call that wrote it.
pub async fn first_use_of_key(pool: &Pool, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND last_used_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|result| result.rows_affected() == 1)
}

/// Records a use; written at most once a second per key.
pub async fn touch_key(pool: &Pool, id: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1
         WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await
    .map(drop)
}
