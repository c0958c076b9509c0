//! `/orders`: my orders, one order with its lines, and cancelling it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::{Method, StatusCode};
use serde::Deserialize;

use super::{Token, money, when};
use crate::i18n::Text;
use crate::notices::Notice;
use crate::visit::{Chrome, Visit};

#[derive(Deserialize)]
struct OrderPage {
    items: Vec<Listed>,
}

#[derive(Deserialize)]
struct Listed {
    order_id: i64,
    status: String,
    total_cents: i64,
    created_at: String,
}

#[derive(Deserialize)]
struct Details {
    order_id: i64,
    status: String,
    items: Vec<DetailedItem>,
    total_cents: i64,
    created_at: String,
}

#[derive(Deserialize)]
struct DetailedItem {
    product_id: i64,
    product: Option<Named>,
    quantity: i64,
    unit_price_cents: i64,
    line_total_cents: i64,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

pub struct Row {
    pub id: i64,
    pub status: &'static str,
    pub total: String,
    pub created_at: String,
}

pub struct Line {
    pub name: String,
    pub price: String,
    pub quantity: i64,
    pub total: String,
}

pub struct Shown {
    pub id: i64,
    pub status: &'static str,
    pub total: String,
    pub created_at: String,
    pub lines: Vec<Line>,
    pub cancellable: bool,
}

#[derive(Template)]
#[template(path = "orders.html")]
pub struct OrdersPage {
    c: Chrome,
    orders: Vec<Row>,
}

#[derive(Template)]
#[template(path = "order.html")]
pub struct OrderShown {
    c: Chrome,
    o: Shown,
}

fn status_text(t: &'static Text, status: &str) -> &'static str {
    match status {
        "pending" => t.status_pending,
        "confirmed" => t.status_confirmed,
        "cancelled" => t.status_cancelled,
        _ => t.status_failed,
    }
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(visit: Visit, Query(done): Query<Done>) -> Response {
    let me = match visit.signed_in("/orders").await {
        Ok(me) => me,
        Err(sign_in) => return *sign_in,
    };
    // Newest first: the API lists oldest first, a hundred at most per page.
    let page = match visit
        .api
        .get::<OrderPage>(&format!("/api/v1/orders?limit=100&user_id={}", me.user_id))
        .await
    {
        Ok(page) => page,
        Err(failure) => return visit.failed(&failure),
    };
    let t = visit.t;
    let orders = page
        .items
        .into_iter()
        .rev()
        .map(|order| Row {
            id: order.order_id,
            status: status_text(t, &order.status),
            total: money(t.currency, order.total_cents),
            created_at: when(&order.created_at),
        })
        .collect();
    let page = OrdersPage {
        c: visit.chrome_for(
            Some(me),
            t.my_orders,
            done.done.as_deref().and_then(Notice::parse),
        ),
        orders,
    };
    visit.page(StatusCode::OK, &page)
}

pub async fn show(visit: Visit, Path(id): Path<String>, Query(done): Query<Done>) -> Response {
    let id = match visit.id(&id) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let me = match visit.signed_in(&format!("/orders/{id}")).await {
        Ok(me) => me,
        Err(sign_in) => return *sign_in,
    };
    let order = match visit
        .api
        .get::<Details>(&format!("/api/v1/orders/{id}"))
        .await
    {
        Ok(order) => order,
        Err(failure) => return visit.failed(&failure),
    };
    let t = visit.t;
    let o = Shown {
        id: order.order_id,
        status: status_text(t, &order.status),
        total: money(t.currency, order.total_cents),
        created_at: when(&order.created_at),
        cancellable: matches!(order.status.as_str(), "pending" | "confirmed"),
        lines: order
            .items
            .into_iter()
            .map(|item| Line {
                name: item
                    .product
                    .map_or_else(|| format!("#{}", item.product_id), |named| named.name),
                price: money(t.currency, item.unit_price_cents),
                quantity: item.quantity,
                total: money(t.currency, item.line_total_cents),
            })
            .collect(),
    };
    let page = OrderShown {
        c: visit.chrome_for(
            Some(me),
            &format!("{} #{id}", t.order),
            done.done.as_deref().and_then(Notice::parse),
        ),
        o,
    };
    visit.page(StatusCode::OK, &page)
}

pub async fn cancel(visit: Visit, Path(id): Path<String>, Form(form): Form<Token>) -> Response {
    if let Err(refused) = visit.check_form(&form.form_token) {
        return *refused;
    }
    let id = match visit.id(&id) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let then = format!("/orders/{id}?done={}", Notice::OrderCancelled.code());
    visit
        .act(Method::POST, &format!("/api/v1/orders/{id}/cancel"), &then)
        .await
}
