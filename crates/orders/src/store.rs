//! The orders, order_items and idempotency_keys tables: the only code that talks to
//! order-service's database.

use kit::storing::db::Pool;
use kit::storing::readers::Readers;
use kit::storing::statement::{Record, Row, Statement};
use kit::storing::write::{self, End, Statements};

use crate::domain::{KEY_RETENTION_SECONDS, NewOrder, OrderStatus};

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: i64,
    pub user_id: i64,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for OrderRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        let status = row.text("status")?;
        Ok(Self {
            id: row.integer("id")?,
            user_id: row.integer("user_id")?,
            status: OrderStatus::try_from(status.as_str()).map_err(|error| {
                sqlx::Error::ColumnDecode {
                    index: "status".to_owned(),
                    source: Box::new(error),
                }
            })?,
            total_cents: row.integer("total_cents")?,
            created_at: row.integer("created_at")?,
            updated_at: row.integer("updated_at")?,
        })
    }
}

kit::record_from_row!(OrderRow);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ItemRow {
    pub product_id: i64,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

macro_rules! columns {
    () => {
        "id, user_id, status, total_cents, created_at, updated_at"
    };
}

/// Records a new order as `pending` with its items, before any stock is asked for (the demo
/// order of the seed, under its own id).
pub async fn insert_pending(
    pool: &Pool,
    order: &NewOrder,
    explicit_id: Option<i64>,
    now: i64,
) -> Result<OrderRow, sqlx::Error> {
    let order = order.clone();
    write::transact(pool, move |tx| {
        Ok(End::Commit(record_pending(tx, &order, explicit_id, now)?))
    })
    .await
}

fn record_pending(
    tx: &mut dyn Statements,
    order: &NewOrder,
    explicit_id: Option<i64>,
    now: i64,
) -> Result<OrderRow, sqlx::Error> {
    // The id column is named only when given: PostgreSQL generates an id only when the
    // column is left out, SQLite also for NULL.
    let insert = match explicit_id {
        Some(id) => Statement::new(concat!(
            "INSERT INTO orders (user_id, status, created_at, updated_at, id)
             VALUES ($1, 'pending', $2, $2, $3) RETURNING ",
            columns!()
        ))
        .bind(order.user_id)
        .bind(now)
        .bind(id),
        None => Statement::new(concat!(
            "INSERT INTO orders (user_id, status, created_at, updated_at)
             VALUES ($1, 'pending', $2, $2) RETURNING ",
            columns!()
        ))
        .bind(order.user_id)
        .bind(now),
    };
    let row: OrderRow = tx.fetch_optional(insert)?.ok_or(sqlx::Error::RowNotFound)?;
    for line in &order.lines {
        tx.execute(
            Statement::new(
                "INSERT INTO order_items (order_id, product_id, quantity) VALUES ($1, $2, $3)",
            )
            .bind(row.id)
            .bind(line.product_id)
            .bind(line.quantity),
        )?;
    }
    Ok(row)
}

pub async fn find(readers: &Readers, id: i64) -> Result<Option<OrderRow>, sqlx::Error> {
    readers
        .fetch_optional(
            Statement::new(concat!("SELECT ", columns!(), " FROM orders WHERE id = $1")).bind(id),
        )
        .await
}

/// An order with its items, in one query: an order read is on every enriched request's
/// path, and each query is a round trip to SQLite's thread (docs/benchmarks.md).
pub async fn find_with_items(
    readers: &Readers,
    id: i64,
) -> Result<Option<(OrderRow, Vec<ItemRow>)>, sqlx::Error> {
    let rows: Vec<OrderLineRow> = readers
        .fetch_all(
            Statement::new(
                "SELECT o.id, o.user_id, o.status, o.total_cents, o.created_at, o.updated_at,
                        i.product_id, i.quantity, i.unit_price_cents
                 FROM orders o LEFT JOIN order_items i ON i.order_id = o.id
                 WHERE o.id = $1 ORDER BY i.product_id",
            )
            .bind(id),
        )
        .await?;
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else {
        return Ok(None);
    };
    let order = first.order.clone();
    let items = std::iter::once(first)
        .chain(rows)
        .filter_map(|row| row.item())
        .collect();
    Ok(Some((order, items)))
}

/// One row of an order joined with its items; the item's columns are NULL for an order
/// without items.
struct OrderLineRow {
    order: OrderRow,
    product_id: Option<i64>,
    quantity: Option<i64>,
    unit_price_cents: Option<i64>,
}

impl Record for OrderLineRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            order: OrderRow::from_row(row)?,
            product_id: row.optional_integer("product_id")?,
            quantity: row.optional_integer("quantity")?,
            unit_price_cents: row.optional_integer("unit_price_cents")?,
        })
    }
}

