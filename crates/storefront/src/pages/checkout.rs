//! `/checkout`: the order, priced by the shop, placed with an idempotency key.
//!
//! The key is made when the checkout page is shown and travels in its form, so a double
//! click or a resubmitted form repeats the same placement, which order-service answers
//! once. The form carries nothing else that counts: items come from the cart, prices from
//! product-service, and the buyer from the session.

use askama::Template;
use axum::Form;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{Method, StatusCode};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Token;
use super::cart::{PricedLine, priced};
use super::money;
use crate::cart::Cart;
use crate::notices::Notice;
use crate::visit::{Chrome, Visit};

#[derive(Template)]
#[template(path = "checkout.html")]
pub struct CheckoutPage {
    c: Chrome,
    lines: Vec<PricedLine>,
    total: String,
    idempotency_key: String,
}

pub async fn show(mut visit: Visit) -> Response {
    let me = match visit.signed_in("/checkout").await {
        Ok(me) => me,
        Err(sign_in) => return *sign_in,
    };
    if visit.cart.is_empty() {
        return visit.redirect("/cart");
    }
    let (lines, total) = match priced(&mut visit).await {
        Ok(priced) => priced,
        Err(failure) => return visit.failed(&failure),
    };
    let mut key = [0u8; 16];
    rand::rng().fill_bytes(&mut key);
    let page = CheckoutPage {
        c: visit.chrome_for(Some(me), visit.t.checkout, None),
        lines,
        total: money(visit.t.currency, total),
        idempotency_key: format!("web-{}", B64.encode(key)),
    };
    visit.page(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct Place {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Serialize)]
struct Order {
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Item {
    product_id: i64,
    quantity: i64,
}

#[derive(Deserialize)]
struct Placed {
    order_id: i64,
}

pub async fn place(mut visit: Visit, Form(form): Form<Place>) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    if visit.cart.is_empty() {
        return visit.redirect("/orders");
    }
    let order = Order {
        items: visit
            .cart
            .lines
            .iter()
            .map(|line| Item {
                product_id: line.product_id,
                quantity: line.quantity,
            })
            .collect(),
    };
    let placed = visit
        .api
        .call::<Placed, _>(
            Method::POST,
            "/api/v1/orders",
            Some(&order),
            &[("idempotency-key", form.idempotency_key.trim())],
        )
        .await;
    match placed {
        Ok(placed) => {
            visit.cart = Cart::default();
            visit.cart_changed();
            let id = placed.order_id;
            visit.redirect(&format!("/orders/{id}?done={}", Notice::OrderPlaced.code()))
        }
        // The same key still being placed by the first click: that one will finish.
        Err(failure) if failure.kind == "idempotency-key-in-use" => {
            visit.cart = Cart::default();
            visit.cart_changed();
            visit.redirect(&format!("/orders?done={}", Notice::OrderInProgress.code()))
        }
        Err(failure) => visit.failed(&failure),
    }
}
