//! Which methods each documented path has, read off the public API dictionary: the gateway
//! answers 404 for a path it does not document and 405, with that resource's own `Allow`,
//! for a method the path does not have.

use http::Method;
use serde_json::Value;

/// The methods the public API uses, in the order `Allow` lists them. Anything else (TRACE,
/// CONNECT, made-up ones) is refused at the gateway and never reaches a service.
pub const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A documented path template (`/api/v1/orders/{id}`, by segment) and its methods.
pub struct Route {
    segments: Vec<String>,
    pub methods: Vec<Method>,
}

impl Route {
    pub fn matches(&self, path: &str) -> bool {
        let mut segments = path.split('/');
        self.segments.iter().all(|template| {
            segments
                .next()
                .is_some_and(|segment| template.starts_with('{') || template == segment)
        }) && segments.next().is_none()
    }
}

/// What the dictionary says of one request's path and method.
pub enum Documented {
    Yes,
    /// The path is documented, but not with this method; these are its methods.
    OtherMethods(Vec<Method>),
    NoSuchPath,
}

/// The methods of each documented path, in the order `Allow` lists them.
pub fn routes_of(document: &Value) -> Vec<Route> {
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .iter()
        .map(|(path, item)| {
            let documented = |method: &Method| {
                item.get(method.as_str().to_lowercase()).is_some()
                    || (*method == Method::HEAD && item.get("get").is_some())
            };
            Route {
                segments: path.split('/').map(str::to_owned).collect(),
                methods: METHODS.into_iter().filter(documented).collect(),
            }
        })
        .collect()
}

/// `Allow` for a resource with `methods`.
pub fn allow_header(methods: &[Method]) -> http::HeaderValue {
    let listed: Vec<&str> = methods.iter().map(Method::as_str).collect();
    http::HeaderValue::from_str(&listed.join(", ")).expect("BUG: method names are tokens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_has_its_documented_methods_and_head_with_get() {
        let document = serde_json::json!({ "paths": {
            "/api/v1/orders/{id}/cancel": { "post": {} },
            "/api/v1/orders/{id}": { "get": {}, "parameters": [] },
        }});
        let routes = routes_of(&document);
        let methods_of = |path: &str| {
            routes
                .iter()
                .find(|route| route.matches(path))
                .map(|route| route.methods.clone())
        };
        assert_eq!(
            methods_of("/api/v1/orders/7"),
            Some(vec![Method::GET, Method::HEAD])
        );
        assert_eq!(
            methods_of("/api/v1/orders/7/cancel"),
            Some(vec![Method::POST])
        );
        assert_eq!(methods_of("/api/v1/orders/7/cancel/now"), None);
        assert_eq!(methods_of("/api/v1/orders"), None);
        assert_eq!(allow_header(&[Method::GET, Method::HEAD]), "GET, HEAD");
    }
}
