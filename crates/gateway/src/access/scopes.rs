//! Scopes: what an API key (or a session) may touch, as `<resource>:<read|write>`.
//!
//! A session carries every scope its role allows; an API key carries the subset its owner
//! chose when creating it, so a key handed to a third party can be limited to, say,
//! reading the catalogue.

use http::Method;
use kit::identity::{Access, Role, Scope};

use crate::resource::Resource;

/// Reading the gateway's `/metrics`: for an administrator's key given to a scraper, which
/// then can do nothing else.
pub const METRICS: Scope = Scope::new("metrics", Access::Read);

/// Reading the security audit trail: administrators only, and for a key given to a SIEM,
/// which then can do nothing else.
pub const SECURITY_EVENTS: Scope = Scope::new("security_events", Access::Read);

/// Writing the catalogue: for administrators only.
const CATALOGUE_WRITE: Scope = Scope::new("products", Access::Write);

/// Every scope there is: reading and writing each published resource, the metrics and the
/// security audit trail.
pub fn all() -> Vec<Scope> {
    Resource::ALL
        .into_iter()
        .flat_map(|resource| {
            [Access::Read, Access::Write].map(|access| Scope::new(resource.segment(), access))
        })
        .chain([METRICS, SECURITY_EVENTS])
        .collect()
}

/// Every scope a role may hold: a customer cannot write the catalogue, so neither can any
/// key a customer creates.
pub fn granted_to(role: Role) -> Vec<Scope> {
    let allowed = |scope: &Scope| match role {
        Role::Admin => true,
        Role::Customer => ![CATALOGUE_WRITE, METRICS, SECURITY_EVENTS].contains(scope),
        Role::Anonymous | Role::Service => false,
    };
    all().into_iter().filter(allowed).collect()
}

/// `held`, less whatever `role` does not grant.
pub fn capped(held: Vec<Scope>, role: Role) -> Vec<Scope> {
    let granted = granted_to(role);
    held.into_iter()
        .filter(|scope| granted.contains(scope))
        .collect()
}

/// The scopes of an API key as stored (space-separated). A stored scope that this version
/// does not know grants nothing, and says so in the log.
pub fn parse_stored(stored: &str) -> Vec<Scope> {
    stored
        .split_whitespace()
        .filter_map(|text| match Scope::parse(text) {
            Ok(scope) => Some(scope),
            Err(_) => {
                tracing::error!(scope = text, "an API key holds an unknown scope; ignored");
                None
            }
        })
        .collect()
}

/// The scopes as stored: space-separated.
pub fn to_stored(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scope a request needs: reading for safe methods, writing for the rest.
pub fn required(resource: Resource, method: &Method) -> Scope {
    let access = if method.is_safe() {
        Access::Read
    } else {
        Access::Write
    };
    Scope::new(resource.segment(), access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_never_hold_catalogue_writes() {
        assert!(!granted_to(Role::Customer).contains(&Scope::new("products", Access::Write)));
        assert_eq!(granted_to(Role::Admin).len(), all().len());
        assert!(granted_to(Role::Anonymous).is_empty());
    }

    #[test]
    fn methods_map_to_read_or_write() {
        assert_eq!(
            required(Resource::Orders, &Method::GET).to_string(),
            "orders:read"
        );
        assert_eq!(
            required(Resource::Orders, &Method::POST).to_string(),
            "orders:write"
        );
        assert_eq!(
            required(Resource::Products, &Method::DELETE).to_string(),
            "products:write"
        );
    }

    #[test]
    fn stored_scopes_round_trip() {
        let scopes = granted_to(Role::Customer);
        assert_eq!(parse_stored(&to_stored(&scopes)), scopes);
        assert_eq!(
            parse_stored("orders:read made:up"),
            vec![Scope::new("orders", Access::Read)]
        );
    }
}
