//! `/api/v1/auth`: accounts, sessions and API keys.
//!
//! The gateway owns sessions and keys; user-service owns accounts and password hashes. At
//! login the gateway asks user-service whether the credentials match and, if so, opens a
//! session of its own. Registration and login answer so that nobody can learn from them
//! which email addresses have accounts.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::header::{CACHE_CONTROL, SET_COOKIE};
use http::{HeaderMap, Method, StatusCode};
use kit::calling::client::Upstream;
use kit::identity::{Actor, Role, Scope};
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::access::identity::{Identity, InSession, Via};
use crate::access::sessions::{self, ClientFingerprint};
use crate::access::{scopes, secret};
use crate::client_ip::ClientAddr;
use crate::store;
use crate::trail::Kind;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(session))
        .routes(routes!(list_sessions))
        .routes(routes!(change_password))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

/// A new account.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[schema(format = Email, max_length = 254, example = "carol@example.com")]
    email: String,
    /// 1 to 100 characters, no control characters; spaces around it are dropped.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "Carol"
    )]
    name: String,
    /// 8 to 256 characters, any characters; the most common passwords are refused.
    #[schema(min_length = 8, max_length = 256, example = "a long passphrase")]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    detail: String,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[schema(example = "alice@example.com")]
    email: String,
    password: String,
}

/// The current session.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    user_id: i64,
    #[schema(example = "customer")]
    role: String,
    created_at: String,
    /// When the session ends however busy it is.
    expires_at: String,
    /// When it ends if unused until then.
    idle_expires_at: String,
}

/// One of your sessions: a browser where you are signed in.
#[derive(Serialize, ToSchema)]
pub struct SessionListed {
    id: i64,
    /// The network it signs in from (a /24 or /64), never the full address.
    #[schema(example = "203.0.113.0/24")]
    network: String,
    created_at: String,
    /// When it was last used, to the minute or better.
    last_seen_at: String,
    /// Whether it is the session that asks.
    current: bool,
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    /// 8 to 256 characters, any characters; the most common passwords are refused.
    #[schema(min_length = 8, max_length = 256)]
    new_password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, to recognise it in the list: 1 to 100 characters, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        example = "inventory sync"
    )]
    name: String,
    /// The scopes the key carries: a subset of those your role allows.
    #[schema(min_items = 1, example = json!(["products:read"]))]
    scopes: Vec<String>,
}

/// An API key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    id: i64,
    name: String,
    /// The first characters of the key, to tell keys apart.
    prefix: String,
    scopes: Vec<String>,
    created_at: String,
    /// When the key was last used, to the minute; null if never.
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

/// A key just created: the only time the key itself is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    view: ApiKeyView,
    /// Send as `Authorization: Bearer <key>`. Store it now: it is never shown again.
    key: String,
}

#[derive(Deserialize)]
struct Verified {
    user_id: i64,
    role: String,
}

/// An answer the client must not cache: it carries or concerns credentials.
/// Names the account a login was for without keeping what was typed (people type
/// passwords into the email field): 12 hex digits of a digest, the same for each try.
fn account_digest(account: &str) -> String {
    let mut digest = secret::digest(account);
    digest.truncate(12);
    digest
}

fn private(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = http::HeaderValue::from_str(cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// A refusal from a service, passed on to the client as the service stated it.
async fn passed_on(upstream: &Upstream, answer: reqwest::Response) -> ApiError {
    let status = answer.status();
    match upstream.read_json::<serde_json::Value>(answer).await {
        Ok(body) => ApiError::Problem(Box::new(Problem::from_body(status, &body))),
        Err(error) => error.into(),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::Problem(Box::new(Problem::typed(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "Invalid credentials",
        "The email or the password is wrong.",
    )))
}

/// Register an account.
///
/// The answer is the same whether or not the address already had an account, so this
/// route cannot be used to find out who is a customer.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Registration,
    responses((status = 202, body = Accepted), (status = 422, body = Problem)))]
async fn register(
    State(app): State<AppState>,
    Json(registration): Json<Registration>,
) -> ApiResult<Response> {
    let request = app
        .users
        .request_acting_for(Method::POST, "/users", &Actor::anonymous())
        .json(&registration);
    let answer = app.users.send(request).await?;
    match answer.status() {
        // A taken address is answered like a new account; user-service hashed the password
        // either way, so the time taken does not differ either.
        StatusCode::CREATED | StatusCode::CONFLICT => Ok(private(
            StatusCode::ACCEPTED,
            Json(Accepted {
                detail: "If this address had no account, it has one now: log in to continue."
                    .to_owned(),
            }),
        )),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            Err(passed_on(&app.users, answer).await)
        }
        status => Err(app.users.unexpected(status).into()),
    }
}

