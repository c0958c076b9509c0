//! user-service's HTTP surface: request and response types, and thin handlers that turn
//! them into domain values and store calls.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use http::{StatusCode, header};
use kit::error::ResultExt;
use kit::identity::{Caller, Role as CallerRole};
use kit::serving::pagination::Keyset;
use kit::{ApiError, ApiResult, Problem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::{Email, NewUser, Password, Role, UserChanges, UserName};
use crate::store::{self, UserRow};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
}

/// A new account. The password is hashed at once and never stored or returned in clear.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
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
    /// Only an administrator may choose a role; a new account is a customer.
    role: Option<Role>,
}

/// A partial update: absent fields stay as they are. The password is changed through
/// the gateway's `/api/v1/auth/password`, which asks for the current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    name: Option<String>,
    /// Only an administrator may change a role.
    role: Option<Role>,
}

/// A user as others may see it: never the password or its hash.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    id: i64,
    email: String,
    name: String,
    role: Role,
    created_at: String,
    updated_at: String,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            role: Role::from_stored(&row.role),
            created_at: kit::time::rfc3339(row.created_at),
            updated_at: kit::time::rfc3339(row.updated_at),
        }
    }
}

/// One page of users; pass `next_cursor` back as `cursor` for the next one.
#[derive(Serialize, ToSchema)]
pub struct UserPage {
    items: Vec<UserView>,
    next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// Create a user (administrators; visitors register through `/api/v1/auth/register`).
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = UserView, headers(("Location" = String, description = "The user's address"))),
              (status = 403, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_user(
    State(app): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateUser>,
) -> ApiResult<impl IntoResponse> {
    let role = match (caller.role, body.role) {
        (CallerRole::Admin, role) => role.unwrap_or(Role::Customer),
        (CallerRole::Anonymous, None) => Role::Customer,
        _ => return Err(ApiError::Forbidden),
    };
    let user = NewUser {
        email: Email::parse(&body.email).map_err(ApiError::invalid)?,
        name: UserName::parse(&body.name).map_err(ApiError::invalid)?,
        password: Password::parse(body.password).map_err(ApiError::invalid)?,
    };
    let password_hash = app.hasher.hash(&user.password).await?;
    let row = store::insert(
        &app.pool,
        &store::InsertUser {
            id: None,
            email: user.email.as_str(),
            name: user.name.as_str(),
            password_hash: &password_hash,
            role: role.as_str(),
            now: kit::time::now_unix(),
        },
    )
    .await
    .on_unique_violation("email-taken", "a user with this email already exists")?;
    let location = format!("/users/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(UserView::from(row)),
    ))
}

/// List users, oldest first (administrators).
#[utoipa::path(get, path = "/users", tag = "users", params(ListParams),
    responses((status = 200, body = UserPage), (status = 400, body = Problem),
              (status = 403, body = Problem)))]
async fn list_users(
    State(app): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<UserPage>> {
    caller.require_admin()?;
    let keyset = Keyset::parse(params.limit, params.cursor.as_deref())?;
    let rows = store::list_after(&app.pool, keyset.after, keyset.fetch()).await?;
    let (rows, next_cursor) = keyset.page(rows, |row| row.id);
    Ok(Json(UserPage {
        items: rows.into_iter().map(UserView::from).collect(),
        next_cursor,
    }))
}

/// Get one user: your own account, or any as an administrator.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem)))]
async fn get_user(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<UserView>> {
    visible(&caller, id)?;
    let row = store::find(&app.readers, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(row.into()))
}

/// Change your email or name (an administrator: anyone's, and roles).
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body = UpdateUser,
    responses((status = 200, body = UserView), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)))]
async fn update_user(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<UpdateUser>,
) -> ApiResult<Json<UserView>> {
    visible(&caller, id)?;
    if body.role.is_some() {
        caller.require_admin()?;
    }
    let changes = UserChanges {
        email: body
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        name: body
            .name
            .as_deref()
            .map(UserName::parse)
            .transpose()
            .map_err(ApiError::invalid)?,
        role: body.role,
    };
    let row = store::update(
        &app.pool,
        id,
        &store::UpdateUser {
            email: changes.email.as_ref().map(Email::as_str),
            name: changes.name.as_ref().map(UserName::as_str),
            password_hash: None,
            role: changes.role.map(Role::as_str),
            now: kit::time::now_unix(),
        },
    )
    .await
    .on_unique_violation("email-taken", "a user with this email already exists")?
    .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(row.into()))
}

/// Delete a user (administrators).
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_user(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    if store::delete(&app.pool, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("user"))
    }
}

/// Another customer's account answers exactly like an absent one, so ids reveal nothing.
fn visible(caller: &Caller, id: i64) -> ApiResult<()> {
    if caller.may_access_user(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound("user"))
    }
}
