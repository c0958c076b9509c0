//! One test per item of the OWASP API Security Top 10 (2023), each named after it, each
//! attacking the running system from outside the way that item describes.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ALICE, BOB, DEMO_ORDER, LAPTOP, Options, PHONE, TestApp, assert_problem};

/// API1: Bob guesses ids of Alice's things; every guess looks like a miss (404, not 403,
/// so ids do not leak) and changes nothing.
#[tokio::test]
async fn api1_broken_object_level_authorization() {
    let app = TestApp::spawn().await;
    let bob = app.as_user(BOB).await;
    let before = app.order(DEMO_ORDER).await;
    for (method, path) in [
        (Method::GET, format!("/api/v1/orders/{DEMO_ORDER}")),
        (Method::POST, format!("/api/v1/orders/{DEMO_ORDER}/cancel")),
        (Method::GET, format!("/api/v1/users/{ALICE}")),
    ] {
        let guess = bob.send(method.clone(), &path).await;
        let problem = assert_problem(guess, StatusCode::NOT_FOUND).await;
        let missing = bob
            .send(
                method,
                &path.replace("9001", "424242").replace("/1", "/4242"),
            )
            .await;
        assert_eq!(missing.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            problem["detail"],
            missing.json::<Value>().await.expect("JSON")["detail"]
        );
    }
    let renamed = bob
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{ALICE}"),
            &json!({"name": "Mallory"}),
        )
        .await;
    assert_problem(renamed, StatusCode::NOT_FOUND).await;
    // Asking for Alice's orders by filter shows nothing of hers.
    let listed = bob
        .get_json(&format!("/api/v1/orders?user_id={ALICE}"))
        .await;
    assert_eq!(listed["items"], json!([]));
    let own = bob.all_orders().await;
    assert!(own.iter().all(|order| order["user_id"] == BOB), "{own:?}");
    assert_eq!(app.order(DEMO_ORDER).await, before);
    assert_eq!(
        app.get_json(&format!("/api/v1/users/{ALICE}")).await["name"],
        "Alice"
    );
}