/// Log in with email and password.
///
/// Sets the session cookie. A wrong password and an unknown email get the same answer.
/// After repeated failures for an account or from an address, attempts are delayed
/// (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = SessionView,
               headers(("Set-Cookie" = String, description = "The `__Host-msa_session` cookie"))),
              (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(app): State<AppState>,
    Extension(ClientAddr(ip)): Extension<ClientAddr>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    Json(login): Json<Login>,
) -> ApiResult<Response> {
    // The same normal form user-service keys accounts by: lookalikes of one address share
    // one throttle. Text that is no address at all is throttled as typed.
    let account = kit::identity::email::normal_form(&login.email).unwrap_or_else(|_| {
        login
            .email
            .trim()
            .to_lowercase()
            .chars()
            .take(254)
            .collect()
    });
    if let Err(throttled) = app.limits.allow_login(&account, ip, kit::time::now_unix()) {
        app.logins.inc("outcome", "throttled");
        let account_digest = account_digest(&account);
        app.trail.record_once_a_minute(
            Kind::LoginThrottled,
            &format!("{ip} {account_digest}"),
            None,
            Some(ip),
            format!("logins throttled after repeated failures (account {account_digest})"),
        );
        return Err(throttled);
    }
    let request = app
        .users
        .request_acting_for(
            Method::POST,
            "/internal/credentials/verify",
            &Actor::anonymous(),
        )
        .json(&login);
    let answer = app.users.send(request).await?;
    let verified: Verified = match answer.status() {
        StatusCode::OK => app.users.read_json(answer).await?,
        StatusCode::UNAUTHORIZED => {
            app.limits.login_failed(&account, ip, kit::time::now_unix());
            app.logins.inc("outcome", "failed");
            let account_digest = account_digest(&account);
            app.trail.record(
                Kind::LoginFailed,
                None,
                Some(ip),
                format!("a login failed (account {account_digest})"),
            );
            return Err(invalid_credentials());
        }
        status => return Err(app.users.unexpected(status).into()),
    };
    app.limits.login_succeeded(&account);
    app.logins.inc("outcome", "succeeded");
    // A new token at every login: a session id planted before login is never promoted.
    if let Via::Session(previous) = identity.via {
        store::delete_session(&app.pool, previous).await?;
    }
    let token = secret::generate();
    let client = ClientFingerprint::of(&headers, ip);
    let now = kit::time::now_unix();
    let role = Role::parse(&verified.role)
        .filter(|role| matches!(role, Role::Customer | Role::Admin))
        .ok_or_else(|| anyhow::anyhow!("user-service named an unknown role"))?;
    let session = store::NewSession {
        token_hash: &secret::digest(&token),
        user_id: verified.user_id,
        role: role.as_str(),
        user_agent_hash: &client.user_agent_hash,
        network: &client.network,
        now,
        expires_at: now + app.sessions.lifetime_seconds(),
    };
    let id = store::insert_session(&app.pool, &session).await?;
    tracing::info!(user_id = verified.user_id, session_id = id, "logged in");
    let view = SessionView {
        user_id: verified.user_id,
        role: role.as_str().to_owned(),
        created_at: kit::time::rfc3339(now),
        expires_at: kit::time::rfc3339(session.expires_at),
        idle_expires_at: kit::time::rfc3339(app.sessions.idle_expiry(now)),
    };
    Ok(with_cookie(
        private(StatusCode::OK, Json(view)),
        &sessions::set_cookie(&token, &app.sessions),
    ))
}

