//! What must hold whatever happened: the stock invariant, no order left pending, and the
//! metrics a test reads.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::TestApp;

/// One side of the stock invariant for one product: units on the shelf, and units held by
/// confirmed orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holding {
    pub stock: i64,
    pub held: i64,
}

impl TestApp {
    /// Stock and units held for confirmed orders, per product: the two sides of the
    /// invariant. Take one at the start of a test and compare with [`Self::assert_stock_invariant`].
    pub async fn stock_ledger(&self) -> BTreeMap<i64, Holding> {
        let mut ledger = BTreeMap::new();
        let products = self.get_json("/api/v1/products?limit=100").await;
        for product in products["items"].as_array().cloned().unwrap_or_default() {
            let id = product["id"].as_i64().expect("id");
            let stock = product["stock"].as_i64().expect("stock");
            ledger.insert(id, Holding { stock, held: 0 });
        }
        for order in self.all_orders().await {
            let order_id = order["order_id"].as_i64().expect("order_id");
            let reservation = self.reservation(order_id).await;
            let confirmed = order["status"] == "confirmed";
            if confirmed {
                assert_eq!(
                    reservation["status"], "held",
                    "confirmed order {order_id} holds its stock"
                );
                for item in order["items"].as_array().cloned().unwrap_or_default() {
                    let product = item["product_id"].as_i64().expect("product_id");
                    let quantity = item["quantity"].as_i64().expect("quantity");
                    let held = reservation["items"]
                        .as_array()
                        .and_then(|items| items.iter().find(|i| i["product_id"] == product))
                        .and_then(|i| i["quantity"].as_i64());
                    assert_eq!(
                        held,
                        Some(quantity),
                        "order {order_id} holds what it ordered"
                    );
                    if let Some(entry) = ledger.get_mut(&product) {
                        entry.held += quantity;
                    }
                }
            } else {
                assert_ne!(
                    reservation["status"], "held",
                    "order {order_id} is {} and must hold no stock",
                    order["status"]
                );
            }
        }
        ledger
    }

    /// Stock now + units held by confirmed orders = stock at `before` + held at `before`
    /// + `restocks`, for every product, and no order that is not confirmed holds stock.
    pub async fn assert_stock_invariant(
        &self,
        before: &BTreeMap<i64, Holding>,
        restocks: &BTreeMap<i64, i64>,
    ) {
        let now = self.stock_ledger().await;
        for (product, Holding { stock, held }) in before {
            let Holding {
                stock: stock_now,
                held: held_now,
            } = now.get(product).copied().unwrap_or_default();
            let expected = stock + held + restocks.get(product).copied().unwrap_or(0);
            assert!(stock_now >= 0, "product {product} has negative stock");
            assert_eq!(
                stock_now + held_now,
                expected,
                "product {product}: stock {stock_now} + held {held_now} != {expected}"
            );
        }
    }

    /// Waits until no order is `pending`: the saga or recovery has settled every one.
    pub async fn until_no_order_is_pending(&self, timeout: Duration) {
        self.eventually(timeout, "every pending order to be settled", || async {
            self.all_orders()
                .await
                .iter()
                .all(|order| order["status"] != "pending")
        })
        .await;
    }

    /// Waits until some order is `pending`: a placement is in flight.
    pub async fn until_an_order_is_pending(&self, timeout: Duration) {
        self.eventually(timeout, "an order to be in flight", || async {
            self.all_orders()
                .await
                .iter()
                .any(|order| order["status"] == "pending")
        })
        .await;
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes: for effects of
    /// background work (recovery), which has no readiness signal a test could wait on.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        while !condition().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of the series that starts with `series` (name and labels, as printed), or
/// 0 when there is none yet.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
        })
        .unwrap_or(0.0)
}