/// API2: guessing passwords is throttled per account with a growing delay (429 +
/// Retry-After), even with the right password during the delay, without locking anyone
/// else out.
#[tokio::test]
async fn api2_broken_authentication() {
    let app = TestApp::spawn().await;
    let email = "alice@example.com";
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.login(email, "a wrong guess", "bot").await.status());
    }
    assert_eq!(
        &statuses[..5],
        [StatusCode::UNAUTHORIZED; 5],
        "{statuses:?}"
    );
    assert_eq!(statuses[6], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    let throttled = app.login(email, &app.demo_password(email), "alice").await;
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    let problem = assert_problem(throttled, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:rate-limited");
    // Bob, from the same address, is not locked out by an attack on Alice.
    let bob = app
        .login(
            "bob@example.com",
            &app.demo_password("bob@example.com"),
            "bob",
        )
        .await;
    assert_eq!(bob.status(), StatusCode::OK);
    // A session cookie that was never issued is no way in.
    let forged = testkit::Client::with_cookie(
        &app.gateway,
        "bot",
        &format!("{}={}", testkit::SESSION_COOKIE, "A".repeat(43)),
    );
    assert_problem(forged.get("/api/v1/orders").await, StatusCode::UNAUTHORIZED).await;
}

/// API3: no body can set a property its sender may not set (mass assignment), and no
/// answer carries a property its reader may not see.
#[tokio::test]
async fn api3_broken_object_property_level_authorization() {
    let app = TestApp::spawn().await;
    let alice = app.as_user(ALICE).await;
    let before = app.stock_ledger().await;
    let promote = alice
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{ALICE}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_problem(promote, StatusCode::FORBIDDEN).await;
    for body in [
        json!({"user_id": BOB, "items": [{"product_id": PHONE, "quantity": 1}]}),
        json!({"status": "confirmed", "items": [{"product_id": PHONE, "quantity": 1}]}),
        json!({"items": [{"product_id": PHONE, "quantity": 1, "unit_price_cents": 1}]}),
        json!({"total_cents": 1, "items": [{"product_id": PHONE, "quantity": 1}]}),
    ] {
        let response = alice
            .request(Method::POST, "/api/v1/orders")
            .header(
                "idempotency-key",
                format!("mass-{}", body.to_string().len()),
            )
            .json(&body)
            .send()
            .await
            .expect("answer");
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    for body in [json!({"stock": 100000}), json!({"price_cents": 1})] {
        let response = alice
            .send_json(Method::PATCH, &format!("/api/v1/products/{LAPTOP}"), &body)
            .await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    let me = alice.get_json(&format!("/api/v1/users/{ALICE}")).await;
    assert_eq!(me["role"], "customer");
    let text = me.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

/// API4: every resource a request can consume is bounded: body size, header size, page
/// size, request rate per address.
#[tokio::test]
async fn api4_unrestricted_resource_consumption() {
    let mut options = Options::default();
    options.rates.per_address = 5;
    let app = TestApp::spawn_with(options).await;
    let visitor = app.anonymous();
    let huge = visitor
        .request(Method::POST, "/echo")
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .expect("answer");
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = visitor.get("/api/v1/products?limit=1000").await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let headers = visitor
        .request(Method::GET, "/hello")
        .header("x-padding", "x".repeat(64 * 1024))
        .send()
        .await;
    assert!(
        headers.is_ok_and(|r| r.status() == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        "a 64 KiB header is refused"
    );
    let burst = (0..30).map(|_| visitor.get("/hello"));
    let statuses: Vec<StatusCode> = futures::future::join_all(burst)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited >= 15, "{statuses:?}");
    // A client cannot dodge its address's limit by claiming to be someone else: with
    // the headers believed, all five would pass; a token or two may have refilled.
    let disguised = (0..5).map(|i| {
        visitor
            .request(Method::GET, "/hello")
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .header("x-real-ip", format!("10.0.1.{i}"))
            .header("forwarded", format!("for=10.0.2.{i}"))
            .send()
    });
    let passed = futures::future::join_all(disguised)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == StatusCode::OK))
        .count();
    assert!(passed <= 2, "{passed} of 5 disguised requests passed");
    // Probes are never rate-limited: an orchestrator must not kill a busy gateway.
    assert_eq!(visitor.get("/healthz").await.status(), StatusCode::OK);
}

/// API5: functions for administrators refuse customers (403) and visitors (401).
#[tokio::test]
async fn api5_broken_function_level_authorization() {
    let app = TestApp::spawn().await;
    let alice = app.as_user(ALICE).await;
    let visitor = app.anonymous();
    let product = json!({"name": "Free", "price_cents": 1, "stock": 1});
    let admin_only: [(Method, &str, Option<Value>); 5] = [
        (Method::GET, "/api/v1/users", None),
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"email": "x@example.com", "name": "X", "password": "a long passphrase"})),
        ),
        (Method::DELETE, "/api/v1/users/2", None),
        (Method::POST, "/api/v1/products", Some(product)),
        (Method::DELETE, "/api/v1/products/101", None),
    ];
    for (method, path, body) in admin_only {
        for (client, status) in [
            (alice, StatusCode::FORBIDDEN),
            (&visitor, StatusCode::UNAUTHORIZED),
        ] {
            let mut request = client.request(method.clone(), path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.expect("answer");
            assert_problem(response, status).await;
        }
    }
    assert_eq!(
        app.get_json("/api/v1/users?limit=100").await["items"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        app.get("/api/v1/products/101").await.status(),
        StatusCode::OK
    );
}

/// API6: the business flow worth automating against (buying out the stock) needs an
/// account, an idempotency key and sane quantities, and stays within the rate limit.
#[tokio::test]
async fn api6_unrestricted_access_to_sensitive_business_flows() {
    let app = TestApp::spawn().await;
    let visitor = app.anonymous();
    let anonymous = visitor.place_order("anon-1", &[(PHONE, 1)]).await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
    let alice = app.as_user(ALICE).await;
    let phones = app.stock(PHONE).await;
    let hoard = alice.place_order("hoard-1", &[(PHONE, 1_000_000)]).await;
    assert!(hoard.status().is_client_error(), "{}", hoard.status());
    let no_key = alice
        .send_json(
            Method::POST,
            "/api/v1/orders",
            &json!({"items": [{"product_id": PHONE, "quantity": 1}]}),
        )
        .await;
    assert_problem(no_key, StatusCode::BAD_REQUEST).await;
    // Replaying one purchase many times buys once.
    for _ in 0..5 {
        let replay = alice.place_order("buy-once", &[(PHONE, 1)]).await;
        assert_eq!(replay.status(), StatusCode::CREATED);
    }
    assert_eq!(app.stock(PHONE).await, phones - 1);
}

/// API7: nothing a client sends makes a service fetch a URL of the client's choosing: the
/// gateway forwards only to its configured services, whatever the Host, path or headers.
#[tokio::test]
async fn api7_server_side_request_forgery() {
    let app = TestApp::spawn().await;
    let visitor = app.anonymous();
    for path in [
        "/api/v1/products/..%2f..%2finternal%2freservations%2f9001",
        "/api/v1/products/%2e%2e/%2e%2e/healthz",
        "/api/v1/products//127.0.0.1:1/x",
        "/api/v1/http://169.254.169.254/latest/meta-data",
    ] {
        let response = visitor.get(path).await;
        assert!(
            matches!(
                response.status(),
                StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST
            ),
            "{path}: {}",
            response.status()
        );
    }
    let response = visitor
        .request(Method::GET, "/api/v1/products/101")
        .header("host", "169.254.169.254")
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.expect("JSON")["id"], LAPTOP);
}

