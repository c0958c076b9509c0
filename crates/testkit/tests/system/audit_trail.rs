//! The security audit trail: each security event is written to the gateway's database,
//! counted per type in `/metrics`, and read back by administrators only, filtered and paged
//! at `GET /api/v1/admin/security-events`; the table keeps a bounded number of rows.

use std::time::{Duration, Instant};

use gateway::RateLimits;
use kit::identity::TOKEN_HEADER;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ADMIN, ALICE, BOB, Client, Options, Service, TestApp, assert_problem};

const ALICE_EMAIL: &str = "alice@example.com";
const TRAIL: &str = "/api/v1/admin/security-events";

/// The events `query` finds, once at least `at_least` of them are written (the trail
/// writes in the background, so a test waits for it as it would for readiness).
async fn events(app: &TestApp, query: &str, at_least: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = app.get_json(&format!("{TRAIL}?{query}")).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= at_least {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: {} events, not {at_least}: {page}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one event of `kind` (waiting for it), after asserting there is only one.
async fn only_event(app: &TestApp, kind: &str) -> Value {
    let found = events(app, &format!("type={kind}"), 1).await;
    assert_eq!(found.len(), 1, "one {kind} event: {found:?}");
    found[0].clone()
}

/// A new API key of the administrator's, with `scope` alone.
async fn admin_key(app: &TestApp, scope: &str) -> Client {
    let created = app
        .admin
        .send_json(
            Method::POST,
            "/api/v1/auth/api-keys",
            &json!({"name": "trail test", "scopes": [scope]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("JSON");
    Client::with_api_key(&app.gateway, created["key"].as_str().expect("a key"))
}

async fn login_as(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.login(email, password, "trail-browser").await.status()
}

#[tokio::test]
async fn each_security_event_is_recorded_with_its_user_and_counted() {
    let app = TestApp::spawn().await;
    let password = app.demo_password(ALICE_EMAIL);

    // A failed login names the account by a digest, never by what was typed.
    assert_eq!(
        login_as(&app, ALICE_EMAIL, "not her password at all").await,
        StatusCode::UNAUTHORIZED
    );
    let failed = only_event(&app, "login-failed").await;
    assert_eq!(failed["address"], "127.0.0.1");
    let detail = failed["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("account "), "{failed}");
    assert!(!detail.contains("alice"), "no typed email: {failed}");
    assert!(
        !detail.contains("not her password"),
        "no password: {failed}"
    );

    // Throttled after repeated failures: one event however many attempts are refused.
    let mut throttled = 0;
    for _ in 0..12 {
        if login_as(&app, "carol@example.com", "wrong password for carol").await
            == StatusCode::TOO_MANY_REQUESTS
        {
            throttled += 1;
        }
    }
    assert!(throttled >= 2, "logins throttled: {throttled}");
    only_event(&app, "login-throttled").await;

    // A session cookie replayed from another client.
    let alice = app.session_of(ALICE_EMAIL, &password, "browser-a").await;
    let cookie = alice.get("/api/v1/auth/session").await;
    assert_eq!(cookie.status(), StatusCode::OK);
    let stolen = Client::with_cookie(
        &app.gateway,
        "another-browser",
        &testkit::session_cookie(&app.login(ALICE_EMAIL, &password, "browser-b").await)
            .expect("a cookie"),
    );
    assert_eq!(
        stolen.get("/api/v1/auth/session").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let replayed = only_event(&app, "session-replayed").await;
    assert_eq!(replayed["user_id"], ALICE);

    // Signing out everywhere revokes her sessions.
    let alice = app.session_of(ALICE_EMAIL, &password, "browser-a").await;
    assert_eq!(
        alice
            .send(Method::POST, "/api/v1/auth/logout-all")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let revoked = only_event(&app, "sessions-revoked").await;
    assert_eq!(revoked["user_id"], ALICE);

    // An API key: created, used (first use recorded once), revoked, then refused.
    let alice = app.session_of(ALICE_EMAIL, &password, "browser-a").await;
    let created = alice
        .send_json(
            Method::POST,
            "/api/v1/auth/api-keys",
            &json!({"name": "script", "scopes": ["products:read"]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("JSON");
    let secret = created["key"].as_str().expect("the key").to_owned();
    let id = created["id"].as_i64().expect("an id");
    let key = Client::with_api_key(&app.gateway, &secret);
    for _ in 0..3 {
        assert_eq!(key.get("/api/v1/products").await.status(), StatusCode::OK);
    }
    let made = only_event(&app, "api-key-created").await;
    assert_eq!(made["user_id"], ALICE);
    assert!(!made.to_string().contains(&secret), "the key is never kept");
    let first = only_event(&app, "api-key-first-used").await;
    assert_eq!(first["user_id"], ALICE);
    assert_eq!(
        alice
            .send(Method::DELETE, &format!("/api/v1/auth/api-keys/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    only_event(&app, "api-key-revoked").await;
    assert_eq!(
        key.get("/api/v1/products").await.status(),
        StatusCode::UNAUTHORIZED
    );
    only_event(&app, "api-key-refused").await;

    // De-provisioning: the administrator deletes an account.
    let user = app.create_user("leaver@example.com", "Leaver").await;
    let leaver = user["id"].as_i64().expect("an id");
    assert_eq!(
        app.admin
            .send(Method::DELETE, &format!("/api/v1/users/{leaver}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let gone = only_event(&app, "access-revoked").await;
    assert_eq!(gone["user_id"], leaver);

    // Filtered by user: Alice's events, and no one else's.
    let hers = events(&app, &format!("user_id={ALICE}"), 5).await;
    assert!(
        hers.iter().all(|event| event["user_id"] == ALICE),
        "{hers:?}"
    );
    // By time: everything so far is before the next minute, nothing after it.
    let later = kit::time::rfc3339(kit::time::now_unix() + 60);
    assert!(events(&app, &format!("since={later}"), 0).await.is_empty());
    assert!(!events(&app, &format!("until={later}"), 1).await.is_empty());

    // Counted per type.
    let metrics = app.admin.get("/metrics").await.text().await.expect("text");
    for kind in ["session-replayed", "sessions-revoked", "api-key-created"] {
        assert!(
            metrics.contains(&format!(
                "msa_security_events_total{{service=\"gateway\",type=\"{kind}\"}} 1"
            )),
            "{kind} counted once in:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn the_trail_pages_newest_first_and_answers_administrators_only() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        login_as(&app, ALICE_EMAIL, "a wrong password here").await;
    }
    let all = events(&app, "type=login-failed", 5).await;
    let ids: Vec<i64> = all.iter().filter_map(|e| e["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    let first = app
        .get_json(&format!("{TRAIL}?type=login-failed&limit=2"))
        .await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get_json(&format!(
            "{TRAIL}?type=login-failed&limit=2&cursor={cursor}"
        ))
        .await;
    let paged: Vec<i64> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["id"].as_i64())
        .collect();
    assert_eq!(paged, ids[..4].to_vec(), "two pages, in order, no gaps");

    for bad in [
        "type=nonsense",
        "user_id=0",
        "since=yesterday",
        "limit=1000",
        "cursor=x",
        "colour=red",
    ] {
        assert_problem(
            app.admin.get(&format!("{TRAIL}?{bad}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    // Alice is throttled by now; Bob is a customer too.
    let bob = app.login_demo(BOB).await;
    assert_problem(bob.get(TRAIL).await, StatusCode::FORBIDDEN).await;
    assert_problem(app.anonymous().get(TRAIL).await, StatusCode::UNAUTHORIZED).await;
    // An administrator's key without the scope cannot read it either.
    let narrow = admin_key(&app, "products:read").await;
    assert_problem(narrow.get(TRAIL).await, StatusCode::FORBIDDEN).await;
    // The operation is in the published API description.
    let openapi = app.anonymous().get_json("/openapi.json").await;
    assert!(openapi["paths"][TRAIL]["get"].is_object(), "documented");
}

#[tokio::test]
async fn a_client_over_its_rate_limit_is_recorded_once_a_minute() {
    let app = TestApp::spawn_with(Options {
        rates: RateLimits {
            per_address: 100_000,
            per_key: 1,
        },
        ..Options::default()
    })
    .await;
    let key = admin_key(&app, "products:read").await;
    let mut refused = 0;
    for _ in 0..10 {
        if key.get("/api/v1/products").await.status() == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(
        refused >= 5,
        "the key went over its limit: {refused} refusals"
    );
    let tripped = only_event(&app, "rate-limited").await;
    assert_eq!(tripped["user_id"], ADMIN, "the key's owner");
    let metrics = app.admin.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains(&format!(
            "msa_security_events_total{{service=\"gateway\",type=\"rate-limited\"}} {refused}"
        )),
        "every refusal counted, one recorded:\n{metrics}"
    );
}

#[tokio::test]
async fn the_trail_keeps_only_its_newest_events() {
    let app = TestApp::spawn_with(Options {
        security_events_max: 3,
        ..Options::default()
    })
    .await;
    for attempt in 0..6 {
        login_as(&app, ALICE_EMAIL, &format!("wrong password {attempt}")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kept = events(&app, "", 1).await;
        let ids: Vec<i64> = kept.iter().filter_map(|e| e["id"].as_i64()).collect();
        if ids.len() == 3 && ids[0] == 6 {
            assert_eq!(ids, [6, 5, 4], "the newest three");
            break;
        }
        assert!(Instant::now() < deadline, "kept: {ids:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tokens_the_services_refuse_reach_the_trail() {
    let app = TestApp::spawn().await;
    // product-service's certificate with the gateway's token: a token lifted off the wire
    // and replayed from another process.
    let token = crate::mtls::gateway_token(&app, Service::Orders, "/orders/9001");
    let orders = app.service_url(Service::Orders);
    let lifted = crate::mtls::client_as(&app, Some("products"))
        .get(format!("{orders}/orders/9001"))
        .header(TOKEN_HEADER, &token)
        .send()
        .await
        .expect("an answer");
    assert_eq!(lifted.status(), StatusCode::UNAUTHORIZED);
    // No certificate at all, straight at user-service.
    let users = app.service_url(Service::Users);
    let bare = crate::mtls::client_as(&app, None)
        .get(format!("{users}/users/1"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);

    let refused = events(&app, "type=token-refused", 2).await;
    let details: Vec<&str> = refused
        .iter()
        .filter_map(|event| event["detail"].as_str())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("orders refused GET /orders/9001")
                && d.contains("caller: products")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("users refused GET /users/1") && d.contains("no certificate")),
        "{details:?}"
    );
    assert!(refused.iter().all(|event| event["address"] == "127.0.0.1"));
    assert!(
        !refused
            .iter()
            .any(|event| event.to_string().contains(&token))
    );
    // Collected once: the next rounds find nothing new.
    let metrics = app.admin.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("msa_security_events_total{service=\"gateway\",type=\"token-refused\"} 2"),
        "{metrics}"
    );
}
