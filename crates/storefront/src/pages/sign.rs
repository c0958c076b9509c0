//! Sign-up, sign-in and sign-out: the API's `/auth` routes behind forms. The session
//! cookie the API sets passes through to the browser untouched (HttpOnly, `__Host-`).

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::response::Response;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::Token;
use crate::notices::{Notice, failure_text, local_path};
use crate::visit::{Chrome, Visit};

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    c: Chrome,
    next: String,
    email: String,
}

#[derive(Template)]
#[template(path = "sign_up.html")]
pub struct SignUpPage {
    c: Chrome,
    email: String,
    name: String,
}

#[derive(Deserialize)]
pub struct Arrival {
    #[serde(default)]
    next: String,
    done: Option<String>,
}

pub async fn sign_in_page(visit: Visit, Query(arrival): Query<Arrival>) -> Response {
    let notice = arrival.done.as_deref().and_then(Notice::parse);
    let c = visit.chrome(visit.t.sign_in, notice).await;
    let page = SignInPage {
        c,
        next: local_path(&arrival.next).to_owned(),
        email: String::new(),
    };
    visit.page(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Serialize)]
struct Login<'a> {
    email: &'a str,
    password: &'a str,
}

pub async fn sign_in(visit: Visit, Form(form): Form<SignIn>) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    let login = Login {
        email: form.email.trim(),
        password: &form.password,
    };
    let answer = visit
        .api
        .call::<serde_json::Value, _>(Method::POST, "/api/v1/auth/login", Some(&login), &[])
        .await;
    match answer {
        Ok(_) => visit.redirect(local_path(&form.next)),
        Err(failure) => {
            let mut c = visit.chrome_for(None, visit.t.sign_in, None);
            c.error = Some(failure_text(visit.t, &failure).to_owned());
            let page = SignInPage {
                c,
                next: local_path(&form.next).to_owned(),
                email: form.email,
            };
            visit.page(failure.status, &page)
        }
    }
}

pub async fn sign_up_page(visit: Visit) -> Response {
    let c = visit.chrome(visit.t.sign_up, None).await;
    let page = SignUpPage {
        c,
        email: String::new(),
        name: String::new(),
    };
    visit.page(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct SignUp {
    #[serde(flatten)]
    token: Token,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

#[derive(Serialize)]
struct Registration<'a> {
    email: &'a str,
    name: &'a str,
    password: &'a str,
}

pub async fn sign_up(visit: Visit, Form(form): Form<SignUp>) -> Response {
    if let Err(refused) = visit.check_form(&form.token.form_token) {
        return *refused;
    }
    let registration = Registration {
        email: form.email.trim(),
        name: form.name.trim(),
        password: &form.password,
    };
    let registered = visit
        .api
        .call::<serde_json::Value, _>(
            Method::POST,
            "/api/v1/auth/register",
            Some(&registration),
            &[],
        )
        .await;
    // Registration answers alike whether or not the address had an account (nobody learns
    // who has one); the login that follows tells whether this password opens it.
    let login = Login {
        email: registration.email,
        password: registration.password,
    };
    let result = match registered {
        Ok(_) => visit
            .api
            .call::<serde_json::Value, _>(Method::POST, "/api/v1/auth/login", Some(&login), &[])
            .await
            .map(drop),
        Err(failure) => Err(failure),
    };
    match result {
        Ok(()) => visit.redirect(&format!("/?done={}", Notice::SignedUp.code())),
        Err(failure) => {
            let mut c = visit.chrome_for(None, visit.t.sign_up, None);
            let mut message = failure_text(visit.t, &failure).to_owned();
            if failure.status == StatusCode::UNPROCESSABLE_ENTITY && !failure.detail.is_empty() {
                message.push(' ');
                message.push_str(&failure.detail);
            }
            c.error = Some(message);
            let page = SignUpPage {
                c,
                email: form.email,
                name: form.name,
            };
            visit.page(failure.status, &page)
        }
    }
}

pub async fn sign_out(visit: Visit, Form(form): Form<Token>) -> Response {
    if let Err(refused) = visit.check_form(&form.form_token) {
        return *refused;
    }
    let then = format!("/?done={}", Notice::SignedOut.code());
    visit.act(Method::POST, "/api/v1/auth/logout", &then).await
}
