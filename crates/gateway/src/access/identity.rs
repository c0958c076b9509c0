//! The authenticated caller of one request, as [`crate::access::authn`] established it:
//! the actor every service will hear about, and how they proved who they are.

use kit::ApiError;
use kit::identity::Actor;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Anonymous,
    Session(i64),
    ApiKey(i64),
}

/// A person in a browser session: the only caller who may manage sessions and keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InSession {
    pub session_id: i64,
    pub user_id: i64,
}

/// The authenticated caller of one request. Everything about the actor reads through
/// (`identity.role`, `identity.user_id()`); `via` stays at the gateway, which alone
/// manages sessions and keys.
#[derive(Debug, Clone)]
pub struct Identity {
    pub actor: Actor,
    pub via: Via,
}

impl std::ops::Deref for Identity {
    type Target = Actor;

    fn deref(&self) -> &Actor {
        &self.actor
    }
}

impl Identity {
    pub fn anonymous() -> Self {
        Self {
            actor: Actor::anonymous(),
            via: Via::Anonymous,
        }
    }

    /// The session of a logged-in browser; 401 for anyone else (API keys included: a key
    /// cannot manage sessions or mint other keys).
    pub fn session(&self) -> Result<InSession, ApiError> {
        match (self.via, self.user_id()) {
            (Via::Session(session_id), Some(user_id)) => Ok(InSession {
                session_id,
                user_id,
            }),
            _ => Err(ApiError::Unauthenticated),
        }
    }
}
