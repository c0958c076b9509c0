//! Forged forms: every state-changing form must come from a page of this shop, proved twice.
//!
//! 1. Its `Origin` (or, lacking one, its `Referer`) names this host. A browser sets these
//!    itself; a page on another site cannot make them name ours.
//! 2. It carries the form token of the page it came from: an HMAC, under a key only the
//!    gateway holds, of a random per-browser cookie (`__Host-msa_form`, HttpOnly). Another
//!    site can neither read the cookie nor compute the token.
//!
//! The session cookie's `SameSite=Strict` is a third defence, but one that browsers apply
//! by their own rules, and a sibling site (same registrable domain) is "same-site" to it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::header::{HOST, ORIGIN, REFERER};
use rand::Rng;
use sha2::Sha256;

/// The per-browser cookie that form tokens are bound to.
pub const FORM_COOKIE: &str = "__Host-msa_form";
/// How long the form cookie lives: a year; it grants nothing by itself.
pub const FORM_COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;

/// The key of the form tokens, derived from the gateway's own secret.
#[derive(Clone)]
pub struct FormKey(Hmac<Sha256>);

impl FormKey {
    pub fn new(key: [u8; 32]) -> Self {
        Self(Hmac::new_from_slice(&key).expect("BUG: HMAC takes keys of any length"))
    }

    /// The token a form on a page for the browser holding `cookie` carries.
    pub fn token(&self, cookie: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(b"form\0");
        mac.update(cookie.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// Whether `token` is the one for `cookie` (in constant time).
    pub fn verify(&self, cookie: &str, token: &str) -> bool {
        let Ok(presented) = B64.decode(token.trim()) else {
            return false;
        };
        let mut mac = self.0.clone();
        mac.update(b"form\0");
        mac.update(cookie.as_bytes());
        mac.verify_slice(&presented).is_ok()
    }
}

/// A new per-browser form cookie value.
pub fn new_cookie_value() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// The host a request was sent to: its `Host` header (HTTP/1.1), else the authority of
/// its URI (HTTP/2 has no `Host`).
pub fn host_of<'a>(headers: &'a HeaderMap, uri: &'a http::Uri) -> Option<&'a str> {
    headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str))
}

/// Whether the request's `Origin`, else its `Referer`, is `host`. A request with neither
/// is refused: every browser that can run these pages sends `Origin` on a POST.
pub fn same_origin(headers: &HeaderMap, host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    // Two of either is no answer: which would a proxy or a browser have meant?
    if headers.get_all(ORIGIN).iter().count() > 1 || headers.get_all(REFERER).iter().count() > 1 {
        return false;
    }
    let source = headers
        .get(ORIGIN)
        .or_else(|| headers.get(REFERER))
        .and_then(|value| value.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let authority = source
        .strip_prefix("https://")
        .or_else(|| source.strip_prefix("http://"))
        .map(|rest| rest.split('/').next().unwrap_or_default());
    authority.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(http::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name.clone(), value.parse().expect("valid header"));
        }
        headers
    }

    fn same(headers: &HeaderMap) -> bool {
        same_origin(headers, headers.get(HOST).and_then(|v| v.to_str().ok()))
    }

    #[test]
    fn a_token_is_bound_to_its_cookie_and_key() {
        let key = FormKey::new([7; 32]);
        let token = key.token("cookie-a");
        assert!(key.verify("cookie-a", &token));
        assert!(!key.verify("cookie-b", &token));
        assert!(!FormKey::new([8; 32]).verify("cookie-a", &token));
        assert!(!key.verify("cookie-a", ""));
        assert!(!key.verify("cookie-a", "not base64!"));
    }

    #[test]
    fn only_this_hosts_pages_pass_the_origin_check() {
        let host = (HOST, "shop.example:8443");
        assert!(same(&headers(&[
            host.clone(),
            (ORIGIN, "https://shop.example:8443")
        ])));
        assert!(same(&headers(&[
            host.clone(),
            (REFERER, "https://shop.example:8443/cart")
        ])));
        for (name, value) in [
            (ORIGIN, "https://evil.example"),
            (ORIGIN, "null"),
            (ORIGIN, "https://shop.example:8443.evil.example"),
            (ORIGIN, "https://shop.example"),
            (REFERER, "https://evil.example/shop.example:8443"),
        ] {
            assert!(
                !same(&headers(&[host.clone(), (name.clone(), value)])),
                "{name}: {value} passed"
            );
        }
        assert!(!same(&headers(&[host])));
    }
}
