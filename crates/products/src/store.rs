//! The products and reservations tables: the only code that talks to product-service's
//! database. Stock moves only inside a transaction that also records why it moved.

use kit::storing::db::Pool;
use kit::storing::readers::Readers;
use kit::storing::statement::{Record, Row, Statement};
use kit::storing::write::{self, End, Statements};

use crate::domain::{
    HoldStatus, OrderLine, ProductChanges, ProductDraft, ReservationRequest, Sort,
};

#[derive(Debug, Clone)]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub stock: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for ProductRow {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.integer("id")?,
            name: row.text("name")?,
            description: row.text("description")?,
            price_cents: row.integer("price_cents")?,
            stock: row.integer("stock")?,
            version: row.integer("version")?,
            created_at: row.integer("created_at")?,
            updated_at: row.integer("updated_at")?,
        })
    }
}

kit::record_from_row!(ProductRow);

macro_rules! columns {
    () => {
        "id, name, description, price_cents, stock, version, created_at, updated_at"
    };
}

/// Adds a product; under `id` if given (the demo catalogue), else under a new one.
pub async fn insert(
    pool: &Pool,
    id: Option<i64>,
    draft: &ProductDraft,
    now: i64,
) -> Result<ProductRow, sqlx::Error> {
    let insert = insert_statement(id, draft, now);
    write::transact(pool, move |tx| {
        tx.fetch_optional(insert)?
            .map(End::Commit)
            .ok_or(sqlx::Error::RowNotFound)
    })
    .await
}

pub(crate) fn insert_statement(id: Option<i64>, draft: &ProductDraft, now: i64) -> Statement {
    // The id column is named only when given: PostgreSQL generates an id only when the
    // column is left out, SQLite also for NULL.
    let statement = if id.is_some() {
        concat!(
            "INSERT INTO products (name, description, price_cents, stock, created_at, updated_at, id)
             VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING ",
            columns!()
        )
    } else {
        concat!(
            "INSERT INTO products (name, description, price_cents, stock, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING ",
            columns!()
        )
    };
    let insert = Statement::new(statement)
        .bind(draft.name.as_str())
        .bind(draft.description.as_str())
        .bind(draft.price.cents())
        .bind(draft.stock.units())
        .bind(now);
    match id {
        Some(id) => insert.bind(id),
        None => insert,
    }
}

pub async fn find(readers: &Readers, id: i64) -> Result<Option<ProductRow>, sqlx::Error> {
    readers
        .fetch_optional(
            Statement::new(concat!(
                "SELECT ",
                columns!(),
                " FROM products WHERE id = $1"
            ))
            .bind(id),
        )
        .await
}

pub async fn count(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(pool)
        .await
}

/// Filters of a product list; `None` means no filter.
pub struct ListFilter<'a> {
    /// A LIKE pattern, already escaped, matched case-insensitively against the name.
    pub name_pattern: Option<&'a str>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
}

macro_rules! list_sql {
    ($order:literal) => {
        concat!(
            "SELECT ",
            columns!(),
            " FROM products
             WHERE ($1 IS NULL OR LOWER(name) LIKE LOWER($1) ESCAPE '\\')
               AND ($2 IS NULL OR price_cents >= $2)
               AND ($3 IS NULL OR price_cents <= $3)
             ORDER BY ",
            $order,
            " LIMIT $4 OFFSET $5"
        )
    };
}

pub async fn list(
    readers: &Readers,
    filter: &ListFilter<'_>,
) -> Result<Vec<ProductRow>, sqlx::Error> {
    // One complete statement per ordering: the ORDER BY clause never contains input.
    let statement = match filter.sort {
        Sort::IdAsc => list_sql!("id ASC"),
        Sort::IdDesc => list_sql!("id DESC"),
        Sort::NameAsc => list_sql!("name ASC, id ASC"),
        Sort::NameDesc => list_sql!("name DESC, id DESC"),
        Sort::PriceAsc => list_sql!("price_cents ASC, id ASC"),
        Sort::PriceDesc => list_sql!("price_cents DESC, id DESC"),
    };
    readers
        .fetch_all(
            Statement::new(statement)
                .bind(filter.name_pattern)
                .bind(filter.min_price)
                .bind(filter.max_price)
                .bind(filter.limit)
                .bind(filter.offset),
        )
        .await
}