/// Log out: the session ends at once, and the cookie is worthless from now on. Without a
/// session there is nothing to end, and the answer is the same: logging out is idempotent.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out (or was not logged in); the cookie is cleared")),
    security(("session" = []), ()))]
async fn logout(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    if let Via::Session(id) = identity.via {
        store::delete_session(&app.pool, id).await?;
    }
    Ok(with_cookie(
        private(StatusCode::NO_CONTENT, ()),
        &sessions::clear_cookie(),
    ))
}

/// Log out everywhere: every session of the account ends, this one included.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth",
    responses((status = 204), (status = 401, body = Problem)), security(("session" = [])))]
async fn logout_all(
    State(app): State<AppState>,
    Extension(ClientAddr(ip)): Extension<ClientAddr>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    let InSession { user_id, .. } = identity.session()?;
    let ended = store::delete_user_sessions(&app.pool, user_id, None).await?;
    app.trail.record(
        Kind::SessionsRevoked,
        Some(user_id),
        Some(ip),
        format!("signed out everywhere: {ended} sessions ended"),
    );
    Ok(with_cookie(
        private(StatusCode::NO_CONTENT, ()),
        &sessions::clear_cookie(),
    ))
}

/// The current session.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "auth",
    responses((status = 200, body = SessionView), (status = 401, body = Problem)),
    security(("session" = [])))]
async fn session(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    let InSession { session_id: id, .. } = identity.session()?;
    let row = store::session_by_id(&app.pool, id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let view = SessionView {
        user_id: row.user_id,
        role: row.role,
        created_at: kit::time::rfc3339(row.created_at),
        expires_at: kit::time::rfc3339(row.expires_at),
        idle_expires_at: kit::time::rfc3339(app.sessions.idle_expiry(row.last_seen_at)),
    };
    Ok(private(StatusCode::OK, Json(view)))
}

/// Your sessions still in use, newest first: where you are signed in.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth",
    responses((status = 200, body = Vec<SessionListed>), (status = 401, body = Problem)),
    security(("session" = [])))]
async fn list_sessions(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    let InSession {
        user_id,
        session_id,
    } = identity.session()?;
    let now = kit::time::now_unix();
    let listed: Vec<SessionListed> =
        store::user_sessions(&app.pool, user_id, now, app.sessions.idle_cutoff(now))
            .await?
            .into_iter()
            .map(|row| SessionListed {
                id: row.id,
                network: row.network,
                created_at: kit::time::rfc3339(row.created_at),
                last_seen_at: kit::time::rfc3339(row.last_seen_at),
                current: row.id == session_id,
            })
            .collect();
    Ok(private(StatusCode::OK, Json(listed)))
}

/// Change your password. Every other session of the account ends.
#[utoipa::path(put, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("session" = [])))]
async fn change_password(
    State(app): State<AppState>,
    Extension(ClientAddr(ip)): Extension<ClientAddr>,
    Extension(identity): Extension<Identity>,
    Json(change): Json<PasswordChange>,
) -> ApiResult<Response> {
    let InSession {
        session_id: session,
        user_id,
    } = identity.session()?;
    let request = app
        .users
        .request_acting_for(
            Method::PUT,
            &format!("/internal/users/{user_id}/password"),
            &identity.actor,
        )
        .json(&change);
    let answer = app.users.send(request).await?;
    match answer.status() {
        StatusCode::NO_CONTENT => {}
        StatusCode::UNAUTHORIZED | StatusCode::UNPROCESSABLE_ENTITY => {
            return Err(passed_on(&app.users, answer).await);
        }
        status => return Err(app.users.unexpected(status).into()),
    }
    let ended = store::delete_user_sessions(&app.pool, user_id, Some(session)).await?;
    app.trail.record(
        Kind::SessionsRevoked,
        Some(user_id),
        Some(ip),
        format!("password changed: {ended} other sessions ended"),
    );
    Ok(private(StatusCode::NO_CONTENT, ()))
}

