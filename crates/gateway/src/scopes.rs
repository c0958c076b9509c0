//! Scopes: what an API key (or a session) may touch, as `<resource>:<read|write>`.
//!
//! A session carries every scope its role allows; an API key carries the subset its owner
//! chose when creating it, so a key handed to a third party can be limited to, say,
//! reading the catalogue.

use http::Method;
use kit::identity::Role;

use crate::proxy::Resource;

pub const ALL: [&str; 7] = [
    "users:read",
    "users:write",
    "products:read",
    "products:write",
    "orders:read",
    "orders:write",
    METRICS,
];

/// Reading the gateway's `/metrics`: for an administrator's key given to a scraper, which
/// then can do nothing else.
pub const METRICS: &str = "metrics:read";

/// Every scope a role may hold: a customer cannot write the catalogue, so neither can any
/// key a customer creates.
pub fn granted_to(role: Role) -> Vec<String> {
    let allowed = |scope: &str| match role {
        Role::Admin => true,
        Role::Customer => scope != "products:write" && scope != METRICS,
        Role::Anonymous | Role::Service => false,
    };
    ALL.into_iter()
        .filter(|scope| allowed(scope))
        .map(str::to_owned)
        .collect()
}

pub fn parse(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_owned).collect()
}

/// The scope a request needs: reading for safe methods, writing for the rest.
pub fn required(resource: Resource, method: &Method) -> String {
    let access = if method.is_safe() { "read" } else { "write" };
    format!("{}:{access}", resource.segment())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_never_hold_catalogue_writes() {
        assert!(!granted_to(Role::Customer).contains(&"products:write".to_owned()));
        assert_eq!(granted_to(Role::Admin).len(), ALL.len());
        assert!(granted_to(Role::Anonymous).is_empty());
    }

    #[test]
    fn methods_map_to_read_or_write() {
        assert_eq!(required(Resource::Orders, &Method::GET), "orders:read");
        assert_eq!(required(Resource::Orders, &Method::POST), "orders:write");
        assert_eq!(
            required(Resource::Products, &Method::DELETE),
            "products:write"
        );
    }
}
