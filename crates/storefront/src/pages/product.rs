//! `/products/{id}`: one product, and a form to put it in the cart.

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;

use super::{Product, money};
use crate::notices::Notice;
use crate::visit::{Chrome, Visit};

pub struct Shown {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub price: String,
    pub stock: i64,
}

#[derive(Template)]
#[template(path = "product.html")]
pub struct ProductPage {
    c: Chrome,
    p: Shown,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(visit: Visit, Path(id): Path<String>, Query(done): Query<Done>) -> Response {
    let id = match visit.id(&id) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let path = format!("/api/v1/products/{id}");
    let (me, product) = futures::join!(visit.me(), visit.api.get::<Product>(&path));
    let product = match product {
        Ok(product) => product,
        Err(failure) => return visit.failed(&failure),
    };
    let view = ProductPage {
        c: visit.chrome_for(
            me,
            &product.name,
            done.done.as_deref().and_then(Notice::parse),
        ),
        p: Shown {
            id: product.id,
            price: money(visit.t.currency, product.price_cents),
            name: product.name,
            description: product.description,
            stock: product.stock,
        },
    };
    visit.page(StatusCode::OK, &view)
}
