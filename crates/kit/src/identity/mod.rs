//! Who is calling: established once per request from the identity token, and the
//! one place handlers learn the caller's identity.
//!
//! Every request into a service must carry a token ([`TOKEN_HEADER`]) made by a caller
//! the service trusts and meant for this service ([`crate::identity::token`]). [`Gate::admit`] runs
//! before routing and refuses everything else with 401, except the probes in
//! [`UNAUTHENTICATED_PATHS`]. Nothing about where a request came from (address, port,
//! network) counts: a process next to the service with no token is a stranger.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::error::ApiError;
use crate::identity::binding::Bound;
use crate::identity::replay::{Replays, Unused};
use crate::identity::token::{Claims, PartyKey, PublicKey, TokenError, TokenSigner, TokenVerifier};
use crate::problem::Problem;

pub mod actor;
pub mod binding;
mod current;
pub mod email;
pub mod keyring;
pub mod options;
pub mod refusals;
pub mod replay;
pub mod token;

use current::Current;

pub use actor::{Access, Actor, Principal, Role, Scope};

/// The header that carries the identity token between processes. A client's copy never
/// passes the gateway: it sets this header itself on every forwarded request.
pub const TOKEN_HEADER: &str = "x-msa-identity";

/// The names of the processes that make or check tokens; each knows the others' keys by them.
pub const GATEWAY: &str = "gateway";
pub const USERS: &str = "users";
pub const PRODUCTS: &str = "products";
pub const ORDERS: &str = "orders";

/// Put on the gateway's answer, in-process and never on the wire, when the request's session
/// cookie belonged to a session that was ended early: the storefront tells the visitor why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// The cookie was presented by another browser; the session ended for both.
    UsedElsewhere,
}

/// How long a minted token lives: long enough for one call, far too short to be worth
/// stealing from a log.
pub const TOKEN_LIFETIME_SECONDS: i64 = 30;

/// Probes that orchestrators call without credentials; they reveal nothing but liveness.
pub const UNAUTHENTICATED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The caller of a request, as the token vouches for it: the actor it speaks for, and
/// who signed that word. Everything about the actor reads through (`caller.user_id()`).
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// Who signed the token: `gateway`, or the service that made the call.
    pub issuer: String,
}

impl std::ops::Deref for Caller {
    type Target = Actor;

    fn deref(&self) -> &Actor {
        &self.actor
    }
}

impl Caller {
    /// The caller's claims, checked for a coherent principal, role and scopes.
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
        // Our signers write well-formed scopes only: anything else is not our token.
        let scopes = claims
            .scopes
            .iter()
            .map(|scope| Scope::parse(scope))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        coherent.then_some(Self {
            actor: Actor {
                principal,
                role,
                scopes,
            },
            issuer: claims.iss,
        })
    }

    /// A stable key naming the caller, used to scope state such as idempotency keys so that
    /// one caller can never see or collide with another's.
    pub fn scope_key(&self) -> String {
        self.actor.principal.subject()
    }

    /// Whether the call is made by service `name` itself, signed with its own key.
    pub fn is_service(&self, name: &str) -> bool {
        matches!(&self.actor.principal, Principal::Service(own) if own == name)
            && self.issuer == name
    }

    /// Whether the token was signed by `issuer` (the gateway, for requests from outside).
    pub fn signed_by(&self, issuer: &str) -> bool {
        self.issuer == issuer
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

/// The public keys of the processes that make or check identity tokens, by name, as
/// distributed by configuration. A process may have several while its key is rotated: the
/// first is the one it is addressed under and signs with, the others are still accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicKeys(std::collections::BTreeMap<String, Vec<String>>);

impl PublicKeys {
    /// Adds the keys of `party` in `text`: one, or several separated by commas.
    pub fn with(mut self, party: &str, text: impl AsRef<str>) -> Self {
        let keys = self.0.entry(party.to_owned()).or_default();
        keys.extend(
            text.as_ref()
                .split(',')
                .map(str::trim)
                .filter(|key| !key.is_empty())
                .map(str::to_owned),
        );
        self
    }

    /// These keys with those of `party` replaced by the ones in `text`.
    pub fn replaced(mut self, party: &str, text: &str) -> Self {
        self.0.remove(party);
        self.with(party, text)
    }

    /// The keys of `party`, the current one first.
    pub fn of(&self, party: &str) -> &[String] {
        self.0.get(party).map_or(&[], Vec::as_slice)
    }

    /// The parties and their keys, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0
            .iter()
            .map(|(party, keys)| (party.as_str(), keys.as_slice()))
    }

    /// The keys of `peer`, parsed, checked to be its own.
    fn peer_keys(
        &self,
        (issuer, audience): (&str, &str),
        peer: &str,
    ) -> anyhow::Result<Vec<PublicKey>> {
        let keys = self.of(peer);
        anyhow::ensure!(
            !keys.is_empty(),
            "tokens from {issuer} to {audience} need the public key of {peer}"
        );
        keys.iter()
            .map(|text| {
                // Two processes with one secret could each make the other's tokens.
                if let Some((twin, _)) = self.0.iter().find(|(name, others)| {
                    *name != peer && others.iter().any(|other| other == text)
                }) {
                    anyhow::bail!("{peer} and {twin} have the same public key; each needs its own");
                }
                token::parse_public_key(text)
                    .map_err(|error| anyhow::anyhow!("the public key of {peer}: {error}"))
            })
            .collect()
    }

    /// The verifier of service `audience`, holding the secrets `own` (the current one first),
    /// which trusts exactly `issuers`, under every pair of their keys and its own.
    pub fn verifier(
        &self,
        own: &[PartyKey],
        audience: &str,
        issuers: &[&str],
    ) -> anyhow::Result<TokenVerifier> {
        let mut verifier = TokenVerifier::new(audience);
        for issuer in issuers {
            for peer in self.peer_keys((issuer, audience), issuer)? {
                for secret in own {
                    let key = secret
                        .pair_key(&peer, issuer, audience)
                        .map_err(|error| anyhow::anyhow!("the public key of {issuer}: {error}"))?;
                    verifier = verifier.trust(*issuer, key);
                }
            }
        }
        Ok(verifier)
    }

    /// The gate of service `audience`: who may call whom is decided by the service, the keys
    /// that prove it by configuration.
    pub fn gate(&self, own: &[PartyKey], audience: &str, issuers: &[&str]) -> anyhow::Result<Gate> {
        Ok(Gate::new(self.verifier(own, audience, issuers)?))
    }

    /// The token maker of process `issuer`, signing with `own` (its current secret) towards
    /// the current key of each of `audiences`.
    pub fn token_signer(
        &self,
        own: &PartyKey,
        issuer: &str,
        audiences: &[&str],
    ) -> anyhow::Result<TokenSigner> {
        let mut signer = TokenSigner::new(issuer);
        for audience in audiences {
            let current = self.peer_keys((issuer, audience), audience)?[0];
            let key = own
                .pair_key(&current, issuer, audience)
                .map_err(|error| anyhow::anyhow!("the public key of {audience}: {error}"))?;
            signer = signer.towards(*audience, key);
        }
        Ok(signer)
    }

    /// The signer of process `issuer`, holding `own`, for calls to `audiences`.
    pub fn signer(
        &self,
        own: &PartyKey,
        issuer: &str,
        audiences: &[&str],
    ) -> anyhow::Result<CallSigner> {
        Ok(CallSigner::new(self.token_signer(own, issuer, audiences)?))
    }
}

