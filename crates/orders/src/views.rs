//! The shapes of orders in answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::client::{ProductSummary, UserSummary};
use crate::domain::OrderStatus;
use crate::store::{ItemRow, OrderRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    pub product_id: i64,
    pub quantity: i64,
    /// The price product-service reserved at; 0 while the order is not confirmed.
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

impl From<&ItemRow> for ItemView {
    fn from(item: &ItemRow) -> Self {
        Self {
            product_id: item.product_id,
            quantity: item.quantity,
            unit_price_cents: item.unit_price_cents,
            line_total_cents: item.quantity * item.unit_price_cents,
        }
    }
}

/// An order as stored here.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: i64,
    pub user_id: i64,
    pub status: OrderStatus,
    pub items: Vec<ItemView>,
    pub total_cents: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl OrderView {
    pub fn new(order: &OrderRow, items: &[ItemRow]) -> Self {
        Self {
            order_id: order.id,
            user_id: order.user_id,
            status: order.status,
            items: items.iter().map(ItemView::from).collect(),
            total_cents: order.total_cents,
            created_at: kit::time::rfc3339(order.created_at),
            updated_at: kit::time::rfc3339(order.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DetailedItem {
    pub product_id: i64,
    /// The product as it is now; `null` if it was deleted since.
    pub product: Option<ProductSummary>,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// An order with its user and products, fetched from their services at once.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetails {
    pub order_id: i64,
    pub status: OrderStatus,
    /// The user as they are now; `null` if the account was deleted since.
    pub user: Option<UserSummary>,
    pub items: Vec<DetailedItem>,
    pub total_cents: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl OrderDetails {
    /// The order with `user` and `products` as their services answered, `products` in
    /// the order of `items`.
    pub fn new(
        order: &OrderRow,
        items: &[ItemRow],
        user: Option<UserSummary>,
        products: Vec<Option<ProductSummary>>,
    ) -> Self {
        Self {
            order_id: order.id,
            status: order.status,
            user,
            items: items
                .iter()
                .zip(products)
                .map(|(item, product)| DetailedItem {
                    product_id: item.product_id,
                    product,
                    quantity: item.quantity,
                    unit_price_cents: item.unit_price_cents,
                    line_total_cents: item.quantity * item.unit_price_cents,
                })
                .collect(),
            total_cents: order.total_cents,
            created_at: kit::time::rfc3339(order.created_at),
            updated_at: kit::time::rfc3339(order.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
}
