//! The `security_events` table.

use kit::storing::db::Pool;
use kit::storing::statement::{Record, Row};

use super::event::{Event, Retention};

/// One stored event.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub address: Option<String>,
    pub detail: String,
}

impl Record for EventRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.integer("id")?,
            at: row.integer("at")?,
            kind: row.text("kind")?,
            user_id: row.optional_integer("user_id")?,
            address: row.optional_text("address")?,
            detail: row.text("detail")?,
        })
    }
}

kit::record_from_row!(EventRow);

/// Writes `events` in one transaction, then cuts the table to `retention`: older than its
/// days, or beyond its rows (by id, which grows with time), goes.
pub async fn insert(
    pool: &Pool,
    events: &[Event],
    retention: Retention,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let mut last = 0;
    for event in events {
        last = sqlx::query_scalar(
            "INSERT INTO security_events (at, kind, user_id, address, detail)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(event.at)
        .bind(event.kind.as_str())
        .bind(event.user_id)
        .bind(event.address.as_deref())
        .bind(event.detail.as_str())
        .fetch_one(&mut *transaction)
        .await?;
    }
    let oldest = kit::time::now_unix() - i64::from(retention.days) * 86_400;
    let keep_from = last - i64::try_from(retention.rows).unwrap_or(i64::MAX) + 1;
    sqlx::query("DELETE FROM security_events WHERE at < $1 OR id < $2")
        .bind(oldest)
        .bind(keep_from)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await
}

/// What an administrator asks for; `None` is "any".
pub struct Filter<'a> {
    pub kind: Option<&'a str>,
    pub user_id: Option<i64>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Only events older than this id (the cursor of the page before).
    pub before: Option<i64>,
    pub fetch: i64,
}

/// The newest events that match `filter`, newest first.
pub async fn newest(pool: &Pool, filter: &Filter<'_>) -> Result<Vec<EventRow>, sqlx::Error> {
    // Every parameter is bound with a value (never NULL, whose type PostgreSQL cannot
    // infer): "" and the extremes of i64 stand for "any".
    sqlx::query_as(
        "SELECT id, at, kind, user_id, address, detail FROM security_events
         WHERE ($1 = '' OR kind = $1)
           AND ($2 = 0 OR user_id = $2)
           AND at >= $3 AND at <= $4 AND id < $5
         ORDER BY id DESC LIMIT $6",
    )
    .bind(filter.kind.unwrap_or(""))
    .bind(filter.user_id.unwrap_or(0))
    .bind(filter.since.unwrap_or(i64::MIN))
    .bind(filter.until.unwrap_or(i64::MAX))
    .bind(filter.before.unwrap_or(i64::MAX))
    .bind(filter.fetch)
    .fetch_all(pool)
    .await
}
