//! Who is calling: the one place handlers learn the caller's identity.
//!
//! Until the gateway mints signed identity tokens, every caller is anonymous and may do
//! everything. Handlers already take the caller from here, so making the boundary real
//! changes this extractor, not the handlers.

use axum::extract::FromRequestParts;
use http::request::Parts;

use crate::error::ApiError;

/// The authenticated principal behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
}

/// The caller of a request, as established at the trust boundary.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
}

impl Caller {
    /// A stable key naming the caller, used to scope state such as idempotency keys so that
    /// one caller can never see or collide with another's.
    pub fn scope_key(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".to_owned(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            principal: Principal::Anonymous,
        })
    }
}