/// Applies `changes` if the product is at `expected_version` (or at any version when
/// `None`), bumping the version. `Ok(None)`: no such product, or someone changed it first.
pub async fn update(
    pool: &Pool,
    id: i64,
    expected_version: Option<i64>,
    changes: &ProductChanges,
    now: i64,
) -> Result<Option<ProductRow>, sqlx::Error> {
    let update = Statement::new(concat!(
        "UPDATE products SET
            name = COALESCE($1, name),
            description = COALESCE($2, description),
            price_cents = COALESCE($3, price_cents),
            stock = COALESCE($4, stock),
            version = version + 1,
            updated_at = $5
         WHERE id = $6 AND ($7 IS NULL OR version = $7)
         RETURNING ",
        columns!()
    ))
    .bind(changes.name.as_ref().map(|n| n.as_str()))
    .bind(changes.description.as_ref().map(|d| d.as_str()))
    .bind(changes.price.map(|p| p.cents()))
    .bind(changes.stock.map(|s| s.units()))
    .bind(now)
    .bind(id)
    .bind(expected_version);
    write::transact(pool, move |tx| Ok(End::Commit(tx.fetch_optional(update)?))).await
}

/// Deletes a product that no held reservation refers to. `Ok(None)`: no such product.
pub async fn delete_unreserved(pool: &Pool, id: i64) -> Result<Option<bool>, sqlx::Error> {
    write::transact(pool, move |tx| {
        let exists = tx.integer(
            Statement::new("SELECT id FROM products WHERE id = $1").bind(id),
            "id",
        )?;
        if exists.is_none() {
            return Ok(End::RollBack(None));
        }
        let held = tx.integer(
            Statement::new(
                "SELECT COUNT(*) AS held FROM reservations WHERE product_id = $1 AND status = 'held'",
            )
            .bind(id),
            "held",
        )?;
        if held.unwrap_or(0) > 0 {
            return Ok(End::RollBack(Some(false)));
        }
        tx.execute(Statement::new("DELETE FROM products WHERE id = $1").bind(id))?;
        Ok(End::Commit(Some(true)))
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    pub product_id: i64,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub status: HoldStatus,
}

impl Record for ReservationLine {
    fn from_row(row: &Row<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            product_id: row.integer("product_id")?,
            quantity: row.integer("quantity")?,
            unit_price_cents: row.integer("unit_price_cents")?,
            status: HoldStatus::try_from(row.text("status")?).map_err(|error| {
                sqlx::Error::ColumnDecode {
                    index: "status".to_owned(),
                    source: Box::new(error),
                }
            })?,
        })
    }
}

kit::record_from_row!(ReservationLine);

/// What reserving came to.
pub enum Reserved {
    /// Stock was taken now, or had been taken for this order before with the same items.
    Held {
        lines: Vec<ReservationLine>,
        /// Whether this call took the stock (rather than finding it taken before).
        fresh: bool,
    },
    /// This order already holds a reservation with other items.
    Mismatch,
    /// This order's reservation was released; an order id is never reserved twice.
    AlreadyReleased,
    UnknownProduct(i64),
    OutOfStock {
        product_id: i64,
        available: i64,
    },
}

fn lines(tx: &mut dyn Statements, order_id: i64) -> Result<Vec<ReservationLine>, sqlx::Error> {
    tx.fetch_all(lines_statement(order_id))
}

