//! Removing access removes it at once: a deleted account, or one whose role was lowered,
//! keeps no session and no key with more than it now has, from the very next request.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Client, TestApp, assert_problem};

const PASSWORD: &str = "a long passphrase for tests";

/// A second administrator, made by the demo one, logged in, with a key of admin scopes.
async fn second_admin(app: &TestApp) -> (i64, Client, Client) {
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "deputy@example.com", "name": "Deputy", "password": PASSWORD,
                    "role": "admin"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.expect("JSON")["id"]
        .as_i64()
        .expect("id");
    let session = app
        .session_of("deputy@example.com", PASSWORD, "deputy-browser")
        .await;
    let key = key_of(
        &session,
        &[
            "users:read",
            "users:write",
            "products:write",
            "metrics:read",
        ],
    )
    .await;
    (id, session, key)
}

async fn key_of(owner: &Client, scopes: &[&str]) -> Client {
    let response = owner
        .send_json(
            Method::POST,
            "/api/v1/auth/api-keys",
            &json!({"name": "program", "scopes": scopes}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON");
    Client::with_api_key(&owner.base, created["key"].as_str().expect("the key"))
}

/// The administrator deletes account `id`.
async fn delete_account(app: &TestApp, id: i64) {
    let deleted = app
        .admin
        .send(Method::DELETE, &format!("/api/v1/users/{id}"))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

/// A session that was ended: it is refused, and mints no key.
async fn assert_ended(session: &Client, scope: &str) {
    assert_problem(
        session.get("/api/v1/auth/session").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let mint = session
        .send_json(
            Method::POST,
            "/api/v1/auth/api-keys",
            &json!({"name": "late", "scopes": [scope]}),
        )
        .await;
    assert_problem(mint, StatusCode::UNAUTHORIZED).await;
}

async fn status_of(client: &Client, method: Method, path: &str, body: Option<Value>) -> StatusCode {
    match body {
        Some(body) => client.send_json(method, path, &body).await.status(),
        None => client.send(method, path).await.status(),
    }
}

#[tokio::test]
async fn a_deleted_administrator_loses_session_and_keys_at_once() {
    let app = TestApp::spawn().await;
    let (id, session, key) = second_admin(&app).await;
    assert_eq!(key.get("/api/v1/users").await.status(), StatusCode::OK);

    delete_account(&app, id).await;
    assert_ended(&session, "users:read").await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/users", None),
        (Method::GET, "/metrics", None),
        (
            Method::POST,
            "/api/v1/products",
            Some(json!({"name": "X", "description": "", "price_cents": 1, "stock": 1})),
        ),
        (Method::DELETE, "/api/v1/users/2", None),
    ] {
        assert_eq!(
            status_of(&key, method.clone(), path, body).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a deleted administrator's key"
        );
    }
    // Bob is untouched by the attempt.
    assert_eq!(app.get_json("/api/v1/users/2").await["name"], "Bob");
}

#[tokio::test]
async fn a_demoted_administrator_keeps_nothing_of_the_old_role() {
    let app = TestApp::spawn().await;
    let (id, session, key) = second_admin(&app).await;

    let demoted = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{id}"),
            &json!({"role": "customer"}),
        )
        .await;
    assert_eq!(demoted.status(), StatusCode::OK);

    assert_ended(&session, "users:read").await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/users", None),
        (Method::GET, "/metrics", None),
        (
            Method::POST,
            "/api/v1/products",
            Some(json!({"name": "X", "description": "", "price_cents": 1, "stock": 1})),
        ),
    ] {
        assert_eq!(
            status_of(&key, method.clone(), path, body).await,
            StatusCode::FORBIDDEN,
            "{method} {path} with a demoted administrator's key"
        );
    }
    // What a customer may do, the key still may: its own record.
    assert_eq!(
        key.get(&format!("/api/v1/users/{id}")).await.status(),
        StatusCode::OK
    );
    // Logging out everywhere and in again as a customer gives the old key nothing back.
    let again = app
        .session_of("deputy@example.com", PASSWORD, "deputy-browser")
        .await;
    assert_eq!(
        again.get_json("/api/v1/auth/session").await["role"],
        "customer"
    );
    assert_eq!(
        key.get("/api/v1/users").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_deleted_customer_loses_session_and_keys_at_once() {
    let app = TestApp::spawn().await;
    let customer = app.register_and_login("leaving@example.com").await;
    let key = key_of(&customer, &["orders:read"]).await;
    let me = customer.get_json("/api/v1/auth/session").await["user_id"]
        .as_i64()
        .expect("user id");
    assert_eq!(key.get("/api/v1/orders").await.status(), StatusCode::OK);

    delete_account(&app, me).await;
    assert_problem(
        customer.get("/api/v1/orders").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_ended(&customer, "orders:read").await;
    assert_problem(key.get("/api/v1/orders").await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_customer_cannot_end_another_persons_sessions() {
    let app = TestApp::spawn().await;
    let victim = app.register_and_login("victim@example.com").await;
    let attacker = app.register_and_login("attacker@example.com").await;
    let victim_id = victim.get_json("/api/v1/auth/session").await["user_id"]
        .as_i64()
        .expect("user id");
    for (method, body) in [
        (Method::PATCH, Some(json!({"role": "customer"}))),
        (Method::DELETE, None),
    ] {
        let status = status_of(
            &attacker,
            method.clone(),
            &format!("/api/v1/users/{victim_id}"),
            body,
        )
        .await;
        assert!(status.is_client_error(), "{method} answered {status}");
    }
    assert_eq!(
        victim.get("/api/v1/auth/session").await.status(),
        StatusCode::OK,
        "the victim is still logged in"
    );
}
