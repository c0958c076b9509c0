//! Every class of bad input gets a clear problem and changes nothing.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{PHONE, TestApp, assert_problem};

/// Sends a raw body to `POST /api/v1/orders` with a fresh key.
async fn post_order_raw(
    app: &TestApp,
    key: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut request = app
        .request(Method::POST, "/api/v1/orders")
        .header("idempotency-key", key)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("answer")
}

#[tokio::test]
async fn bad_order_input_of_every_class_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    let orders_before = app.all_orders().await.len();
    let json_type = Some("application/json");
    let item = |q: serde_json::Value| {
        json!({"items": [{"product_id": PHONE, "quantity": q}]})
            .to_string()
            .into_bytes()
    };
    let cases: Vec<(&str, Option<&str>, Vec<u8>, StatusCode)> = vec![
        (
            "malformed JSON",
            json_type,
            b"{\"items\": [".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not JSON at all",
            json_type,
            b"<xml/>".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown field",
            json_type,
            json!({"items": [], "status": "confirmed"})
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "someone else's order",
            json_type,
            json!({"user_id": 2, "items": [{"product_id": PHONE, "quantity": 1}]})
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown item field",
            json_type,
            json!({"items": [{"product_id": PHONE, "quantity": 1, "unit_price_cents": 1}]})
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "wrong type",
            json_type,
            item(json!("one")),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "fractional quantity",
            json_type,
            item(json!(1.5)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "missing field",
            json_type,
            json!({"note": "no items"}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "negative quantity",
            json_type,
            item(json!(-1)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "zero quantity",
            json_type,
            item(json!(0)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "absurd quantity",
            json_type,
            item(json!(1_000_000_000_000_i64)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "overflowing quantity",
            json_type,
            item(json!(1e300)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no items",
            json_type,
            json!({"items": []}).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no content type",
            None,
            item(json!(1)),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "wrong content type",
            Some("text/plain"),
            item(json!(1)),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "oversized body",
            json_type,
            vec![b' '; 1024 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (i, (what, content_type, body, status)) in cases.into_iter().enumerate() {
        let response = post_order_raw(&app, &format!("bad-{i}"), content_type, body).await;
        let problem = assert_problem(response, status).await;
        assert!(
            !problem["detail"].as_str().unwrap_or_default().is_empty(),
            "{what}"
        );
    }
    assert_eq!(app.all_orders().await.len(), orders_before);
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/users/999999",
        "/api/v1/products/999999",
        "/api/v1/orders/999999",
        "/api/v1/nothing",
        "/nowhere",
        "/api/v1/products/../internal/reservations/9001",
        "/api/v1/products/%2e%2e/internal/reservations/9001",
    ] {
        assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
    }
    for path in [
        "/api/v1/users/abc",
        "/api/v1/orders/1.5",
        "/api/v1/products/99999999999999999999",
    ] {
        assert_problem(app.get(path).await, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn unsupported_methods_are_405_with_the_resources_own_allow() {
    let app = TestApp::spawn().await;
    let options = Method::OPTIONS;
    let trace = Method::TRACE;
    for (method, path, allow) in [
        (Method::DELETE, "/api/v1/orders", "GET, HEAD, POST"),
        (Method::PUT, "/api/v1/users/1", "GET, HEAD, PATCH, DELETE"),
        (
            Method::POST,
            "/api/v1/products/101",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
        (Method::GET, "/api/v1/orders/9001/cancel", "POST"),
        (options.clone(), "/api/v1/products", "GET, HEAD, POST"),
        (trace.clone(), "/api/v1/orders/9001", "GET, HEAD"),
        (Method::POST, "/hello", "GET,HEAD"),
        (Method::GET, "/echo", "POST"),
    ] {
        let response = app
            .request(method.clone(), path)
            .send()
            .await
            .expect("answer");
        let allowed = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(allowed, allow, "{method} {path}");
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}

#[tokio::test]
async fn oversized_bodies_are_refused_on_every_service() {
    let app = TestApp::spawn().await;
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(1024 * 1024));
    for path in ["/api/v1/users", "/api/v1/products", "/echo"] {
        let response = app
            .request(Method::POST, path)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .expect("answer");
        assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
}