/// Checks the identity token of every request into a service.
#[derive(Clone)]
pub struct Gate {
    /// Replaced whole when the keys change ([`keyring`]).
    verifier: Arc<Current<TokenVerifier>>,
    replays: Arc<Replays>,
    /// The requests refused, for the gateway's audit trail.
    refusals: Arc<refusals::Refusals>,
    /// Whether callers come over mutual TLS: then the certificate must name the token's
    /// issuer, so a token is good only on a connection of the process that made it.
    callers_named: bool,
}

impl Gate {
    pub fn new(verifier: TokenVerifier) -> Self {
        Self {
            verifier: Arc::new(Current::new(verifier)),
            replays: Arc::new(Replays::new()),
            refusals: Arc::default(),
            callers_named: false,
        }
    }

    /// Requires every caller to present a certificate of the internal CA that names the
    /// issuer of its token.
    pub fn callers_named(mut self) -> Self {
        self.callers_named = true;
        self
    }

    /// Verifies the request's token, that it was made for this very request and, for one
    /// that changes state, that it was not used before; notes its [`Caller`] on the request,
    /// or says why it is refused. The probes and metrics pass without one.
    ///
    /// The body is in memory already (the stack reads it first), so checking its digest
    /// costs a hash, not a wait.
    pub async fn admit(&self, request: Request) -> Result<Request, Refusal> {
        let (mut parts, body) = request.into_parts();
        match self.check(&mut parts, body).await {
            Ok(body) => Ok(Request::from_parts(parts, body)),
            Err(refusal) => {
                if !refusal.busy {
                    self.refusals.note(
                        parts
                            .extensions
                            .get::<crate::serving::internal_tls::PeerName>()
                            .map(|peer| &*peer.0),
                        parts
                            .extensions
                            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                            .map(|info| info.0.ip()),
                        refusal.reason(),
                        parts.method.as_str(),
                        parts.uri.path(),
                    );
                }
                Err(refusal)
            }
        }
    }

    /// The requests this gate refused, for `GET /internal/security-events`.
    pub fn refusals(&self) -> Arc<refusals::Refusals> {
        self.refusals.clone()
    }

