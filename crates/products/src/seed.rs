//! The demo catalogue of the classic exercise, created on first start: Laptop (101) and
//! Phone (102), with one Phone held for the demo order 9001 (Alice's), so that stock and
//! reservations agree with order-service's seed from the first moment.

use kit::storing::db::Pool;
use kit::storing::write::{self, End};

use crate::domain::{Description, HoldStatus, Price, ProductDraft, ProductName, Stock};
use crate::store;

const DEMO_ORDER_ID: i64 = 9001;

/// (id, name, description, price in cents, units on the shelf, units held for order 9001)
const DEMO_PRODUCTS: [(i64, &str, &str, i64, i64, i64); 2] = [
    (101, "Laptop", "14-inch laptop, 16 GB RAM", 120_000, 10, 0),
    (102, "Phone", "6.1-inch smartphone, 128 GB", 80_000, 49, 1),
];

pub async fn demo_catalogue(pool: &Pool) -> anyhow::Result<()> {
    if store::count(pool).await? > 0 {
        return Ok(());
    }
    let now = kit::time::now_unix();
    let mut statements = Vec::new();
    for (id, name, description, price, stock, held) in DEMO_PRODUCTS {
        let draft = ProductDraft {
            name: ProductName::parse(name).map_err(anyhow::Error::msg)?,
            description: Description::parse(description).map_err(anyhow::Error::msg)?,
            price: Price::parse(price).map_err(anyhow::Error::msg)?,
            stock: Stock::parse(stock).map_err(anyhow::Error::msg)?,
        };
        statements.push(store::insert_statement(Some(id), &draft, now));
        if held > 0 {
            let line = store::ReservationLine {
                product_id: id,
                quantity: held,
                unit_price_cents: price,
                status: HoldStatus::Held,
            };
            statements.push(store::held_insert(DEMO_ORDER_ID, &line, now));
        }
    }
    write::transact(pool, move |tx| {
        for statement in statements {
            tx.execute(statement)?;
        }
        Ok(End::Commit(()))
    })
    .await?;
    kit::storing::db::sync_id_sequence(pool, "products").await?;
    tracing::info!("seeded the demo catalogue");
    Ok(())
}
