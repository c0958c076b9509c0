//! Route policy: the first authorization check, made at the door before any service is
//! called. Services check again at object level (whose order, whose account); this layer
//! only decides who may reach a route at all.

use http::Method;
use kit::ApiError;
use kit::identity::{Role, Scope};

use crate::access::identity::Identity;
use crate::access::scopes;
use crate::resource::Resource;

/// Who may reach a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, logged in or not: the catalogue.
    Anyone,
    /// A logged-in user (session or API key).
    User,
    /// An administrator.
    Admin,
}

/// The policy of `method` on `/api/v1/<resource><rest>`.
pub fn need(resource: Resource, method: &Method, rest: &str) -> Need {
    let collection = rest.is_empty();
    match resource {
        Resource::Products if method.is_safe() => Need::Anyone,
        Resource::Products => Need::Admin,
        // Accounts are created at /api/v1/auth/register, listed and removed by admins.
        Resource::Users if collection || *method == Method::DELETE => Need::Admin,
        Resource::Users | Resource::Orders => Need::User,
    }
}

/// Applies the policy: 401 when a login is needed, 403 when the caller's role or the
/// API key's scopes fall short.
pub fn authorize(
    identity: &Identity,
    resource: Resource,
    method: &Method,
    rest: &str,
) -> Result<(), ApiError> {
    let need = need(resource, method, rest);
    if identity.role == Role::Anonymous {
        return match need {
            Need::Anyone => Ok(()),
            Need::User | Need::Admin => Err(ApiError::Unauthenticated),
        };
    }
    if need == Need::Admin && identity.role != Role::Admin {
        return Err(ApiError::Forbidden);
    }
    let scope = scopes::required(resource, method);
    if identity.holds(&scope) {
        Ok(())
    } else {
        Err(insufficient_scope(&scope))
    }
}

/// For the gateway's own administrative routes (`/metrics`, the audit trail): 401 without
/// a login, 403 for anyone but an administrator, and for an administrator's API key that
/// does not carry `scope`.
pub fn require_admin_scope(identity: &Identity, scope: &Scope) -> Result<(), ApiError> {
    match identity.role {
        Role::Anonymous => Err(ApiError::Unauthenticated),
        Role::Admin if identity.holds(scope) => Ok(()),
        Role::Admin => Err(insufficient_scope(scope)),
        _ => Err(ApiError::Forbidden),
    }
}

/// 403 for an API key that does not carry `scope`.
pub fn insufficient_scope(scope: &Scope) -> ApiError {
    ApiError::Problem(Box::new(kit::Problem::typed(
        http::StatusCode::FORBIDDEN,
        "insufficient-scope",
        "Insufficient scope",
        format!("This API key lacks the `{scope}` scope."),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_public_and_written_by_admins() {
        assert_eq!(need(Resource::Products, &Method::GET, ""), Need::Anyone);
        assert_eq!(
            need(Resource::Products, &Method::HEAD, "/101"),
            Need::Anyone
        );
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(need(Resource::Products, &method, "/101"), Need::Admin);
        }
    }

    #[test]
    fn accounts_are_listed_and_removed_by_admins_only() {
        assert_eq!(need(Resource::Users, &Method::GET, ""), Need::Admin);
        assert_eq!(need(Resource::Users, &Method::POST, ""), Need::Admin);
        assert_eq!(need(Resource::Users, &Method::DELETE, "/1"), Need::Admin);
        assert_eq!(need(Resource::Users, &Method::GET, "/1"), Need::User);
        assert_eq!(need(Resource::Users, &Method::PATCH, "/1"), Need::User);
        assert_eq!(need(Resource::Orders, &Method::GET, ""), Need::User);
    }

    #[test]
    fn anonymous_callers_reach_only_the_catalogue() {
        let anonymous = Identity::anonymous();
        assert!(authorize(&anonymous, Resource::Products, &Method::GET, "").is_ok());
        assert!(matches!(
            authorize(&anonymous, Resource::Orders, &Method::GET, ""),
            Err(ApiError::Unauthenticated)
        ));
    }
}