fn lines_statement(order_id: i64) -> Statement {
    Statement::new(
        "SELECT product_id, quantity, unit_price_cents, status FROM reservations
         WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
}

/// Takes stock for every item of an order, or for none: any failure rolls back the whole
/// transaction.
pub async fn reserve(
    pool: &Pool,
    request: &ReservationRequest,
    now: i64,
) -> Result<Reserved, sqlx::Error> {
    let order_id = request.order_id;
    let wanted = request.lines.clone();
    write::transact(pool, move |tx| {
        let existing = lines(tx, order_id)?;
        if !existing.is_empty() {
            if existing.iter().any(|line| line.status != HoldStatus::Held) {
                return Ok(End::RollBack(Reserved::AlreadyReleased));
            }
            let same = existing.len() == wanted.len()
                && existing.iter().zip(&wanted).all(|(held, wanted)| {
                    held.product_id == wanted.product_id && held.quantity == wanted.quantity
                });
            return Ok(End::RollBack(if same {
                Reserved::Held {
                    lines: existing,
                    fresh: false,
                }
            } else {
                Reserved::Mismatch
            }));
        }
        // In the order `lines` reads them back: the request's lines are sorted by product.
        let mut held: Vec<ReservationLine> = Vec::with_capacity(wanted.len());
        for &OrderLine {
            product_id,
            quantity,
        } in &wanted
        {
            let taken = tx.integer(
                Statement::new(
                    "UPDATE products SET stock = stock - $1, version = version + 1, updated_at = $2
                     WHERE id = $3 AND stock >= $1 RETURNING price_cents",
                )
                .bind(quantity)
                .bind(now)
                .bind(product_id),
                "price_cents",
            )?;
            let Some(unit_price_cents) = taken else {
                let available = tx.integer(
                    Statement::new("SELECT stock FROM products WHERE id = $1").bind(product_id),
                    "stock",
                )?;
                return Ok(End::RollBack(match available {
                    None => Reserved::UnknownProduct(product_id),
                    Some(available) => Reserved::OutOfStock {
                        product_id,
                        available,
                    },
                }));
            };
            let line = ReservationLine {
                product_id,
                quantity,
                unit_price_cents,
                status: HoldStatus::Held,
            };
            tx.execute(held_insert(order_id, &line, now))?;
            held.push(line);
        }
        Ok(End::Commit(Reserved::Held {
            lines: held,
            fresh: true,
        }))
    })
    .await
}

/// The statement that records `line` as held for an order.
pub(crate) fn held_insert(order_id: i64, line: &ReservationLine, now: i64) -> Statement {
    Statement::new(
        "INSERT INTO reservations
            (order_id, product_id, quantity, unit_price_cents, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'held', $5, $5)",
    )
    .bind(order_id)
    .bind(line.product_id)
    .bind(line.quantity)
    .bind(line.unit_price_cents)
    .bind(now)
}

/// Returns an order's held stock to the shelf. Releasing twice, or releasing an order that
/// holds nothing, changes nothing: the caller may retry freely.
pub async fn release(
    pool: &Pool,
    order_id: i64,
    now: i64,
) -> Result<Vec<ReservationLine>, sqlx::Error> {
    write::transact(pool, move |tx| {
        let held: Vec<ReservationLine> = lines(tx, order_id)?
            .into_iter()
            .filter(|line| line.status == HoldStatus::Held)
            .collect();
        for line in &held {
            tx.execute(
                Statement::new(
                    "UPDATE products SET stock = stock + $1, version = version + 1, updated_at = $2
                     WHERE id = $3",
                )
                .bind(line.quantity)
                .bind(now)
                .bind(line.product_id),
            )?;
        }
        tx.execute(
            Statement::new(
                "UPDATE reservations SET status = 'released', updated_at = $1
                 WHERE order_id = $2 AND status = 'held'",
            )
            .bind(now)
            .bind(order_id),
        )?;
        Ok(End::Commit(lines(tx, order_id)?))
    })
    .await
}

/// Everything recorded for an order, held or released.
pub async fn reservation(pool: &Pool, order_id: i64) -> Result<Vec<ReservationLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT product_id, quantity, unit_price_cents, status FROM reservations
         WHERE order_id = $1 ORDER BY product_id",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await
}
