//! API keys for programs: created (shown once), listed, scoped, rate-limited, revoked.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ALICE, BOB, Client, Options, PHONE, TestApp, assert_problem};

async fn create_key(owner: &Client, name: &str, scopes: &[&str]) -> reqwest::Response {
    owner
        .send_json(
            Method::POST,
            "/api/v1/auth/api-keys",
            &json!({"name": name, "scopes": scopes}),
        )
        .await
}

async fn new_key(owner: &Client, name: &str, scopes: &[&str]) -> (i64, String) {
    let response = create_key(owner, name, scopes).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.expect("JSON");
    let key = created["key"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    assert!(key.starts_with("msa_") && key.len() > 40, "{key}");
    assert!(key.starts_with(created["prefix"].as_str().unwrap_or("-")));
    (created["id"].as_i64().expect("id"), key)
}

#[tokio::test]
async fn a_key_is_shown_once_listed_without_its_secret_used_and_revoked() {
    let app = TestApp::spawn().await;
    let alice = app.as_user(ALICE).await;
    let (id, key) = new_key(alice, "shop sync", &["orders:read", "products:read"]).await;
    let program = Client::with_api_key(&app.gateway, &key);

    let listed = alice.get_json("/api/v1/auth/api-keys").await;
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0]["last_used_at"].is_null());
    assert!(
        !listed.to_string().contains(&key),
        "the list never shows a key"
    );

    let orders = program.get_json("/api/v1/orders").await;
    let owners: Vec<&Value> = orders["items"]
        .as_array()
        .map(|items| items.iter().map(|o| &o["user_id"]).collect())
        .unwrap_or_default();
    assert!(
        !owners.is_empty() && owners.iter().all(|u| **u == ALICE),
        "{owners:?}"
    );
    let listed = alice.get_json("/api/v1/auth/api-keys").await;
    assert!(listed[0]["last_used_at"].is_string(), "last use recorded");

    // Bob neither sees nor revokes Alice's key.
    let bob = app.as_user(BOB).await;
    assert_eq!(bob.get_json("/api/v1/auth/api-keys").await, json!([]));
    let path = format!("/api/v1/auth/api-keys/{id}");
    assert_problem(bob.send(Method::DELETE, &path).await, StatusCode::NOT_FOUND).await;
    // A key cannot manage keys or sessions: only a logged-in person can.
    for (method, path) in [
        (Method::GET, "/api/v1/auth/api-keys"),
        (Method::DELETE, path.as_str()),
        (Method::POST, "/api/v1/auth/logout-all"),
    ] {
        assert_problem(program.send(method, path).await, StatusCode::UNAUTHORIZED).await;
    }

    assert_eq!(
        alice.send(Method::DELETE, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    let refused = program.get("/api/v1/orders").await;
    assert_eq!(
        refused.headers()["www-authenticate"],
        "Bearer realm=\"msa-shop\""
    );
    let problem = assert_problem(refused, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:invalid-api-key");
    let listed = alice.get_json("/api/v1/auth/api-keys").await;
    assert!(listed[0]["revoked_at"].is_string());
}

#[tokio::test]
async fn a_key_does_only_what_its_scopes_allow() {
    let app = TestApp::spawn().await;
    let alice = app.as_user(ALICE).await;
    let (_, reader) = new_key(alice, "catalogue reader", &["products:read"]).await;
    let reader = Client::with_api_key(&app.gateway, &reader);
    assert_eq!(
        reader.get("/api/v1/products/101").await.status(),
        StatusCode::OK
    );
    let problem = assert_problem(
        reader.place_order("scoped-1", &[(PHONE, 1)]).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:insufficient-scope");
    assert_problem(reader.get("/api/v1/users/1").await, StatusCode::FORBIDDEN).await;

    let (_, buyer) = new_key(alice, "buyer", &["orders:write", "orders:read"]).await;
    let buyer = Client::with_api_key(&app.gateway, &buyer);
    assert_eq!(
        buyer.place_order("scoped-2", &[(PHONE, 1)]).await.status(),
        StatusCode::CREATED
    );

    // A customer cannot hand out more than a customer may do.
    for scopes in [vec!["products:write"], vec!["admin"], vec![]] {
        let refused = create_key(alice, "too much", &scopes).await;
        assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    for bad in ["", "Bearer", "Bearer msa_not-a-key", "Basic YWxpY2U6cHc="] {
        let response = app
            .anonymous()
            .request(Method::GET, "/api/v1/products")
            .header("authorization", bad)
            .send()
            .await
            .expect("answer");
        assert_problem(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn each_key_has_its_own_rate_limit() {
    let mut options = Options::default();
    options.rates.per_key = 1;
    let app = TestApp::spawn_with(options).await;
    let alice = app.as_user(ALICE).await;
    let (_, key) = new_key(alice, "busy", &["products:read"]).await;
    let program = Client::with_api_key(&app.gateway, &key);
    let burst = (0..10).map(|_| program.get("/api/v1/products/101"));
    let responses = futures::future::join_all(burst).await;
    let limited: Vec<&reqwest::Response> = responses
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(limited.len() >= 7, "a burst of 2 passes, then 1/s");
    let retry_after: u64 = limited[0].headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // The limit is the key's, not the account's or the address's.
    assert_eq!(
        alice.get("/api/v1/products/101").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_request_with_both_a_key_and_a_session_cookie_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.as_user(ALICE).await;
    let (_, key) = new_key(alice, "both", &["orders:read"]).await;
    let program = Client::with_api_key(&app.gateway, &key);
    assert_eq!(
        program.get("/api/v1/orders").await.status(),
        StatusCode::OK,
        "the key alone works"
    );
    // A valid key beside any session cookie, valid or not: one request is one identity,
    // and no credential it carries goes unchecked.
    for cookie in ["__Host-msa_session=forged", "__Host-msa_session="] {
        let both = program
            .request(Method::GET, "/api/v1/orders")
            .header("cookie", cookie)
            .send()
            .await
            .expect("answer");
        assert_problem(both, StatusCode::UNAUTHORIZED).await;
    }
}
