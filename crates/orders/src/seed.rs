//! The demo order of the classic exercise: order 9001, Alice buying one Phone. Its stock is
//! held by product-service's seed, so both services agree from the first start.

use kit::storing::db::Pool;

use crate::domain::{NewOrder, OrderLine};
use crate::store::{self, UnitPrice};

const DEMO_ORDER_ID: i64 = 9001;
const ALICE: i64 = 1;
const PHONE: i64 = 102;
const PHONE_PRICE_CENTS: i64 = 80_000;

pub async fn demo_order(pool: &Pool) -> anyhow::Result<()> {
    if store::count(pool).await? > 0 {
        return Ok(());
    }
    let order = NewOrder::parse(ALICE, &[OrderLine::new(PHONE, 1)]).map_err(anyhow::Error::msg)?;
    let now = kit::time::now_unix();
    store::insert_pending(pool, &order, Some(DEMO_ORDER_ID), now).await?;
    store::confirm(
        pool,
        DEMO_ORDER_ID,
        &[UnitPrice {
            product_id: PHONE,
            unit_price_cents: PHONE_PRICE_CENTS,
        }],
        PHONE_PRICE_CENTS,
        None,
        now,
    )
    .await?;
    kit::storing::db::sync_id_sequence(pool, "orders").await?;
    tracing::info!("seeded the demo order");
    Ok(())
}