const KEY_PREFIX: &str = "msa_";

impl From<store::ApiKeyRow> for ApiKeyView {
    fn from(row: store::ApiKeyRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            scopes: scopes::parse_stored(&row.scopes)
                .iter()
                .map(Scope::to_string)
                .collect(),
            created_at: kit::time::rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(kit::time::rfc3339),
            revoked_at: row.revoked_at.map(kit::time::rfc3339),
        }
    }
}

/// Create an API key for a program acting for you. The key is shown in this answer only.
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = Problem),
              (status = 422, body = Problem)),
    security(("session" = [])))]
async fn create_key(
    State(app): State<AppState>,
    Extension(ClientAddr(ip)): Extension<ClientAddr>,
    Extension(identity): Extension<Identity>,
    Json(new): Json<NewApiKey>,
) -> ApiResult<Response> {
    let InSession { user_id, .. } = identity.session()?;
    let name = new.name.trim();
    if name.is_empty() || new.name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "validation-failed",
            "name must be 1 to 100 characters, without control characters",
        ));
    }
    let allowed = scopes::granted_to(identity.role);
    let mut chosen: Vec<Scope> = Vec::new();
    for requested in new.scopes {
        let Some(scope) = Scope::parse(&requested)
            .ok()
            .filter(|scope| allowed.contains(scope))
        else {
            return Err(ApiError::invalid(format!(
                "`{}` is not a scope your account may grant; choose from: {}",
                requested.chars().take(40).collect::<String>(),
                scopes::to_stored(&allowed).replace(' ', ", ")
            )));
        };
        if !chosen.contains(&scope) {
            chosen.push(scope);
        }
    }
    if chosen.is_empty() {
        return Err(ApiError::unprocessable(
            "validation-failed",
            "a key needs at least one scope",
        ));
    }
    let key = format!("{KEY_PREFIX}{}", secret::generate());
    let row = store::insert_key(
        &app.pool,
        &store::NewApiKey {
            key_hash: &secret::digest(&key),
            prefix: &key[..KEY_PREFIX.len() + 6],
            user_id,
            role: identity.role.as_str(),
            name,
            scopes: &scopes::to_stored(&chosen),
            now: kit::time::now_unix(),
        },
    )
    .await?;
    app.trail.record(
        Kind::ApiKeyCreated,
        Some(user_id),
        Some(ip),
        format!(
            "API key {} ({}) created with scopes {}",
            row.id, row.prefix, row.scopes
        ),
    );
    Ok(private(
        StatusCode::CREATED,
        Json(CreatedApiKey {
            view: row.into(),
            key,
        }),
    ))
}

/// List your API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth",
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, body = Problem)),
    security(("session" = [])))]
async fn list_keys(
    State(app): State<AppState>,
    Extension(identity): Extension<Identity>,
) -> ApiResult<Response> {
    let InSession { user_id, .. } = identity.session()?;
    let keys: Vec<ApiKeyView> = store::list_keys(&app.pool, user_id)
        .await?
        .into_iter()
        .map(ApiKeyView::from)
        .collect();
    Ok(private(StatusCode::OK, Json(keys)))
}

/// Revoke one of your API keys; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth",
    params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("session" = [])))]
async fn revoke_key(
    State(app): State<AppState>,
    Extension(ClientAddr(ip)): Extension<ClientAddr>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let InSession { user_id, .. } = identity.session()?;
    if store::revoke_key(&app.pool, user_id, id, kit::time::now_unix()).await? {
        app.trail.record(
            Kind::ApiKeyRevoked,
            Some(user_id),
            Some(ip),
            format!("API key {id} revoked by its owner"),
        );
        Ok(private(StatusCode::NO_CONTENT, ()))
    } else {
        Err(ApiError::NotFound("API key"))
    }
}
