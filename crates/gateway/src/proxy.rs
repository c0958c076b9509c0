//! Routing `/api/v1/<resource>...` to the service that owns the resource.
//!
//! Only the public resource paths are reachable: `/api/v1/products/7` becomes
//! `/products/7` on product-service, and a path that could be normalised into another
//! (`..`, `.`, percent-escapes, backslashes) is refused before any URL is built, so no
//! request can climb into a service's `/internal/...` routes.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use kit::calling::client::Upstream;
use kit::serving::body::MAX_BODY_BYTES;
use kit::{ApiError, Problem};

use crate::AppState;
use crate::access::identity::Identity;
use crate::access::{deprovision, policy};
use crate::client_ip::ClientAddr;
use crate::methods::{Documented, METHODS};
use crate::resource::{PREFIX, Resource};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for resource in Resource::ALL {
        let handler = move |state, identity, client, request| {
            forward(state, identity, client, request, resource)
        };
        let base = format!("{PREFIX}/{}", resource.segment());
        router = router
            .route(&base, any(handler))
            .route(&format!("{base}/{{*rest}}"), any(handler));
    }
    router
}

/// Headers that describe one hop and must not be passed on (RFC 9110, 7.6.1), and
/// forwarding headers a client could forge: the gateway sets those itself.
const NOT_FORWARDED: [&str; 22] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
    // Credentials end here: services learn who is calling from the signed token alone.
    "authorization",
    "cookie",
    kit::identity::TOKEN_HEADER,
    // Between services only: which upstream of a service failed (see kit's failure.rs).
    kit::calling::failure::FAILED_UPSTREAM,
    // The gateway starts its own trace for every request from outside (see kit::observing::trace).
    "traceparent",
    "tracestate",
    "baggage",
];

fn forwardable(name: &HeaderName) -> bool {
    !NOT_FORWARDED.contains(&name.as_str())
}

/// `/api/v1/users/1` -> `/users/1`, if every segment is plain.
pub fn internal_path(public_path: &str) -> Option<&str> {
    let path = public_path.strip_prefix(PREFIX)?;
    let plain = path.split('/').skip(1).all(|segment| {
        !segment.is_empty()
            && segment.chars().any(|c| c != '.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    });
    plain.then_some(path)
}

async fn forward(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
    Extension(ClientAddr(client)): Extension<ClientAddr>,
    request: Request,
    resource: Resource,
) -> Response {
    let upstream = app.upstream(resource);
    let (parts, body) = request.into_parts();
    let Some(path) = internal_path(parts.uri.path()) else {
        return not_found();
    };
    // The dictionary decides which methods a path has, before anyone is asked who calls;
    // while it cannot be built (a service is down), the services' own routing does.
    match app
        .public_api
        .documents(&app, &parts.method, parts.uri.path())
        .await
    {
        Some(Documented::Yes) => {}
        Some(Documented::NoSuchPath) => return not_found(),
        Some(Documented::OtherMethods(methods)) => return method_not_allowed(&methods),
        None if !METHODS.contains(&parts.method) => return method_not_allowed(&METHODS),
        None => {}
    }
    let rest = &path[1 + resource.segment().len()..];
    if let Err(refusal) = policy::authorize(&identity, resource, &parts.method, rest) {
        return refusal.into_response();
    }
    let target = match parts.uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is larger than 1 MiB.",
            )
            .into_response();
        }
    };
    if resource == Resource::Users
        && let Some(change) = deprovision::change_of(&identity, &parts.method, rest, &body)
        && let Err(error) = deprovision::apply(&app, change, &identity).await
    {
        // Access must end before the change is made, or not be changed at all.
        return ApiError::from(error).into_response();
    }
    let mut outgoing = upstream
        .request_acting_for(parts.method.clone(), &target, &identity.actor)
        .body(body);
    for (name, value) in &parts.headers {
        if forwardable(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    outgoing = outgoing.header("x-forwarded-for", client.to_string());
    match upstream.send(outgoing).await {
        Ok(answer) if answer.status() == StatusCode::UNAUTHORIZED => refused_us(upstream),
        Ok(answer) => relay(answer, parts.method == Method::HEAD),
        Err(error) => ApiError::from(error).into_response(),
    }
}

/// A service answers 401 only when the gateway's own token or certificate did not pass:
/// the client was authenticated already, and must not be told it was not. A fault of the
/// shop's configuration (keys that differ at the two ends), answered as one.
fn refused_us(upstream: &Upstream) -> Response {
    tracing::error!(
        upstream = upstream.service(),
        "the service refused the gateway's identity token: do both hold the same keys?"
    );
    Problem::typed(
        StatusCode::BAD_GATEWAY,
        "upstream-refused",
        "Upstream refused",
        "A service behind the gateway did not accept its credentials; try again later.",
    )
    .into_response()
}

fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "There is no resource at this path.").into_response()
}

fn method_not_allowed(methods: &[Method]) -> Response {
    let mut problem = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "This method is not allowed on this resource; the Allow header lists those that are.",
    );
    problem
        .headers
        .insert(header::ALLOW, crate::methods::allow_header(methods));
    problem.into_response()
}

/// Passes the service's answer back, streaming its body. The body keeps the length the
/// service announced, so the client gets a `content-length` rather than chunks: a chunked
/// answer costs the gateway extra writes and the client extra parsing on every call.
fn relay(answer: reqwest::Response, head: bool) -> Response {
    let (parts, body) = http::Response::from(answer).into_parts();
    let mut headers = HeaderMap::with_capacity(parts.headers.len());
    // An answer to HEAD has no body, and its length is the one GET would have given:
    // without the service's own, hyper would announce the empty body's, 0.
    let kept = |name: &HeaderName| forwardable(name) || (head && name == header::CONTENT_LENGTH);
    let mut name = None;
    for (next, value) in parts.headers {
        // `into_iter` names a header once, before the first of its values.
        name = next.or(name);
        if let Some(name) = name.as_ref().filter(|name| kept(name)) {
            headers.append(name.clone(), value);
        }
    }
    if let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && location.starts_with('/')
        && let Ok(public) = HeaderValue::from_str(&format!("{PREFIX}{location}"))
    {
        headers.insert(header::LOCATION, public);
    }
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    *response.headers_mut() = headers;
    response
}

/// Kept here so the gateway's readiness names the same services it routes to.
pub fn upstreams(app: &AppState) -> [Upstream; 3] {
    Resource::ALL.map(|resource| app.upstream(resource).clone())
}

#[cfg(test)]
mod tests {
    use super::internal_path;

    #[test]
    fn public_paths_map_to_resource_paths() {
        assert_eq!(internal_path("/api/v1/users"), Some("/users"));
        assert_eq!(internal_path("/api/v1/orders/9001"), Some("/orders/9001"));
        assert_eq!(
            internal_path("/api/v1/orders/9001/cancel"),
            Some("/orders/9001/cancel")
        );
    }

    #[test]
    fn paths_that_could_be_normalised_elsewhere_are_refused() {
        for path in [
            "/api/v1/products/../internal/reservations",
            "/api/v1/products/./1",
            "/api/v1/products/%2e%2e/internal",
            "/api/v1/products/..%2finternal",
            "/api/v1/products//1",
            "/api/v1/products/1/",
            "/api/v1/products/a\\b",
            "/api/v1/products/...",
            "/other",
        ] {
            assert_eq!(internal_path(path), None, "{path} was accepted");
        }
    }
}
