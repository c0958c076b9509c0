//! The gateway's own `/metrics`. The gateway faces the internet, so unlike the services on
//! the private network it shows its metrics only to an administrator's session or an API
//! key with the `metrics:read` scope (what a Prometheus scraper is given).

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use kit::ApiResult;

use crate::AppState;
use crate::access::identity::Identity;
use crate::access::{policy, scopes};

pub async fn metrics(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    policy::require_admin_scope(&identity, &scopes::METRICS)?;
    Ok(kit::observing::metrics::serve(State(app.metrics.clone())).await)
}
