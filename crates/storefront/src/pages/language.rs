//! The language switch: a link that remembers the choice in a cookie and goes back.

use axum::extract::Query;
use axum::response::{IntoResponse, Response};
use http::header::{LOCATION, SET_COOKIE};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use crate::cookies;
use crate::i18n::{LANG_COOKIE, Lang};
use crate::notices::local_path;

#[derive(Deserialize)]
pub struct Switch {
    to: String,
    #[serde(default)]
    back: String,
}

/// A year: the choice is a preference, not a credential.
const LANG_MAX_AGE: u64 = 365 * 24 * 3600;

pub async fn switch(Query(switch): Query<Switch>) -> Response {
    let Some(lang) = Lang::parse(&switch.to) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(back) = HeaderValue::from_str(local_path(&switch.back)) {
        headers.insert(LOCATION, back);
    }
    if let Ok(cookie) = HeaderValue::from_str(&cookies::set(LANG_COOKIE, lang.code(), LANG_MAX_AGE))
    {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}
