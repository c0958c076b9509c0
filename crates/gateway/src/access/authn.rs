//! Who is at the door: every request to `/api/v1` is authenticated once, here, by an API
//! key (`Authorization: Bearer`), a session cookie, or as an anonymous visitor.
//!
//! An API key that does not check out is refused outright (a program should hear that its
//! key is wrong). A session cookie that does not check out is dropped, the browser told to
//! forget it, and the request goes on as anonymous; routes that need a login then answer
//! 401. A request that presents both a key and a session cookie is refused: one request is
//! one identity, and no credential it carries is left unchecked.

use std::net::IpAddr;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, CACHE_CONTROL, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use kit::identity::{Actor, Principal, Role, SessionEnded};
use kit::{ApiError, Problem};

use crate::AppState;
use crate::access::identity::{Identity, Via};
use crate::access::scopes;
use crate::access::sessions::{self, ClientFingerprint, Verdict};
use crate::store;
use crate::trail::Kind;

/// Authenticates a request from `ip` and stores its [`Identity`] for the handlers, which
/// `next` runs.
pub async fn authenticate<F: Future<Output = Response>>(
    app: &AppState,
    ip: IpAddr,
    mut request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let headers = request.headers();
    if headers.contains_key(AUTHORIZATION) && sessions::cookie_presented(headers) {
        return Problem::typed(
            StatusCode::UNAUTHORIZED,
            "two-credentials",
            "Two credentials",
            "Present either an API key or a session cookie, not both.",
        )
        .into_response();
    }
    // A bearer key, else a session cookie, else nobody. An unusable cookie is forgotten
    // by the browser; an unusable key is refused, since a program asked to be someone.
    let (identity, forget_cookie, ended) = if headers.contains_key(AUTHORIZATION) {
        match by_api_key(app, headers, ip).await {
            Ok(identity) => (identity, false, None),
            Err(error) => return error.into_response(),
        }
    } else {
        match sessions::token_from(headers) {
            None => (Identity::anonymous(), false, None),
            Some(token) => {
                match by_session(app, token, &ClientFingerprint::of(headers, ip), ip).await {
                    Ok(Presented::Valid(identity)) => (identity, false, None),
                    Ok(Presented::Gone) => (Identity::anonymous(), true, None),
                    Ok(Presented::Ended(why)) => (Identity::anonymous(), true, Some(why)),
                    Err(error) => return error.into_response(),
                }
            }
        }
    };
    let authenticated = identity.via != Via::Anonymous;
    request.extensions_mut().insert(identity);
    let mut response = next(request).await;
    if authenticated {
        // An answer for one person must not be kept by a shared cache or the browser.
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(why) = ended {
        response.extensions_mut().insert(why);
    }
    if forget_cookie && !response.headers().contains_key(SET_COOKIE) {
        response.headers_mut().insert(
            SET_COOKIE,
            HeaderValue::from_str(&sessions::clear_cookie())
                .expect("BUG: the cookie text is static ASCII"),
        );
    }
    response
}

/// How stale an API key's `last_used_at` may get before it is written again.
const KEY_USE_PRECISION_SECONDS: i64 = 60;

async fn by_api_key(app: &AppState, headers: &HeaderMap, ip: IpAddr) -> Result<Identity, ApiError> {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| !key.is_empty() && key.len() <= 128);
    let Some(presented) = presented else {
        return Err(bad_key("Send an API key as `Authorization: Bearer <key>`."));
    };
    let key = store::find_key(&app.readers, &crate::access::secret::digest(presented)).await?;
    let Some(key) = key.filter(|key| key.revoked_at.is_none()) else {
        app.trail.record_once_a_minute(
            Kind::ApiKeyRefused,
            &ip.to_string(),
            None,
            Some(ip),
            "an unknown or revoked API key was presented",
        );
        return Err(bad_key("This API key is not valid, or has been revoked."));
    };
    if let Err(refused) = app.limits.allow_key(key.id) {
        app.trail.record_once_a_minute(
            Kind::RateLimited,
            &format!("key {}", key.id),
            Some(key.user_id),
            Some(ip),
            format!("API key {} went over its rate limit", key.id),
        );
        return Err(refused);
    }
    let now = kit::time::now_unix();
    if key.last_used_at.is_none() {
        // Only the request that writes the first use records it, however many race.
        if store::first_use_of_key(&app.pool, key.id, now).await? {
            app.trail.record(
                Kind::ApiKeyFirstUsed,
                Some(key.user_id),
                Some(ip),
                format!(
                    "API key {} ({}) used for the first time",
                    key.id, key.prefix
                ),
            );
        }
    } else if key
        .last_used_at
        .is_some_and(|last| now - last >= KEY_USE_PRECISION_SECONDS)
    {
        // A write per request would serialise every keyed request on the database's one
        // writer (it halved keyed catalogue reads): the last use is kept to the minute.
        store::touch_key(&app.pool, key.id, now).await?;
    }
    let role = stored_role(&key.role);
    Ok(Identity {
        actor: Actor {
            principal: Principal::User(key.user_id),
            role,
            // Never more than the owner's role now grants: a key made before a demotion
            // keeps only what the new role allows (see deprovision).
            scopes: scopes::capped(scopes::parse_stored(&key.scopes), role),
        },
        via: Via::ApiKey(key.id),
    })
}

