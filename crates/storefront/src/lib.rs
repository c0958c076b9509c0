//! The storefront: the shop's pages for people, rendered on the server, at `/`.
//!
//! It is a backend-for-frontend mounted by the gateway, and it is a client of the API like
//! any other: every page asks `/api/v1` ([`api`]) in-process, as the visitor, through the
//! gateway's own authentication, rate limits, route policy and identity tokens. It holds no
//! database and no credential; what the visitor can do here they can do with curl, and
//! nothing more. What it adds is the browser's side of the trust boundary: a strict
//! Content-Security-Policy, forms that must prove they came from our pages ([`csrf`]),
//! templates that escape everything they are given, and prices that the browser never
//! sends ([`cart`]).

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

mod api;
mod assets;
mod cart;
mod cookies;
mod csrf;
mod i18n;
mod notices;
mod pages;
mod refusals;
mod visit;

pub use api::Api;
pub use refusals::as_pages as refusals_as_pages;

/// What the pages share: the way to the API and the key of their form tokens.
#[derive(Clone)]
pub struct Shop(Arc<ShopInner>);

#[doc(hidden)]
pub struct ShopInner {
    api: Api,
    forms: csrf::FormKey,
}

impl std::ops::Deref for Shop {
    type Target = ShopInner;

    fn deref(&self) -> &ShopInner {
        &self.0
    }
}

/// The pages, calling the API through `api`; `form_key` signs their form tokens.
pub fn routes<S: Clone + Send + Sync + 'static>(api: Api, form_key: [u8; 32]) -> Router<S> {
    let shop = Shop(Arc::new(ShopInner {
        api,
        forms: csrf::FormKey::new(form_key),
    }));
    Router::new()
        .route("/", get(pages::catalogue::show))
        .route("/products/{id}", get(pages::product::show))
        .route("/language", get(pages::language::switch))
        .route(
            "/sign-in",
            get(pages::sign::sign_in_page).post(pages::sign::sign_in),
        )
        .route(
            "/sign-up",
            get(pages::sign::sign_up_page).post(pages::sign::sign_up),
        )
        .route("/sign-out", post(pages::sign::sign_out))
        .route("/cart", get(pages::cart::show).post(pages::cart::change))
        .route(
            "/checkout",
            get(pages::checkout::show).post(pages::checkout::place),
        )
        .route("/orders", get(pages::orders::list))
        .route("/orders/{id}", get(pages::orders::show))
        .route("/orders/{id}/cancel", post(pages::orders::cancel))
        .route("/account", get(pages::account::show))
        .route(
            "/account/sign-out-everywhere",
            post(pages::account::sign_out_everywhere),
        )
        .route("/account/password", post(pages::account::change_password))
        .route("/account/keys", post(pages::account::create_key))
        .route(
            "/account/keys/{id}/revoke",
            post(pages::account::revoke_key),
        )
        .route("/admin", get(pages::admin::show))
        .route("/admin/products", post(pages::admin::create))
        .route("/admin/products/{id}", post(pages::admin::update))
        .merge(assets::routes())
        .with_state(shop)
}