impl OrderLineRow {
    fn item(&self) -> Option<ItemRow> {
        Some(ItemRow {
            product_id: self.product_id?,
            quantity: self.quantity?,
            unit_price_cents: self.unit_price_cents?,
        })
    }
}

/// The items of the orders with ids in `(after, last]`, optionally of one user: the items
/// of one page of [`list_after`] in a single query.
pub async fn items_in_range(
    pool: &Pool,
    user_id: Option<i64>,
    after: i64,
    last: i64,
) -> Result<Vec<(i64, ItemRow)>, sqlx::Error> {
    let rows: Vec<PageItemRow> = sqlx::query_as(
        "SELECT i.order_id, i.product_id, i.quantity, i.unit_price_cents
         FROM order_items i JOIN orders o ON o.id = i.order_id
         WHERE o.id > $1 AND o.id <= $2 AND ($3 IS NULL OR o.user_id = $3)
         ORDER BY i.order_id, i.product_id",
    )
    .bind(after)
    .bind(last)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.order_id,
                ItemRow {
                    product_id: row.product_id,
                    quantity: row.quantity,
                    unit_price_cents: row.unit_price_cents,
                },
            )
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct PageItemRow {
    order_id: i64,
    product_id: i64,
    quantity: i64,
    unit_price_cents: i64,
}

pub async fn count(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(pool)
        .await
}

/// Orders with an id above `after`, optionally of one user, in id order.
pub async fn list_after(
    pool: &Pool,
    user_id: Option<i64>,
    after: i64,
    limit: i64,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM orders WHERE id > $1 AND ($2 IS NULL OR user_id = $2) ORDER BY id LIMIT $3"
    ))
    .bind(after)
    .bind(user_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The price product-service reserved one product of an order at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitPrice {
    pub product_id: i64,
    pub unit_price_cents: i64,
}

/// Confirms a pending order at the prices product-service reserved at, and stores the
/// answer for its idempotency key in the same transaction, so a retry can never see a
/// confirmed order without its answer or the reverse. `Ok(false)`: it was not pending.
pub async fn confirm(
    pool: &Pool,
    order_id: i64,
    prices: &[UnitPrice],
    total_cents: i64,
    answer: Option<&StoredAnswer<'_>>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let prices = prices.to_vec();
    let answer = answer.map(answer_update);
    write::transact(pool, move |tx| {
        let confirmed = tx.execute(
            Statement::new(
                "UPDATE orders SET status = 'confirmed', total_cents = $1, updated_at = $2
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(total_cents)
            .bind(now)
            .bind(order_id),
        )?;
        if confirmed == 0 {
            return Ok(End::RollBack(false));
        }
        for price in &prices {
            tx.execute(
                Statement::new(
                    "UPDATE order_items SET unit_price_cents = $1
                     WHERE order_id = $2 AND product_id = $3",
                )
                .bind(price.unit_price_cents)
                .bind(order_id)
                .bind(price.product_id),
            )?;
        }
        if let Some(answer) = answer {
            tx.execute(answer)?;
        }
        Ok(End::Commit(true))
    })
    .await
}

/// Moves an order from `from` to `to`; `Ok(false)` if it was not in `from`.
pub async fn transition(
    pool: &Pool,
    order_id: i64,
    from: OrderStatus,
    to: OrderStatus,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let update = Statement::new(
        "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(order_id)
    .bind(from.as_str());
    Ok(write::execute(pool, update).await? > 0)
}

/// Pending orders created at or before `created_before`, oldest first.
pub async fn pending(pool: &Pool, created_before: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending' AND created_at <= $1 ORDER BY id LIMIT 100",
    )
    .bind(created_before)
    .fetch_all(pool)
    .await
}

/// What a stored idempotency key says about a new request with the same key.
pub enum KeyClaim {
    /// The key is new: this request runs and owns it.
    Claimed,
    /// The first request with this key is still running.
    InFlight,
    /// The key was used for a request with another body.
    Mismatch,
    /// The first request finished: here is its answer.
    Replay { status: u16, body: String },
}

struct KeyRow {
    fingerprint: String,
    state: String,
    response_status: Option<i64>,
    response_body: Option<String>,
    created_at: i64,
}

impl Record for KeyRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            fingerprint: row.text("fingerprint")?,
            state: row.text("state")?,
            response_status: row.optional_integer("response_status")?,
            response_body: row.optional_text("response_body")?,
            created_at: row.integer("created_at")?,
        })
    }
}

