//! What ties an identity token to the one request it was made for: the method, the target
//! (path and query, exactly as sent) and, for a request that changes state, the SHA-256 of
//! its body. A token copied off the network opens nothing but that request: not another
//! route, not another method, not the same route with another body.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{Method, Uri};
use sha2::{Digest, Sha256};

use crate::identity::token::{Claims, TokenError};

/// The facts of one request that its token must name.
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    pub method: &'a Method,
    /// The path and query, as they travel in the request line.
    pub target: &'a str,
    pub body: &'a [u8],
}

impl Bound<'_> {
    /// Whether the request may change state: then its token names the body, and is good
    /// for one use.
    pub fn changes_state(&self) -> bool {
        !self.method.is_safe()
    }

    /// The body digest a token for this request names; none for a request that only reads.
    pub fn body_digest(&self) -> Option<String> {
        self.changes_state()
            .then(|| B64.encode(Sha256::digest(self.body)))
    }

    /// Whether `claims` were made for this request.
    pub fn check(&self, claims: &Claims) -> Result<(), TokenError> {
        if claims.htm != self.method.as_str() || claims.htu != self.target {
            return Err(TokenError::WrongRequest);
        }
        // Both are public facts, the claims authenticated already: no need for constant time.
        if claims.bdh != self.body_digest() {
            return Err(TokenError::WrongBody);
        }
        Ok(())
    }
}

/// The target of a request as a server received it.
pub fn target_of(uri: &Uri) -> &str {
    uri.path_and_query()
        .map_or_else(|| uri.path(), |target| target.as_str())
}

/// The target of a request as a client will send it.
pub fn target_of_url(url: &reqwest::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_for(bound: &Bound) -> Claims {
        Claims {
            iss: "gateway".to_owned(),
            kid: String::new(),
            aud: "orders".to_owned(),
            sub: "user:1".to_owned(),
            role: "customer".to_owned(),
            scopes: Vec::new(),
            rid: String::new(),
            iat: 0,
            exp: 30,
            jti: crate::identity::token::new_token_id(),
            htm: bound.method.as_str().to_owned(),
            htu: bound.target.to_owned(),
            bdh: bound.body_digest(),
        }
    }

    #[test]
    fn a_token_opens_only_its_own_request() {
        let read = Bound {
            method: &Method::GET,
            target: "/orders/7",
            body: b"",
        };
        let claims = claims_for(&read);
        assert_eq!(read.check(&claims), Ok(()));
        for (method, target, error) in [
            (Method::POST, "/orders/7", TokenError::WrongRequest),
            (Method::GET, "/orders/8", TokenError::WrongRequest),
            (Method::GET, "/orders/7?all=1", TokenError::WrongRequest),
            (Method::GET, "/orders/7/", TokenError::WrongRequest),
        ] {
            let other = Bound {
                method: &method,
                target,
                body: b"",
            };
            assert_eq!(other.check(&claims), Err(error), "{method} {target}");
        }
    }

    #[test]
    fn a_write_token_names_its_body() {
        let write = Bound {
            method: &Method::POST,
            target: "/orders/7/cancel",
            body: br#"{"reason":"x"}"#,
        };
        let claims = claims_for(&write);
        assert!(claims.bdh.is_some());
        assert_eq!(write.check(&claims), Ok(()));
        let other_body = Bound {
            body: br#"{"reason":"y"}"#,
            ..write
        };
        assert_eq!(other_body.check(&claims), Err(TokenError::WrongBody));
        // A read names no body; its token cannot carry one in for a write.
        let read = Bound {
            method: &Method::GET,
            target: "/orders/7",
            body: b"",
        };
        let mut claims = claims_for(&read);
        claims.bdh = write.body_digest();
        assert_eq!(read.check(&claims), Err(TokenError::WrongBody));
    }

    #[test]
    fn server_and_client_see_the_same_target() {
        let url = reqwest::Url::parse("http://products:5002/products?q=a%20b&page=2").expect("url");
        let uri: Uri = "/products?q=a%20b&page=2".parse().expect("uri");
        assert_eq!(target_of_url(&url), target_of(&uri));
        let bare = reqwest::Url::parse("http://products:5002").expect("url");
        assert_eq!(target_of_url(&bare), "/");
    }
}