    /// [`Gate::admit`]'s checks, on the request's parts (kept by the caller, to note a
    /// refusal without copying anything from an admitted request); gives back the body.
    async fn check(
        &self,
        parts: &mut Parts,
        body: axum::body::Body,
    ) -> Result<axum::body::Body, Refusal> {
        use http_body_util::BodyExt as _;
        if UNAUTHENTICATED_PATHS.contains(&parts.uri.path()) {
            return Ok(body);
        }
        let token = parts
            .headers
            .get(TOKEN_HEADER)
            .and_then(|value| value.to_str().ok());
        let peer = parts
            .extensions
            .get::<crate::serving::internal_tls::PeerName>()
            .cloned();
        if self.callers_named && peer.is_none() {
            return Err(Refusal::unauthenticated("no client certificate"));
        }
        let Some(token) = token else {
            return Err(Refusal::unauthenticated("no identity token"));
        };
        let now = crate::time::now_unix();
        let claims = self
            .verifier
            .get()
            .verify(token, now)
            .map_err(Refusal::token)?;
        let body = body
            .collect()
            .await
            .map_err(|_| Refusal::unauthenticated("the body could not be read"))?
            .to_bytes();
        let bound = Bound {
            method: &parts.method,
            target: binding::target_of(&parts.uri),
            body: &body,
        };
        bound.check(&claims).map_err(Refusal::token)?;
        let id = token::token_id(&claims.jti);
        let expires = claims.exp;
        let changes_state = bound.changes_state();
        if self.callers_named && peer.is_some_and(|peer| *peer.0 != *claims.iss) {
            return Err(Refusal::unauthenticated(
                "the token's issuer is not the caller's certificate",
            ));
        }
        let Some(caller) = Caller::from_claims(claims) else {
            return Err(Refusal::unauthenticated("incoherent identity token"));
        };
        if changes_state && let Some(id) = id {
            match self.replays.first_use(id, expires, now) {
                Ok(()) => {}
                Err(Unused::Replayed) => return Err(Refusal::token(TokenError::Replayed)),
                Err(Unused::Full) => return Err(Refusal::busy()),
            }
        }
        parts.extensions.insert(caller);
        Ok(axum::body::Body::from(body))
    }
}

/// Why [`Gate::admit`] refused a request; answered 401 and logged as a security event, or,
/// when the memory of used tokens is full, 503.
#[derive(Debug)]
pub struct Refusal {
    reason: std::borrow::Cow<'static, str>,
    busy: bool,
}

impl Refusal {
    fn unauthenticated(reason: &'static str) -> Self {
        Self {
            reason: reason.into(),
            busy: false,
        }
    }

    fn token(error: TokenError) -> Self {
        Self {
            reason: error.to_string().into(),
            busy: false,
        }
    }

    fn busy() -> Self {
        Self {
            reason: "the memory of used tokens is full".into(),
            busy: true,
        }
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        if self.busy {
            tracing::warn!(reason = %self.reason, "refused a write: cannot record its token");
            return Problem::overloaded().into_response();
        }
        tracing::warn!(
            security_event = "identity-token-refused",
            reason = %self.reason,
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
}

/// Makes the tokens of the calls a process makes, one short-lived token per call.
#[derive(Debug, Clone)]
pub struct CallSigner {
    issuer: Arc<str>,
    /// Replaced whole when the keys change ([`keyring`]).
    signer: Arc<Current<TokenSigner>>,
}

impl CallSigner {
    pub fn new(signer: TokenSigner) -> Self {
        Self {
            issuer: signer.issuer().into(),
            signer: Arc::new(Current::new(signer)),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A token for `audience` that speaks for `actor` in the one request `bound`; none for
    /// an audience this process was not configured to call (its calls there are then
    /// refused, never unauthenticated).
    pub fn token(&self, audience: &str, actor: &Actor, bound: &Bound) -> Option<String> {
        let now = crate::time::now_unix();
        self.signer.get().sign(Claims {
            iss: String::new(),
            kid: String::new(),
            aud: audience.to_owned(),
            sub: actor.principal.subject(),
            role: actor.role.as_str().to_owned(),
            scopes: actor.scopes.iter().map(Scope::to_string).collect(),
            rid: crate::observing::request_id::current().unwrap_or_default(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECONDS,
            jti: token::new_token_id(),
            htm: bound.method.as_str().to_owned(),
            htu: bound.target.to_owned(),
            bdh: bound.body_digest(),
        })
    }

    /// A token for `audience` in which this process speaks for itself in request `bound`.
    pub fn own_token(&self, audience: &str, bound: &Bound) -> Option<String> {
        self.token(audience, &Actor::service(&self.issuer), bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(sub: &str, role: &str, iss: &str) -> Claims {
        Claims {
            iss: iss.to_owned(),
            kid: String::new(),
            aud: "users".to_owned(),
            sub: sub.to_owned(),
            role: role.to_owned(),
            scopes: Vec::new(),
            rid: String::new(),
            iat: 0,
            exp: 1,
            jti: token::new_token_id(),
            htm: "GET".to_owned(),
            htu: "/users".to_owned(),
            bdh: None,
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

    #[test]
    fn scopes_must_keep_their_shape() {
        let mut scoped = claims("user:7", "customer", "gateway");
        scoped.scopes = vec!["orders:read".to_owned()];
        let caller = Caller::from_claims(scoped.clone());
        assert_eq!(
            caller.map(|c| c.actor.scopes),
            Some(vec![Scope::new("orders", Access::Read)])
        );
        scoped.scopes = vec!["orders:read".to_owned(), "orders:everything".to_owned()];
        assert!(Caller::from_claims(scoped).is_none());
    }
}