/// The role a session or key was issued with; one this version does not know is read as
/// the least privilege of a logged-in user, as user-service reads its own roles.
fn stored_role(stored: &str) -> Role {
    Role::parse(stored).unwrap_or(Role::Customer)
}

fn bad_key(detail: &str) -> ApiError {
    let mut problem = Problem::typed(
        StatusCode::UNAUTHORIZED,
        "invalid-api-key",
        "Invalid API key",
        detail,
    );
    problem.headers.insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"msa-shop\""),
    );
    ApiError::Problem(Box::new(problem))
}

/// What a presented session cookie turned out to be.
enum Presented {
    Valid(Identity),
    /// Over, or never was.
    Gone,
    /// Ended early, for a reason the visitor is told.
    Ended(SessionEnded),
}

/// The identity behind a session token.
async fn by_session(
    app: &AppState,
    token: &str,
    client: &ClientFingerprint,
    ip: IpAddr,
) -> Result<Presented, ApiError> {
    let Some(session) =
        store::find_session(&app.readers, &crate::access::secret::digest(token)).await?
    else {
        return Ok(Presented::Gone);
    };
    let now = kit::time::now_unix();
    match sessions::judge(&session, client, now, &app.sessions) {
        Verdict::Valid { touch } => {
            if touch {
                store::touch_session(&app.pool, session.id, now).await?;
            }
            let role = stored_role(&session.role);
            Ok(Presented::Valid(Identity {
                actor: Actor {
                    principal: Principal::User(session.user_id),
                    role,
                    scopes: scopes::granted_to(role),
                },
                via: Via::Session(session.id),
            }))
        }
        Verdict::Expired => {
            store::delete_session(&app.pool, session.id).await?;
            Ok(Presented::Gone)
        }
        Verdict::EndedAsReplayed => Ok(Presented::Ended(SessionEnded::UsedElsewhere)),
        Verdict::Replayed { what_changed } => {
            // Kept, marked, rather than deleted: the browser it was taken from learns why
            // on its next request, instead of finding itself signed out for no reason.
            store::end_session(&app.pool, session.id, sessions::REPLAYED).await?;
            app.trail.record(
                Kind::SessionReplayed,
                Some(session.user_id),
                Some(ip),
                format!(
                    "session {} presented by another client ({what_changed} changed); \
                     the session is ended",
                    session.id
                ),
            );
            Ok(Presented::Ended(SessionEnded::UsedElsewhere))
        }
    }
}
