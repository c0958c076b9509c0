//! `/account`: my sessions and "sign out everywhere", my API keys (created, shown once,
//! revoked), and a password change. Each is the API's `/auth` route behind a form.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::Response;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::{Token, when};
use crate::notices::{Notice, failure_text};
use crate::visit::{Chrome, Me, Visit};

#[derive(Deserialize)]
struct SessionListed {
    network: String,
    created_at: String,
    last_seen_at: String,
    current: bool,
}

#[derive(Deserialize)]
struct KeyListed {
    id: i64,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
}

pub struct SessionRow {
    pub network: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub current: bool,
}

pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub last_used_at: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    c: Chrome,
    sessions: Vec<SessionRow>,
    keys: Vec<KeyRow>,
    scopes: Vec<&'static str>,
    new_key: Option<String>,
}

/// The scopes a key may be given, by role (the gateway refuses any other).
fn scopes_for(me: &Me) -> Vec<&'static str> {
    // As the gateway's `scopes::granted_to` grants them; it checks again on creation.
    let mut scopes = vec![
        "products:read",
        "orders:read",
        "orders:write",
        "users:read",
        "users:write",
    ];
    if me.is_admin() {
        scopes.extend(["products:write", "metrics:read", "security_events:read"]);
    }
    scopes
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(visit: Visit, Query(done): Query<Done>) -> Response {
    let notice = done.done.as_deref().and_then(Notice::parse);
    account_page(&visit, notice, None, None).await
}

/// The account page, with a notice, an error, or a key just made.
async fn account_page(
    visit: &Visit,
    notice: Option<Notice>,
    error: Option<String>,
    new_key: Option<String>,
) -> Response {
    let me = match visit.signed_in("/account").await {
        Ok(me) => me,
        Err(sign_in) => return *sign_in,
    };
    let (sessions, keys) = futures::join!(
        visit.api.get::<Vec<SessionListed>>("/api/v1/auth/sessions"),
        visit.api.get::<Vec<KeyListed>>("/api/v1/auth/api-keys"),
    );
    let (sessions, keys) = match (sessions, keys) {
        (Ok(sessions), Ok(keys)) => (sessions, keys),
        (Err(failure), _) | (_, Err(failure)) => return visit.failed(&failure),
    };
    let t = visit.t;
    let mut c = visit.chrome_for(Some(me.clone()), t.my_account, notice);
    c.error = error;
    let page = AccountPage {
        c,
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                network: s.network,
                created_at: when(&s.created_at),
                last_seen_at: when(&s.last_seen_at),
                current: s.current,
            })
            .collect(),
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                scopes: k.scopes.join(", "),
                last_used_at: k
                    .last_used_at
                    .as_deref()
                    .map_or_else(|| t.never.to_owned(), when),
                revoked: k.revoked_at.is_some(),
            })
            .collect(),
        scopes: scopes_for(&me),
        new_key,
    };
    visit.page(StatusCode::OK, &page)
}

pub async fn sign_out_everywhere(visit: Visit, Form(form): Form<Token>) -> Response {
    if let Err(refused) = visit.check_form(&form.form_token) {
        return *refused;
    }
    let then = format!("/?done={}", Notice::SignedOutEverywhere.code());
    visit
        .act(Method::POST, "/api/v1/auth/logout-all", &then)
        .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Serialize)]
struct PasswordChange<'a> {
    current_password: &'a str,
    new_password: &'a str,
}

pub async fn change_password(visit: Visit, Form(form): Form<PasswordForm>) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    let change = PasswordChange {
        current_password: &form.current_password,
        new_password: &form.new_password,
    };
    match visit
        .api
        .call::<(), _>(Method::PUT, "/api/v1/auth/password", Some(&change), &[])
        .await
    {
        Ok(_) => visit.redirect(&format!("/account?done={}", Notice::PasswordChanged.code())),
        Err(failure)
            if failure.status == StatusCode::UNAUTHORIZED && visit.me().await.is_some() =>
        {
            // Signed in, so the 401 was the current password's.
            account_page(&visit, None, Some(visit.t.bad_credentials.to_owned()), None).await
        }
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let message = format!("{} {}", failure_text(visit.t, &failure), failure.detail);
            account_page(&visit, None, Some(message), None).await
        }
        Err(failure) => visit.failed(&failure),
    }
}

struct KeyForm {
    form_token: String,
    name: String,
    scope: Vec<String>,
}

#[derive(Serialize)]
struct NewKey<'a> {
    name: &'a str,
    scopes: &'a [String],
}

#[derive(Deserialize)]
struct CreatedKey {
    key: String,
}

pub async fn create_key(visit: Visit, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    // Read as pairs: a struct field takes one `scope`, and the form repeats it.
    let form = key_form(pairs);
    if let Err(refused) = visit.check_form(&form.form_token) {
        return *refused;
    }
    let new = NewKey {
        name: form.name.trim(),
        scopes: &form.scope,
    };
    match visit
        .api
        .call::<CreatedKey, _>(Method::POST, "/api/v1/auth/api-keys", Some(&new), &[])
        .await
    {
        // Shown on this answer only, which no cache keeps (`no-store`); never in a URL.
        Ok(created) => account_page(&visit, None, None, Some(created.key)).await,
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let message = format!("{} {}", failure_text(visit.t, &failure), failure.detail);
            account_page(&visit, None, Some(message), None).await
        }
        Err(failure) => visit.failed(&failure),
    }
}

fn key_form(pairs: Vec<(String, String)>) -> KeyForm {
    let mut form = KeyForm {
        form_token: String::new(),
        name: String::new(),
        scope: Vec::new(),
    };
    for (name, value) in pairs.into_iter().take(32) {
        match name.as_str() {
            "form_token" => form.form_token = value,
            "name" => form.name = value,
            "scope" => form.scope.push(value),
            _ => {}
        }
    }
    form
}

pub async fn revoke_key(visit: Visit, Path(id): Path<String>, Form(form): Form<Token>) -> Response {
    if let Err(refused) = visit.check_form(&form.form_token) {
        return *refused;
    }
    let id = match visit.id(&id) {
        Ok(id) => id,
        Err(not_found) => return *not_found,
    };
    let then = format!("/account?done={}", Notice::Saved.code());
    visit
        .act(
            Method::DELETE,
            &format!("/api/v1/auth/api-keys/{id}"),
            &then,
        )
        .await
}
