//! The gateway's own `/metrics`. The gateway faces the internet, so unlike the services on
//! the private network it shows its metrics only to an administrator's session or an API
//! key with the `metrics:read` scope (what a Prometheus scraper is given).

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use kit::identity::Role;
use kit::{ApiError, ApiResult};

use crate::AppState;
use crate::access::identity::Identity;
use crate::access::{policy, scopes};

pub async fn metrics(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    match identity.role {
        Role::Anonymous => return Err(ApiError::Unauthenticated),
        Role::Admin => {}
        _ => return Err(ApiError::Forbidden),
    }
    if !identity.holds(&scopes::METRICS) {
        return Err(policy::insufficient_scope(&scopes::METRICS));
    }
    Ok(kit::observing::metrics::serve(State(app.metrics.clone())).await)
}
