//! Refusals that come before a page runs: the gateway's own steps in front of the pages
//! (the rate limit per address, a client address it cannot establish). They are
//! problem+json for the API; for a person at a page they become a page that says the same
//! in the visitor's language, with the same status and headers (`Retry-After` included).
//! (The common stack's refusals outside the gateway, such as a body too large or a
//! request shed under overload, stay problem+json.)

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_TYPE;

use crate::i18n::{Lang, Text};
use crate::visit::{Chrome, ErrorPage, page_headers};

/// Middleware around the pages, outside the gateway's own steps.
pub async fn as_pages(request: Request, next: Next) -> Response {
    let lang = Lang::of(request.headers());
    let response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let t = lang.text();
    let status = response.status();
    let chrome = Chrome {
        t,
        lang: lang.code(),
        switch_href: format!("/language?to={}&back=/", lang.other().code()),
        title: t.error_title.to_owned(),
        me: None,
        cart_count: 0,
        form_token: String::new(),
        notice: None,
        error: Some(words_for(t, status).to_owned()),
    };
    let html = askama::Template::render(&ErrorPage { c: chrome })
        .unwrap_or_else(|_| words_for(t, status).to_owned());
    let (mut parts, _problem) = response.into_parts();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    page_headers(&mut parts.headers, true);
    let mut page = (status, html).into_response();
    for (name, value) in &parts.headers {
        page.headers_mut().insert(name, value.clone());
    }
    page
}

fn words_for(t: &'static Text, status: StatusCode) -> &'static str {
    match status {
        StatusCode::TOO_MANY_REQUESTS => t.rate_limited,
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT | StatusCode::BAD_GATEWAY => {
            t.service_down
        }
        StatusCode::NOT_FOUND => t.not_found,
        status if status.is_client_error() => t.invalid_input,
        _ => t.something_wrong,
    }
}
