//! Who is calling: established once per request from the signed identity token, and the
//! one place handlers learn the caller's identity.
//!
//! Every request into a service must carry a token ([`TOKEN_HEADER`]) signed by a caller
//! the service trusts and meant for this service ([`crate::token`]). [`Gate::check`] runs
//! before any handler and refuses everything else with 401, except the probes in
//! [`UNAUTHENTICATED_PATHS`]. Nothing about where a request came from (address, port,
//! network) counts: a process next to the service with no token is a stranger.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::ApiError;
use crate::problem::Problem;
use crate::token::{Claims, TokenSigner, TokenVerifier};

/// The header that carries the identity token between processes. A client's copy never
/// passes the gateway: it sets this header itself on every forwarded request.
pub const TOKEN_HEADER: &str = "x-msa-identity";

/// The issuer names of the processes that sign tokens; a verifier knows each key by one.
pub const GATEWAY: &str = "gateway";
pub const ORDERS: &str = "orders";

/// How long a minted token lives: long enough for one call, far too short to be worth
/// stealing from a log.
pub const TOKEN_LIFETIME_SECONDS: i64 = 30;

/// Probes that orchestrators call without credentials; they reveal nothing but liveness.
pub const UNAUTHENTICATED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

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
    fn parse(subject: &str) -> Option<Self> {
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

/// The caller of a request, as the token vouches for it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub role: Role,
    pub scopes: Vec<String>,
    /// Who signed the token: `gateway`, or the service that made the call.
    pub issuer: String,
}

impl Caller {
    /// The caller's claims, checked for a coherent principal and role.
    fn from_claims(claims: Claims) -> Option<Self> {
        let principal = Principal::parse(&claims.sub)?;
        let role = Role::parse(&claims.role)?;
        // Only the gateway, which authenticated them, vouches for people: a service's key
        // never turns into a user's (or an administrator's) word.
        let from_gateway = claims.iss == GATEWAY;
        let coherent = match &principal {
            Principal::Anonymous => role == Role::Anonymous && from_gateway,
            Principal::User(_) => matches!(role, Role::Customer | Role::Admin) && from_gateway,
            // A service speaks only for itself, and only with its own key.
            Principal::Service(name) => role == Role::Service && *name == claims.iss,
        };
        coherent.then_some(Self {
            principal,
            role,
            scopes: claims.scopes,
            issuer: claims.iss,
        })
    }

    /// A stable key naming the caller, used to scope state such as idempotency keys so that
    /// one caller can never see or collide with another's.
    pub fn scope_key(&self) -> String {
        self.principal.subject()
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

    /// Whether the call is made by service `name` itself, signed with its own key.
    pub fn is_service(&self, name: &str) -> bool {
        matches!(&self.principal, Principal::Service(own) if own == name) && self.issuer == name
    }

    /// Whether the token was signed by `issuer` (the gateway, for requests from outside).
    pub fn signed_by(&self, issuer: &str) -> bool {
        self.issuer == issuer
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

    /// Whether the caller may see or change what belongs to user `owner`: the owner, an
    /// administrator, or a service.
    pub fn may_access_user(&self, owner: i64) -> bool {
        self.user_id() == Some(owner) || matches!(self.role, Role::Admin | Role::Service)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The gate puts it there; a route outside the gate has no caller and serves no one.
        parts
            .extensions
            .get::<Self>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)
    }
}

/// The public keys of the processes that sign identity tokens, by issuer name, as
/// distributed by configuration.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys(std::collections::BTreeMap<String, String>);

impl PublicKeys {
    pub fn with(mut self, issuer: &str, public_key: impl Into<String>) -> Self {
        self.0.insert(issuer.to_owned(), public_key.into());
        self
    }

    /// The gate of service `audience`, which trusts exactly `issuers`: who may call whom is
    /// decided by the service, the keys that prove it by configuration.
    pub fn gate(&self, audience: &str, issuers: &[&str]) -> anyhow::Result<Gate> {
        let mut verifier = TokenVerifier::new(audience);
        for issuer in issuers {
            let key = self.0.get(*issuer).ok_or_else(|| {
                anyhow::anyhow!("{audience} needs the public key of {issuer} to verify its calls")
            })?;
            verifier = verifier
                .trust(*issuer, key)
                .map_err(|error| anyhow::anyhow!("the public key of {issuer}: {error}"))?;
        }
        Ok(Gate::new(verifier))
    }
}

/// Checks the identity token of every request into a service.
#[derive(Clone)]
pub struct Gate {
    verifier: Arc<TokenVerifier>,
}

impl Gate {
    pub fn new(verifier: TokenVerifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
        }
    }

