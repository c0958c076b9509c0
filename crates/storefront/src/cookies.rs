//! Reading the request's cookies and writing the storefront's own. Every cookie the
//! storefront sets is `__Host-` prefixed where it matters (no subdomain or plain-HTTP page
//! can plant one), `HttpOnly` (no script reads it) and `SameSite=Strict`.

use http::HeaderMap;
use http::header::COOKIE;

/// The value of cookie `name`, if the request carries it.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// `Set-Cookie` for a cookie of ours that lives `max_age` seconds (0 deletes it).
pub fn set(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}
