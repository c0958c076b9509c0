//! `/docs`: the public API dictionary as a readable page. The page, its script and its
//! style are compiled into the binary and served from here, so it works offline and its
//! Content-Security-Policy allows nothing but this origin.

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};

const PAGE: &str = include_str!("../assets/docs/index.html");
const SCRIPT: &str = include_str!("../assets/docs/app.js");
const STYLE: &str = include_str!("../assets/docs/style.css");

/// Scripts, styles and fetches from this origin only; nothing inline, no frames, no forms.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/docs", get(|| asset("text/html; charset=utf-8", PAGE)))
        .route(
            "/docs/app.js",
            get(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/docs/style.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}
