//! `/cart`: what the visitor means to buy, priced now by product-service. The cart cookie
//! holds only ids and quantities; a product that is gone drops out of it.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;

use super::{Product, Token, money};
use crate::api::Failure;
use crate::cart::CartError;
use crate::notices::Notice;
use crate::visit::{Chrome, Visit};

pub struct PricedLine {
    pub product_id: i64,
    pub name: String,
    pub price: String,
    pub quantity: i64,
    pub total: String,
}

#[derive(Template)]
#[template(path = "cart.html")]
pub struct CartPage {
    c: Chrome,
    lines: Vec<PricedLine>,
    total: String,
}

/// The cart's lines at today's prices, and their total in cents. Products that no longer
/// exist are dropped from the cart.
pub async fn priced(visit: &mut Visit) -> Result<(Vec<PricedLine>, i64), Failure> {
    let api = &visit.api;
    let lookups = visit.cart.lines.iter().map(|line| {
        let path = format!("/api/v1/products/{}", line.product_id);
        async move { api.get::<Product>(&path).await }
    });
    let found = futures::future::join_all(lookups).await;
    let mut lines = Vec::with_capacity(found.len());
    let mut gone = Vec::new();
    let mut total: i64 = 0;
    for (line, product) in visit.cart.lines.iter().zip(found) {
        let product = match product {
            Ok(product) => product,
            Err(failure) if failure.status == StatusCode::NOT_FOUND => {
                gone.push(line.product_id);
                continue;
            }
            Err(failure) => return Err(failure),
        };
        let line_total = product.price_cents.saturating_mul(line.quantity);
        total = total.saturating_add(line_total);
        lines.push(PricedLine {
            product_id: product.id,
            price: money(visit.t.currency, product.price_cents),
            name: product.name,
            quantity: line.quantity,
            total: money(visit.t.currency, line_total),
        });
    }
    if !gone.is_empty() {
        for id in gone {
            let _ = visit.cart.set(id, 0);
        }
        visit.cart_changed();
    }
    Ok((lines, total))
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(mut visit: Visit, Query(done): Query<Done>) -> Response {
    let (lines, total) = match priced(&mut visit).await {
        Ok(priced) => priced,
        Err(failure) => return visit.failed(&failure),
    };
    let notice = done.done.as_deref().and_then(Notice::parse);
    let page = CartPage {
        c: visit.chrome(visit.t.cart, notice).await,
        lines,
        total: money(visit.t.currency, total),
    };
    visit.page(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct Change {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    product_id: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    action: String,
}

/// Adds to the cart, or sets a line's quantity (0 removes it). Quantities are checked
/// here; whether the product exists is checked when the cart is shown.
pub async fn change(mut visit: Visit, Form(form): Form<Change>) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    let product_id = form.product_id.trim().parse::<i64>().ok();
    let quantity = form.quantity.trim().parse::<i64>().ok();
    let changed = match (product_id, quantity, form.action.as_str()) {
        (Some(id), Some(quantity), "add") => visit.cart.add(id, quantity),
        (Some(id), Some(quantity), "set") => visit.cart.set(id, quantity),
        _ => Err(CartError::Quantity),
    };
    match changed {
        Ok(()) => {
            visit.cart_changed();
            let notice = if form.action == "add" {
                Notice::AddedToCart
            } else {
                Notice::Saved
            };
            visit.redirect(&format!("/cart?done={}", notice.code()))
        }
        Err(error) => {
            let message = match error {
                CartError::Quantity => visit.t.quantity_invalid,
                CartError::Full => visit.t.cart_full,
            };
            visit.failure_page(StatusCode::UNPROCESSABLE_ENTITY, message.to_owned())
        }
    }
}