/// An idempotency key to claim for a request with `fingerprint`.
pub struct KeyToClaim {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

/// Claims `key` for a request with `fingerprint`, or reports who has it.
pub async fn claim_key(
    pool: &Pool,
    scope: &str,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Result<KeyClaim, sqlx::Error> {
    let claim = KeyToClaim {
        scope: scope.to_owned(),
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
    };
    write::transact(pool, move |tx| Ok(End::Commit(claim_in(tx, &claim, now)?))).await
}

/// Claims a key and, if it was new, records `order` as `pending` tied to it, in one
/// transaction: recovery can free the key if the process dies before answering, and a
/// placement costs one transaction less. The order is recorded only with a new key.
pub async fn claim_key_for_order(
    pool: &Pool,
    claim: KeyToClaim,
    order: &NewOrder,
    now: i64,
) -> Result<(KeyClaim, Option<OrderRow>), sqlx::Error> {
    let order = order.clone();
    write::transact(pool, move |tx| {
        let claimed = claim_in(tx, &claim, now)?;
        if !matches!(claimed, KeyClaim::Claimed) {
            return Ok(End::Commit((claimed, None)));
        }
        let row = record_pending(tx, &order, None, now)?;
        tx.execute(
            Statement::new(
                "UPDATE idempotency_keys SET order_id = $1 WHERE scope = $2 AND key = $3",
            )
            .bind(row.id)
            .bind(claim.scope.as_str())
            .bind(claim.key.as_str()),
        )?;
        Ok(End::Commit((claimed, Some(row))))
    })
    .await
}

fn claim_in(
    tx: &mut dyn Statements,
    claim: &KeyToClaim,
    now: i64,
) -> Result<KeyClaim, sqlx::Error> {
    let insert = || {
        Statement::new(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, state, created_at)
             VALUES ($1, $2, $3, 'in_flight', $4)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(claim.scope.as_str())
        .bind(claim.key.as_str())
        .bind(claim.fingerprint.as_str())
        .bind(now)
    };
    // A new key, the usual case, is claimed by one statement.
    if tx.execute(insert())? == 1 {
        return Ok(KeyClaim::Claimed);
    }
    // The key is known: replayed, in flight, another request's, or expired.
    let existing: Option<KeyRow> = tx.fetch_optional(
        Statement::new(
            "SELECT fingerprint, state, response_status, response_body, created_at
             FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(claim.scope.as_str())
        .bind(claim.key.as_str()),
    )?;
    if let Some(stored) = existing {
        if stored.created_at > now - KEY_RETENTION_SECONDS {
            return Ok(if stored.fingerprint != claim.fingerprint {
                KeyClaim::Mismatch
            } else if stored.state == "in_flight" {
                KeyClaim::InFlight
            } else {
                KeyClaim::Replay {
                    status: stored
                        .response_status
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(500),
                    body: stored.response_body.unwrap_or_default(),
                }
            });
        }
        tx.execute(
            Statement::new("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2")
                .bind(claim.scope.as_str())
                .bind(claim.key.as_str()),
        )?;
    }
    tx.execute(insert())?;
    Ok(KeyClaim::Claimed)
}

/// The final answer to a keyed request.
pub struct StoredAnswer<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub status: u16,
    pub body: &'a str,
}

pub async fn finish_key(pool: &Pool, answer: &StoredAnswer<'_>) -> Result<(), sqlx::Error> {
    write::execute(pool, answer_update(answer)).await.map(drop)
}

fn answer_update(answer: &StoredAnswer<'_>) -> Statement {
    Statement::new(
        "UPDATE idempotency_keys SET state = 'done', response_status = $1, response_body = $2
         WHERE scope = $3 AND key = $4",
    )
    .bind(i64::from(answer.status))
    .bind(answer.body)
    .bind(answer.scope)
    .bind(answer.key)
}

/// Forgets a key whose request ended without a final answer (an outage), so the client's
/// retry with the same key runs again instead of being refused forever.
pub async fn release_key(pool: &Pool, scope: &str, key: &str) -> Result<(), sqlx::Error> {
    let delete = Statement::new(
        "DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'",
    )
    .bind(scope)
    .bind(key);
    write::execute(pool, delete).await?;
    Ok(())
}

/// Frees the in-flight keys of an order that recovery settled.
pub async fn release_keys_of(pool: &Pool, order_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE order_id = $1 AND state = 'in_flight'")
        .bind(order_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Frees keys still `in_flight` that were claimed at or before `cutoff`: their request
/// cannot still be running (a crash between claiming the key and recording the order
/// would otherwise leave the key refusing retries with 409 until it expires).
pub async fn release_stale_keys(pool: &Pool, cutoff: i64) -> Result<u64, sqlx::Error> {
    let result =
        sqlx::query("DELETE FROM idempotency_keys WHERE state = 'in_flight' AND created_at <= $1")
            .bind(cutoff)
            .execute(pool)
            .await?;
    Ok(result.rows_affected())
}

/// Drops keys past their retention.
pub async fn purge_keys(pool: &Pool, now: i64) -> Result<u64, sqlx::Error> {
    let result = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now - KEY_RETENTION_SECONDS)
        .execute(pool)
        .await?;
    Ok(result.rows_affected())
}

/// Idempotency keys against a real SQLite database, with time passed in explicitly: the
/// retention rules cannot be reached through the API without waiting a day.
#[cfg(test)]
mod tests {
    use super::*;
    use kit::storing::db::Database;

    const DAY: i64 = KEY_RETENTION_SECONDS;

    async fn database() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pool = kit::storing::db::open(
            &Database::sqlite_in(dir.path(), "orders"),
            &crate::MIGRATIONS,
        )
        .await
        .expect("database opens");
        (dir, pool)
    }

    async fn finish(pool: &Pool, key: &str) {
        let answer = StoredAnswer {
            scope: "caller",
            key,
            status: 201,
            body: "{}",
        };
        finish_key(pool, &answer).await.expect("stored");
    }

    #[tokio::test]
    async fn a_key_is_remembered_for_a_day_and_then_forgotten() {
        let (_dir, pool) = database().await;
        let t0 = 1_000_000_000;
        let claim = claim_key(&pool, "caller", "k", "fp", t0)
            .await
            .expect("claim");
        assert!(matches!(claim, KeyClaim::Claimed));
        finish(&pool, "k").await;

        let just_before = claim_key(&pool, "caller", "k", "fp", t0 + DAY - 1)
            .await
            .expect("claim");
        assert!(matches!(just_before, KeyClaim::Replay { status: 201, .. }));
        let other_body = claim_key(&pool, "caller", "k", "other", t0 + DAY - 1)
            .await
            .expect("claim");
        assert!(matches!(other_body, KeyClaim::Mismatch));

        let a_day_later = claim_key(&pool, "caller", "k", "other", t0 + DAY)
            .await
            .expect("claim");
        assert!(
            matches!(a_day_later, KeyClaim::Claimed),
            "an expired key is new again"
        );
    }

    #[tokio::test]
    async fn keys_are_scoped_to_their_caller() {
        let (_dir, pool) = database().await;
        let claim = claim_key(&pool, "caller", "k", "fp", 100)
            .await
            .expect("claim");
        assert!(matches!(claim, KeyClaim::Claimed));
        let other_caller = claim_key(&pool, "someone-else", "k", "fp", 100)
            .await
            .expect("claim");
        assert!(matches!(other_caller, KeyClaim::Claimed));
        let again = claim_key(&pool, "caller", "k", "fp", 100)
            .await
            .expect("claim");
        assert!(matches!(again, KeyClaim::InFlight));
    }

    #[tokio::test]
    async fn purging_drops_only_keys_past_retention() {
        let (_dir, pool) = database().await;
        claim_key(&pool, "caller", "old", "fp", 0)
            .await
            .expect("claim");
        claim_key(&pool, "caller", "new", "fp", DAY)
            .await
            .expect("claim");
        assert_eq!(purge_keys(&pool, DAY + 1).await.expect("purge"), 1);
        let kept = claim_key(&pool, "caller", "new", "fp", DAY + 1)
            .await
            .expect("claim");
        assert!(matches!(kept, KeyClaim::InFlight));
    }

    #[tokio::test]
    async fn stale_in_flight_keys_are_freed_but_finished_ones_kept() {
        let (_dir, pool) = database().await;
        claim_key(&pool, "caller", "stuck", "fp", 10)
            .await
            .expect("claim");
        claim_key(&pool, "caller", "done", "fp", 10)
            .await
            .expect("claim");
        finish(&pool, "done").await;
        claim_key(&pool, "caller", "live", "fp", 50)
            .await
            .expect("claim");
        assert_eq!(release_stale_keys(&pool, 20).await.expect("release"), 1);
        let stuck = claim_key(&pool, "caller", "stuck", "fp", 60)
            .await
            .expect("claim");
        assert!(
            matches!(stuck, KeyClaim::Claimed),
            "a stuck key is free again"
        );
        let done = claim_key(&pool, "caller", "done", "fp", 60)
            .await
            .expect("claim");
        assert!(matches!(done, KeyClaim::Replay { .. }));
        let live = claim_key(&pool, "caller", "live", "fp", 60)
            .await
            .expect("claim");
        assert!(matches!(live, KeyClaim::InFlight));
    }
}
