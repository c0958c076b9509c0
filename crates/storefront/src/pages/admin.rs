//! `/admin`: products, prices and stock, for administrators. The page is shown to anyone
//! who asks, but only the API decides: a customer's change is refused there (403).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Product, Token};
use crate::notices::{Notice, failure_text};
use crate::visit::{Chrome, Visit};

#[derive(Deserialize)]
struct ProductPage {
    items: Vec<Product>,
}

#[derive(Template)]
#[template(path = "admin.html")]
pub struct AdminPage {
    c: Chrome,
    products: Vec<Product>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(visit: Visit, Query(done): Query<Done>) -> Response {
    let notice = done.done.as_deref().and_then(Notice::parse);
    admin_page(&visit, notice, None).await
}

async fn admin_page(visit: &Visit, notice: Option<Notice>, error: Option<String>) -> Response {
    let me = match visit.signed_in("/admin").await {
        Ok(me) => me,
        Err(sign_in) => return *sign_in,
    };
    if !me.is_admin() {
        return visit.failure_page(StatusCode::FORBIDDEN, visit.t.forbidden.to_owned());
    }
    let products = match visit
        .api
        .get::<ProductPage>("/api/v1/products?limit=100&sort=-id")
        .await
    {
        Ok(page) => page.items,
        Err(failure) => return visit.failed(&failure),
    };
    let mut c = visit.chrome_for(Some(me), visit.t.products_admin, notice);
    c.error = error;
    visit.page(StatusCode::OK, &AdminPage { c, products })
}

#[derive(Deserialize)]
pub struct NewProductForm {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    price_cents: String,
    #[serde(default)]
    stock: String,
}

#[derive(Serialize)]
struct NewProduct<'a> {
    name: &'a str,
    description: &'a str,
    price_cents: i64,
    stock: i64,
}

#[derive(Serialize)]
struct Changes {
    price_cents: i64,
    stock: i64,
}

/// A whole number from a form field; anything else is a mistake the page explains.
fn whole(field: &str) -> Option<i64> {
    field.trim().parse().ok()
}

pub async fn create(visit: Visit, Form(form): Form<NewProductForm>) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    let (Some(price_cents), Some(stock)) = (whole(&form.price_cents), whole(&form.stock)) else {
        return admin_page(&visit, None, Some(visit.t.invalid_input.to_owned())).await;
    };
    let product = NewProduct {
        name: form.name.trim(),
        description: form.description.trim(),
        price_cents,
        stock,
    };
    let created = visit
        .api
        .call::<serde_json::Value, _>(Method::POST, "/api/v1/products", Some(&product), &[])
        .await;
    settled(&visit, created.map(drop)).await
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    price_cents: String,
    #[serde(default)]
    stock: String,
}

pub async fn update(
    visit: Visit,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    let id = match visit.id(&id) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let (Some(price_cents), Some(stock)) = (whole(&form.price_cents), whole(&form.stock)) else {
        return admin_page(&visit, None, Some(visit.t.invalid_input.to_owned())).await;
    };
    // `If-Match: *`: the administrator sets what they see on the page, last write wins.
    let changed = visit
        .api
        .call::<serde_json::Value, _>(
            Method::PATCH,
            &format!("/api/v1/products/{id}"),
            Some(&Changes { price_cents, stock }),
            &[("if-match", "*")],
        )
        .await;
    settled(&visit, changed.map(drop)).await
}

async fn settled(visit: &Visit, result: Result<(), crate::api::Failure>) -> Response {
    match result {
        Ok(()) => visit.redirect(&format!("/admin?done={}", Notice::Saved.code())),
        Err(failure)
            if failure.status == StatusCode::UNPROCESSABLE_ENTITY
                || failure.status == StatusCode::BAD_REQUEST =>
        {
            let message = format!("{} {}", failure_text(visit.t, &failure), failure.detail);
            admin_page(visit, None, Some(message)).await
        }
        Err(failure) => visit.failed(&failure),
    }
}
