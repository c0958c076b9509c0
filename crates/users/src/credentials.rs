//! Credential checks for the gateway, which owns sessions but never sees a password hash:
//! it asks here whether an email and password match, and to change a password.
//!
//! Only the gateway may ask (its signed token proves the request came through it). Every
//! refusal of a login reads the same and costs the same argon2 work, whether the email is
//! unknown or the password wrong, so neither the answer nor its timing tells which
//! accounts exist.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use kit::identity::{Caller, GATEWAY};
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::{Email, Password, Role};
use crate::store;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

/// The account a login proved.
#[derive(Serialize, ToSchema)]
pub struct Verified {
    user_id: i64,
    role: Role,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

fn wrong_credentials() -> ApiError {
    ApiError::Problem(Box::new(Problem::typed(
        StatusCode::UNAUTHORIZED,
        "invalid-credentials",
        "Invalid credentials",
        "The email or the password is wrong.",
    )))
}

fn only_the_gateway(caller: &Caller) -> ApiResult<()> {
    if caller.signed_by(GATEWAY) {
        Ok(())
    } else {
        Err(ApiError::NotFound("route"))
    }
}

/// Check an email and password (the gateway, at login).
#[utoipa::path(post, path = "/internal/credentials/verify", tag = "internal",
    request_body = Login,
    responses((status = 200, body = Verified), (status = 401, body = Problem)))]
async fn verify(
    State(app): State<AppState>,
    caller: Caller,
    Json(login): Json<Login>,
) -> ApiResult<Json<Verified>> {
    only_the_gateway(&caller)?;
    let account = match Email::parse(&login.email) {
        Ok(email) => store::credentials_by_email(&app.pool, email.as_str()).await?,
        Err(_) => None,
    };
    let stored = account
        .as_ref()
        .map(|account| account.password_hash.clone());
    let matched = app.hasher.verify(stored, bounded(login.password)).await?;
    match account {
        Some(account) if matched => Ok(Json(Verified {
            user_id: account.id,
            role: Role::from_stored(&account.role),
        })),
        _ => Err(wrong_credentials()),
    }
}

/// Change a password, proving the current one (the gateway, for the account's owner).
#[utoipa::path(put, path = "/internal/users/{id}/password", tag = "internal",
    params(("id" = i64, Path)), request_body = PasswordChange,
    responses((status = 204), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn change_password(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(change): Json<PasswordChange>,
) -> ApiResult<StatusCode> {
    only_the_gateway(&caller)?;
    if caller.user_id() != Some(id) {
        return Err(ApiError::NotFound("user"));
    }
    let new_password = Password::parse(change.new_password).map_err(ApiError::invalid)?;
    let stored = store::credentials_by_id(&app.pool, id)
        .await?
        .map(|account| account.password_hash);
    let known = stored.is_some();
    if !app
        .hasher
        .verify(stored, bounded(change.current_password))
        .await?
    {
        return Err(if known {
            wrong_credentials()
        } else {
            ApiError::NotFound("user")
        });
    }
    let password_hash = app.hasher.hash(&new_password).await?;
    let changes = store::UpdateUser {
        email: None,
        name: None,
        password_hash: Some(&password_hash),
        role: None,
        now: kit::time::now_unix(),
    };
    store::update(&app.pool, id, &changes)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// A password longer than any valid one cannot match; it is checked as empty rather than
/// hashed at length, so an oversized guess costs no more than any other. Bounded in bytes
/// (the most [`Password::MAX_CHARS`] characters take), so a password set under the older
/// limit of 1 KiB still logs in.
fn bounded(password: String) -> String {
    if password.len() > Password::MAX_CHARS * 4 {
        String::new()
    } else {
        password
    }
}