/// API8: hardened defaults on every answer: security headers, no banner, no stack trace
/// or internals in errors, only documented methods, strict CORS.
#[tokio::test]
async fn api8_security_misconfiguration() {
    let app = TestApp::spawn().await;
    let visitor = app.anonymous();
    for path in [
        "/hello",
        "/api/v1/products",
        "/api/v1/nothing",
        "/api/v1/orders",
    ] {
        let response = visitor.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let csp = headers["content-security-policy"]
            .to_str()
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(headers.get("server").is_none(), "{path} has a banner");
    }
    let alice = app.as_user(ALICE).await;
    let private = alice.get("/api/v1/orders").await;
    assert_eq!(private.headers()["cache-control"], "no-store");

    for method in ["TRACE", "PROPFIND", "PURGE"] {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let response = visitor.send(method.clone(), "/api/v1/products").await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert!(response.headers().contains_key("allow"), "{method}");
    }
    let broken = visitor
        .request(Method::POST, "/echo")
        .header("content-type", "application/json")
        .body("{\"a\": [1, 2,")
        .send()
        .await
        .expect("answer");
    let text = broken.text().await.expect("text");
    for leak in [
        "panicked", "src/", ".rs:", "sqlx", "SELECT", "/home", "/tmp", "stack",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }

    // CORS: the configured origin gets credentials; any other origin, and `null`, nothing.
    let allowed = app.options.cors_origin;
    for (origin, expected) in [
        (allowed, Some(allowed)),
        ("https://evil.example", None),
        ("null", None),
        ("https://shop.example.com.evil.example", None),
    ] {
        let preflight = visitor
            .request(Method::OPTIONS, "/api/v1/orders")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .expect("answer");
        let allow_origin = preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok());
        assert_eq!(allow_origin, expected, "preflight from {origin}");
        let simple = alice
            .request(Method::GET, "/api/v1/orders")
            .header("origin", origin)
            .send()
            .await
            .expect("answer");
        let headers = simple.headers();
        let allow_origin = headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok());
        assert_eq!(allow_origin, expected, "GET from {origin}");
        if expected.is_some() {
            assert_eq!(headers["access-control-allow-credentials"], "true");
        }
    }
}

/// API9: what is reachable from outside is what the dictionary lists; service internals,
/// other versions and debug paths do not exist.
#[tokio::test]
async fn api9_improper_inventory_management() {
    let app = TestApp::spawn().await;
    let document = app.get_json("/openapi.json").await;
    let paths: Vec<String> = document["paths"]
        .as_object()
        .map(|paths| paths.keys().cloned().collect())
        .unwrap_or_default();
    assert!(
        paths.iter().all(|p| p.starts_with("/api/v1/")
            || ["/hello", "/hello/{name}", "/greet", "/echo"].contains(&p.as_str())),
        "{paths:?}"
    );
    let admin = &app.admin;
    for path in [
        "/internal/reservations/9001",
        "/api/v1/internal/credentials/verify",
        "/api/v1/users/1/password",
        "/api/v2/products",
        "/api/v0/products",
        "/debug/pprof",
        // `/admin` is the storefront's page for administrators (issue 15); nothing under it
        // or beside it in the API is hidden.
        "/admin/config",
        "/api/v1/admin",
        "/.env",
        "/api/v1/products/101/../../../internal/reservations/9001",
    ] {
        let response = admin.get(path).await;
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    // The gateway's metrics describe its traffic: for operators, not for visitors.
    let anonymous = app.anonymous().get("/metrics").await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
    let customer = app.as_user(ALICE).await.get("/metrics").await;
    assert_problem(customer, StatusCode::FORBIDDEN).await;
    let internal = admin
        .send_json(
            Method::POST,
            "/api/v1/internal/credentials/verify",
            &json!({"email": "alice@example.com", "password": "x"}),
        )
        .await;
    assert_problem(internal, StatusCode::NOT_FOUND).await;
}

/// API10: what one service receives from another is checked before use: a failing or
/// silent dependency gives a clear 503/504 and no half-done order, never a 500.
#[tokio::test]
async fn api10_unsafe_consumption_of_apis() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    app.products_link().set(testkit::Fault::Blackhole);
    let alice = app.as_user(ALICE).await;
    let answer = alice.place_order("dark-1", &[(PHONE, 1)]).await;
    let status = answer.status();
    assert!(
        matches!(
            status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        ),
        "{status}"
    );
    let problem: Value = answer.json().await.expect("problem JSON");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| !d.contains("127.0.0.1")),
        "{problem}"
    );
    app.products_link().set(testkit::Fault::None);
    app.until_no_order_is_pending(std::time::Duration::from_secs(20))
        .await;
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}
