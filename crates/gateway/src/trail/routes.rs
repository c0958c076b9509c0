//! `GET /api/v1/admin/security-events`: the audit trail, for administrators.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::header::CACHE_CONTROL;
use kit::serving::pagination::Keyset;
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::kind::Kind;
use super::store::{self, EventRow, Filter};
use crate::AppState;
use crate::access::identity::Identity;
use crate::access::{policy, scopes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(security_events))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events of this type.
    #[param(value_type = Option<Kind>)]
    r#type: Option<String>,
    /// Only events about this user.
    #[param(minimum = 1)]
    user_id: Option<i64>,
    /// Only events at or after this time (RFC 3339, such as `2026-12-01T00:00:00Z`).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Only events at or before this time (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// One security event.
#[derive(Serialize, ToSchema)]
pub struct SecurityEvent {
    id: i64,
    /// When it happened (RFC 3339).
    at: String,
    r#type: Kind,
    /// The user it concerns, when one is known.
    user_id: Option<i64>,
    /// The client's address, when it came from a client.
    address: Option<String>,
    /// What happened, in a few words; never a secret.
    detail: String,
}

/// A page of events, newest first.
#[derive(Serialize, ToSchema)]
pub struct SecurityEventPage {
    items: Vec<SecurityEvent>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    next_cursor: Option<String>,
}

/// The security audit trail, newest first: failed and throttled logins, replayed sessions,
/// sessions and access revoked, API keys created, first used, revoked and refused, and
/// clients over their rate limit. Administrators only (an API key
/// needs the `security_events:read` scope).
#[utoipa::path(get, path = "/api/v1/admin/security-events", tag = "admin", params(EventQuery),
    responses((status = 200, body = SecurityEventPage), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("session" = []), ("api_key" = [])))]
async fn security_events(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
    Query(query): Query<EventQuery>,
) -> ApiResult<Response> {
    policy::require_admin_scope(&identity, &scopes::SECURITY_EVENTS)?;
    let kind = match query.r#type.as_deref() {
        None => None,
        Some(text) => Some(Kind::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "type must be one of: {}",
                Kind::ALL.map(Kind::as_str).join(", ")
            ))
        })?),
    };
    if query.user_id.is_some_and(|id| id < 1) {
        return Err(ApiError::bad_request("user_id must be 1 or more"));
    }
    let time = |name: &str, text: Option<&str>| {
        text.map(|text| {
            kit::time::parse_rfc3339(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name} must be an RFC 3339 time, such as 2026-12-01T00:00:00Z"
                ))
            })
        })
        .transpose()
    };
    let since = time("since", query.since.as_deref())?;
    let until = time("until", query.until.as_deref())?;
    let keyset = Keyset::parse(query.limit, query.cursor.as_deref())?;
    let rows = store::newest(
        &app.pool,
        &Filter {
            kind: kind.map(Kind::as_str),
            user_id: query.user_id,
            since,
            until,
            before: (keyset.after > 0).then_some(keyset.after),
            fetch: keyset.fetch(),
        },
    )
    .await?;
    let (rows, next_cursor) = keyset.page(rows, |row| row.id);
    let page = SecurityEventPage {
        items: rows.into_iter().filter_map(view).collect(),
        next_cursor,
    };
    Ok(([(CACHE_CONTROL, "no-store")], Json(page)).into_response())
}

fn view(row: EventRow) -> Option<SecurityEvent> {
    // A type this version no longer knows (written by a newer one) is left out.
    let kind = Kind::parse(&row.kind)?;
    Some(SecurityEvent {
        id: row.id,
        at: kit::time::rfc3339(row.at),
        r#type: kind,
        user_id: row.user_id,
        address: row.address,
        detail: row.detail,
    })
}
