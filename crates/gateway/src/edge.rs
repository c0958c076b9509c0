//! The gateway's two doors: HTTPS, and plain HTTP that either serves the API (bound to
//! loopback, for development) or sends every client to HTTPS (when it is exposed).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{HOST, LOCATION, STRICT_TRANSPORT_SECURITY};
use http::{HeaderValue, StatusCode};
use kit::Problem;
use kit::serving::health::Readiness;
use kit::serving::tls::CertificateFiles;
use tower_http::set_header::SetResponseHeaderLayer;

/// Where and with what certificate the gateway serves HTTPS.
#[derive(Debug, Clone)]
pub struct Tls {
    pub listen: SocketAddr,
    pub files: CertificateFiles,
}

/// What the plain HTTP port does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainHttp {
    /// Serves the API: only sensible on loopback, where nothing travels a network.
    Serve,
    /// Answers every request (but the probes) with a redirect to HTTPS.
    RedirectToHttps,
}

/// A year: browsers remember to use HTTPS only, long enough to cover a visitor's return.
const HSTS: &str = "max-age=31536000";

/// The API as served over HTTPS: with HSTS on every answer.
pub fn https(app: Router) -> Router {
    app.layer(SetResponseHeaderLayer::overriding(
        STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    ))
}

/// The plain HTTP port when exposed: probes still answer (an orchestrator may not speak
/// TLS), everything else is sent to the same host on `https_port`.
pub fn redirect(
    https_port: u16,
    readiness: Readiness,
    stack: &kit::serving::http::Stack,
) -> Router {
    let app = Router::new()
        .fallback(to_https)
        .with_state(https_port)
        .merge(kit::serving::health::routes(
            readiness,
            stack.draining.clone(),
        ));
    kit::serving::http::layers(app, stack)
}

async fn to_https(State(port): State<u16>, request: Request) -> Response {
    let host = request
        .headers()
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(host_name);
    let Some(host) = host else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "Send a Host header naming this server; it is reached over HTTPS.",
        )
        .into_response();
    };
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let location = format!("https://{host}:{port}{target}");
    match HeaderValue::from_str(&location) {
        // 308 keeps the method and body; a client that follows it repeats the request safely.
        Ok(location) => (StatusCode::PERMANENT_REDIRECT, [(LOCATION, location)]).into_response(),
        Err(_) => Problem::new(StatusCode::BAD_REQUEST, "The request target is not valid.")
            .into_response(),
    }
}

/// The host part of a Host header, if it is a plain DNS name or IP address.
fn host_name(header: &str) -> Option<&str> {
    let host = if header.starts_with('[') {
        // [v6]:port
        &header[..=header.find(']')?]
    } else {
        header.split(':').next()?
    };
    let plain = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    plain.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn only_plain_host_names_are_redirected_to() {
        assert_eq!(host_name("localhost:8080"), Some("localhost"));
        assert_eq!(host_name("shop.example.com"), Some("shop.example.com"));
        assert_eq!(host_name("[::1]:8080"), Some("[::1]"));
        assert_eq!(host_name("evil.example/path"), None);
        assert_eq!(host_name("a@b"), None);
        assert_eq!(host_name(""), None);
    }
}
