//! Cross-origin access for browser front ends on other origins: only the origins the
//! operator lists, each compared exactly. An arbitrary origin is never reflected and
//! `null` (sandboxed frames, local files) is never accepted, so no page elsewhere can
//! use a visitor's session cookie to read our answers.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::Route;
use futures::future::BoxFuture;
use http::{HeaderName, HeaderValue, Method, header};
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// An origin as a browser sends it: `scheme://host[:port]`, nothing more.
pub fn parse_origin(text: &str) -> Result<HeaderValue, String> {
    let text = text.trim().trim_end_matches('/');
    let invalid = || format!("`{text}` is not an origin such as https://shop.example.com");
    let uri: http::Uri = text.parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("https" | "http"));
    let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    if !scheme_ok || uri.authority().is_none() || !bare || text.contains('*') {
        return Err(invalid());
    }
    HeaderValue::from_str(&text.to_ascii_lowercase()).map_err(|_| invalid())
}

/// The CORS layer for `origins`; none when no origin is configured, so that browsers
/// apply the same-origin policy in full.
pub fn layer(origins: &[HeaderValue]) -> Option<PreflightsOnly> {
    if origins.is_empty() {
        return None;
    }
    Some(PreflightsOnly(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                header::LOCATION,
                header::ETAG,
                header::RETRY_AFTER,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("idempotent-replayed"),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    ))
}

/// tower-http's CORS, but only for real preflights: it answers every `OPTIONS` as one,
/// which would give a plain `OPTIONS` (no `Access-Control-Request-Method`) a 200 instead
/// of the resource's 405 and `Allow`.
#[derive(Clone)]
pub struct PreflightsOnly(CorsLayer);

impl Layer<Route> for PreflightsOnly {
    type Service = PreflightsOnlyService;

    fn layer(&self, inner: Route) -> Self::Service {
        PreflightsOnlyService {
            cors: self.0.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct PreflightsOnlyService {
    cors: Cors<Route>,
    plain: Route,
}

impl Service<Request> for PreflightsOnlyService {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Each call is made on a clone, readied by `oneshot`.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let plain_options = request.method() == Method::OPTIONS
            && !request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if plain_options {
            Box::pin(self.plain.clone().oneshot(request))
        } else {
            Box::pin(self.cors.clone().oneshot(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_origins_are_accepted() {
        assert_eq!(
            parse_origin("https://Shop.Example.com/").ok(),
            Some(HeaderValue::from_static("https://shop.example.com"))
        );
        assert!(parse_origin("http://localhost:3000").is_ok());
        for bad in [
            "null",
            "*",
            "https://*.example.com",
            "shop.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://example.com?x=1",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
