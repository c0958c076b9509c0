//! product-service through the gateway.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{LAPTOP, PHONE, TestApp, assert_problem};

async fn create(app: &TestApp, name: &str, price: i64, stock: i64) -> Value {
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/products",
            &json!({"name": name, "price_cents": price, "stock": stock}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn the_demo_catalogue_is_seeded() {
    let app = TestApp::spawn().await;
    let laptop = app.get_json(&format!("/api/v1/products/{LAPTOP}")).await;
    assert_eq!(laptop["name"], "Laptop");
    assert!(laptop["price_cents"].as_i64().is_some_and(|p| p > 0));
    let phone = app.get_json(&format!("/api/v1/products/{PHONE}")).await;
    assert_eq!(phone["name"], "Phone");
}

#[tokio::test]
async fn products_are_searched_filtered_sorted_and_paged() {
    let app = TestApp::spawn().await;
    create(&app, "Phone case", 1_500, 100).await;
    create(&app, "Tablet", 45_000, 5).await;
    create(&app, "100% cotton_bag", 900, 5).await;

    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|p| p["name"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let phones = app.get_json("/api/v1/products?q=PHONE&sort=price").await;
    assert_eq!(names(&phones), ["Phone case", "Phone"]);
    let literal = app.get_json("/api/v1/products?q=0%25%20c").await;
    assert_eq!(
        names(&literal),
        ["100% cotton_bag"],
        "% is matched literally"
    );
    let underscore = app.get_json("/api/v1/products?q=n_b").await;
    assert_eq!(names(&underscore), ["100% cotton_bag"]);
    let mid = app
        .get_json("/api/v1/products?min_price=1000&max_price=50000&sort=-price")
        .await;
    assert_eq!(names(&mid), ["Tablet", "Phone case"]);
    let by_name = app.get_json("/api/v1/products?sort=name&limit=2").await;
    assert_eq!(names(&by_name), ["100% cotton_bag", "Laptop"]);
    assert_eq!(by_name["next_page"], 2);
    let page2 = app
        .get_json("/api/v1/products?sort=name&limit=2&page=2")
        .await;
    assert_eq!(names(&page2), ["Phone", "Phone case"]);
    let last = app
        .get_json("/api/v1/products?sort=name&limit=2&page=3")
        .await;
    assert_eq!(names(&last), ["Tablet"]);
    assert!(last["next_page"].is_null());

    for bad in [
        "sort=stock",
        "sort=price;drop",
        "limit=0",
        "page=0",
        "min_price=-1",
        "max_price=x",
        "unknown=1",
    ] {
        assert_problem(
            app.get(&format!("/api/v1/products?{bad}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn changes_use_optimistic_concurrency() {
    let app = TestApp::spawn().await;
    let tablet = create(&app, "Tablet", 45_000, 5).await;
    let path = format!("/api/v1/products/{}", tablet["id"]);
    let read = app.get(&path).await;
    let etag = read.headers()["etag"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(etag, "\"1\"");

    let replaced = app
        .request(Method::PUT, &path)
        .header("if-match", &etag)
        .json(&json!({"name": "Tablet Pro", "description": "11-inch", "price_cents": 60_000, "stock": 7}))
        .send()
        .await
        .expect("answer");
    assert_eq!(replaced.status(), StatusCode::OK);
    assert_eq!(replaced.headers()["etag"], "\"2\"");

    // A second writer still holding version 1 loses, and changes nothing.
    let stale = app
        .request(Method::PATCH, &path)
        .header("if-match", &etag)
        .json(&json!({"price_cents": 1}))
        .send()
        .await
        .expect("answer");
    assert_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let current = app.get_json(&path).await;
    assert_eq!(current["price_cents"], 60_000);
    assert_eq!(current["name"], "Tablet Pro");

    let patched = app
        .request(Method::PATCH, &path)
        .header("if-match", "\"2\"")
        .json(&json!({"stock": 9}))
        .send()
        .await
        .expect("answer");
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(app.get_json(&path).await["stock"], 9);
    let garbage = app
        .request(Method::PATCH, &path)
        .header("if-match", "W/\"x\"")
        .json(&json!({}))
        .send()
        .await
        .expect("answer");
    // A condition that cannot be read is a malformed request, not a failed condition.
    assert_problem(garbage, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn products_held_by_orders_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let held = app
        .request(Method::DELETE, &format!("/api/v1/products/{PHONE}"))
        .send()
        .await
        .expect("answer");
    let problem = assert_problem(held, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:product-reserved");

    let spare = create(&app, "Spare", 100, 1).await;
    let path = format!("/api/v1/products/{}", spare["id"]);
    let deleted = app
        .request(Method::DELETE, &path)
        .send()
        .await
        .expect("answer");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&path).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn absurd_products_are_refused() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"name": "Free", "price_cents": 0, "stock": 1}),
        json!({"name": "Negative", "price_cents": -100, "stock": 1}),
        json!({"name": "Gold", "price_cents": 100_000_000_000_i64, "stock": 1}),
        json!({"name": "Minus", "price_cents": 100, "stock": -1}),
        json!({"name": "Mountain", "price_cents": 100, "stock": 1_000_000_000}),
        json!({"name": "", "price_cents": 100, "stock": 1}),
        json!({"name": "Float", "price_cents": 1.5, "stock": 1}),
        json!({"name": "Huge", "price_cents": 1e30, "stock": 1}),
        json!({"name": "Extra", "price_cents": 100, "stock": 1, "version": 9}),
    ] {
        let response = app.send_json(Method::POST, "/api/v1/products", &body).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    assert_eq!(
        app.get_json("/api/v1/products").await["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}
