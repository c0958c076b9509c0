//! Reading a request's cookies: one parser for the gateway's session and the storefront's
//! own cookies.

use http::HeaderMap;
use http::header::COOKIE;

/// The value of cookie `name`, if the request carries it (in any of its `Cookie` headers).
pub fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}
