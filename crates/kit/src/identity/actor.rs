//! Who a request acts for: the one type the gateway establishes at the door, signs into
//! every identity token, and every service reads back from it.

use std::borrow::Cow;
use std::fmt;

use crate::error::ApiError;

/// The principal a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A visitor who has not logged in (browsing the catalogue, registering, logging in).
    Anonymous,
    /// A user account, through a session or one of its API keys.
    User(i64),
    /// A service acting on its own behalf, such as order-service settling an order.
    Service(String),
}

impl Principal {
    /// The principal a token subject names, if it names one.
    pub fn parse(subject: &str) -> Option<Self> {
        if subject == "anonymous" {
            return Some(Self::Anonymous);
        }
        if let Some(id) = subject.strip_prefix("user:") {
            return id.parse().ok().filter(|id| *id > 0).map(Self::User);
        }
        subject
            .strip_prefix("service:")
            .filter(|name| !name.is_empty())
            .map(|name| Self::Service(name.to_owned()))
    }

    /// The token subject naming this principal.
    pub fn subject(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::User(id) => format!("user:{id}"),
            Self::Service(name) => format!("service:{name}"),
        }
    }
}

/// What a principal may do in general; object-level rules are the services' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Anonymous,
    Customer,
    Admin,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Customer => "customer",
            Self::Admin => "admin",
            Self::Service => "service",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Anonymous, Self::Customer, Self::Admin, Self::Service]
            .into_iter()
            .find(|role| role.as_str() == text)
    }
}

/// Reading or changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// A permission an API key (or a session) carries: `<resource>:<read|write>`, such as
/// `products:read`. Which resources exist is the gateway's business; this type only
/// guarantees the shape, so a scope is never assembled or compared as loose text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    resource: Cow<'static, str>,
    access: Access,
}

/// Text that is not `<resource>:<read|write>` with a lowercase resource name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a scope of the form <resource>:<read|write>")]
pub struct InvalidScope;

impl Scope {
    pub const fn new(resource: &'static str, access: Access) -> Self {
        Self {
            resource: Cow::Borrowed(resource),
            access,
        }
    }

    pub fn parse(text: &str) -> Result<Self, InvalidScope> {
        let (resource, access) = text.split_once(':').ok_or(InvalidScope)?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            _ => return Err(InvalidScope),
        };
        let plain = !resource.is_empty()
            && resource.len() <= 32
            && resource
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_');
        if !plain {
            return Err(InvalidScope);
        }
        Ok(Self {
            resource: Cow::Owned(resource.to_owned()),
            access,
        })
    }

    pub fn resource(&self) -> &str {
        &self.resource
    }

    pub fn access(&self) -> Access {
        self.access
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.access.as_str())
    }
}

/// Who a request acts for, with what role and which scopes: established by the gateway,
/// carried in the identity token, read back by each service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub principal: Principal,
    pub role: Role,
    pub scopes: Vec<Scope>,
}

impl Actor {
    pub fn anonymous() -> Self {
        Self {
            principal: Principal::Anonymous,
            role: Role::Anonymous,
            scopes: Vec::new(),
        }
    }

    /// Service `name` acting on its own behalf.
    pub fn service(name: &str) -> Self {
        Self {
            principal: Principal::Service(name.to_owned()),
            role: Role::Service,
            scopes: Vec::new(),
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match self.principal {
            Principal::User(id) => Some(id),
            _ => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the actor carries `scope`.
    pub fn holds(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// The user a customer request acts for; 401 for anyone who is not a logged-in user.
    pub fn require_user(&self) -> Result<i64, ApiError> {
        self.user_id().ok_or(ApiError::Unauthenticated)
    }

    /// Refuses anyone but an administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Anonymous => Err(ApiError::Unauthenticated),
            _ => Err(ApiError::Forbidden),
        }
    }

    /// Whether the actor may see or change what belongs to user `owner`: the owner, an
    /// administrator, or a service.
    pub fn may_access_user(&self, owner: i64) -> bool {
        self.user_id() == Some(owner) || matches!(self.role, Role::Admin | Role::Service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_their_shape() {
        let scope = Scope::parse("products:read");
        assert_eq!(scope, Ok(Scope::new("products", Access::Read)));
        assert_eq!(
            Scope::new("orders", Access::Write).to_string(),
            "orders:write"
        );
        for bad in [
            "",
            "products",
            "products:",
            ":read",
            "products:delete",
            "Products:read",
            "products:read:write",
            "pro ducts:read",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn subjects_round_trip() {
        for principal in [
            Principal::Anonymous,
            Principal::User(7),
            Principal::Service("orders".to_owned()),
        ] {
            assert_eq!(Principal::parse(&principal.subject()), Some(principal));
        }
        assert_eq!(Principal::parse("user:0"), None);
        assert_eq!(Principal::parse("service:"), None);
    }
}