    /// Middleware: verifies the token, then hands the request on with its [`Caller`].
    pub async fn check(State(gate): State<Self>, mut request: Request, next: Next) -> Response {
        if UNAUTHENTICATED_PATHS.contains(&request.uri().path()) {
            return next.run(request).await;
        }
        let token = request
            .headers()
            .get(TOKEN_HEADER)
            .and_then(|value| value.to_str().ok());
        let Some(token) = token else {
            return refuse("no identity token");
        };
        let caller = match gate.verifier.verify(token, crate::time::now_unix()) {
            Ok(claims) => match Caller::from_claims(claims) {
                Some(caller) => caller,
                None => return refuse("incoherent identity token"),
            },
            Err(error) => return refuse(&error.to_string()),
        };
        request.extensions_mut().insert(caller);
        next.run(request).await
    }
}

fn refuse(reason: &str) -> Response {
    tracing::warn!(
        security_event = "identity-token-refused",
        reason,
        "refused a request without a valid identity token"
    );
    Problem::typed(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        "This service answers only requests that carry a valid identity token.",
    )
    .into_response()
}

/// Signs the calls a process makes on its own behalf, one short-lived token per call.
#[derive(Debug, Clone)]
pub struct CallSigner {
    signer: Arc<TokenSigner>,
}

impl CallSigner {
    pub fn new(signer: TokenSigner) -> Self {
        Self {
            signer: Arc::new(signer),
        }
    }

    pub fn issuer(&self) -> &str {
        self.signer.issuer()
    }

    /// The key that verifies this signer's tokens, as configuration text.
    pub fn public_key(&self) -> String {
        self.signer.public_key()
    }

    /// A token for `audience` that speaks for `principal`.
    pub fn token(
        &self,
        audience: &str,
        principal: &Principal,
        role: Role,
        scopes: &[String],
    ) -> String {
        let now = crate::time::now_unix();
        self.signer.sign(Claims {
            iss: String::new(),
            aud: audience.to_owned(),
            sub: principal.subject(),
            role: role.as_str().to_owned(),
            scopes: scopes.to_vec(),
            rid: crate::request_id::current().unwrap_or_default(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
        })
    }

    /// A token for `audience` in which this process speaks for itself.
    pub fn own_token(&self, audience: &str) -> String {
        let principal = Principal::Service(self.signer.issuer().to_owned());
        self.token(audience, &principal, Role::Service, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, role: &str, iss: &str) -> Claims {
        Claims {
            iss: iss.to_owned(),
            aud: "users".to_owned(),
            sub: sub.to_owned(),
            role: role.to_owned(),
            scopes: Vec::new(),
            rid: String::new(),
            iat: 0,
            exp: 1,
        }
    }

    #[test]
    fn coherent_claims_make_a_caller() {
        let caller = Caller::from_claims(claims("user:7", "customer", "gateway"));
        assert_eq!(caller.map(|c| c.user_id()), Some(Some(7)));
        let orders = Caller::from_claims(claims("service:orders", "service", "orders"));
        assert!(orders.is_some_and(|c| c.is_service("orders")));
    }

    #[test]
    fn incoherent_claims_are_refused() {
        for (sub, role, iss) in [
            ("anonymous", "admin", "gateway"),
            ("user:7", "service", "gateway"),
            ("user:0", "customer", "gateway"),
            ("user:x", "customer", "gateway"),
            // The gateway cannot speak as order-service, nor order-service as the gateway.
            ("service:orders", "service", "gateway"),
            ("service:", "service", ""),
            ("root", "admin", "gateway"),
            ("user:7", "superuser", "gateway"),
            // Only the gateway vouches for people.
            ("user:7", "admin", "orders"),
            ("anonymous", "anonymous", "orders"),
        ] {
            assert!(
                Caller::from_claims(claims(sub, role, iss)).is_none(),
                "{sub} as {role} from {iss} was accepted"
            );
        }
    }
}
