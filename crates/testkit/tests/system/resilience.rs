//! Outages and slowness between services: clear 503/504 answers, never a hang, and no
//! stock held for an order that was not confirmed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use testkit::{ALICE, DEMO_ORDER, Fault, PHONE, Service, TestApp, assert_problem};

/// Long enough for the recovery grace (three call deadlines) and a pass after it.
const SETTLED: Duration = Duration::from_secs(20);

#[tokio::test]
async fn product_service_down_mid_test_gives_503_and_leaks_no_stock() {
    let mut app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    app.stop(Service::Products).await;

    let response = app.place_order("outage-1", ALICE, &[(PHONE, 1)]).await;
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:upstream-unavailable");
    assert_problem(
        app.get(&format!("/api/v1/orders/{DEMO_ORDER}")).await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_problem(
        app.get("/api/v1/products/101").await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;

    app.start(Service::Products).await;
    // The order could not be released while product-service was down, so it waits as
    // `pending` for the recovery pass; nothing is held for it in the meantime.
    app.until_no_order_is_pending(SETTLED).await;
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;

    // The key of a request that failed for an outage is free again: the retry succeeds.
    let retry = app.place_order("outage-1", ALICE, &[(PHONE, 1)]).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn a_slow_product_service_gives_504_and_its_reservation_is_released() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    // Reservations reach product-service and are made, but the answers never come back.
    app.products_link().set(Fault::HoldAnswers);
    let started = Instant::now();
    let response = app.place_order("slow-1", ALICE, &[(PHONE, 3)]).await;
    let problem = assert_problem(response, StatusCode::GATEWAY_TIMEOUT).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:upstream-timeout");
    // Two deadlines at most: the reservation call, then the release call; never a hang.
    let bound = testkit::CALL_TIMEOUT * 3;
    let took = started.elapsed();
    assert!(took < bound, "answered in {took:?}");

    app.products_link().set(Fault::None);
    app.until_no_order_is_pending(SETTLED).await;
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_in_flight_gets_409() {
    let app = TestApp::spawn().await;
    app.products_link().set(Fault::Blackhole);
    let first = app.place_order("dup-1", ALICE, &[(PHONE, 1)]);
    let second = async {
        // The first request holds the key from before it calls product-service, which
        // cannot answer; wait until order-service has recorded it, then send the twin.
        app.until_an_order_is_pending(Duration::from_secs(5)).await;
        app.place_order("dup-1", ALICE, &[(PHONE, 1)]).await
    };
    let (first, second) = tokio::join!(first, second);
    let problem = assert_problem(second, StatusCode::CONFLICT).await;
    assert_eq!(
        problem["type"],
        "urn:msa-shop:problem:idempotency-key-in-use"
    );
    assert_problem(first, StatusCode::GATEWAY_TIMEOUT).await;
    app.products_link().set(Fault::None);
}

#[tokio::test]
async fn pending_orders_left_by_a_stopped_order_service_are_settled_after_restart() {
    let mut app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    // With product-service down, even the release fails: the order stays `pending`, as
    // after a crash, and order-service is stopped with it in that state.
    app.stop(Service::Products).await;
    let response = app.place_order("stuck-1", ALICE, &[(PHONE, 2)]).await;
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    app.stop(Service::Orders).await;
    app.start(Service::Products).await;
    app.start(Service::Orders).await;
    app.until_no_order_is_pending(SETTLED).await;
    let statuses: Vec<_> = app
        .all_orders()
        .await
        .iter()
        .map(|o| o["status"].clone())
        .collect();
    assert_eq!(statuses, ["confirmed", "failed"]);
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn a_graceful_stop_lets_in_flight_requests_finish() {
    let mut app = TestApp::spawn().await;
    // The placement will wait on product-service for two call deadlines.
    app.products_link().set(Fault::HoldAnswers);
    let request = app
        .as_user(ALICE)
        .await
        .request(reqwest::Method::POST, "/api/v1/orders")
        .header("idempotency-key", "drain-1")
        .json(&serde_json::json!({"items": [{"product_id": PHONE, "quantity": 1}]}));
    let in_flight = tokio::spawn(request.send());
    app.until_an_order_is_pending(Duration::from_secs(5)).await;
    // Returns once order-service has drained and closed.
    app.stop(Service::Orders).await;
    let answer = in_flight
        .await
        .expect("request task")
        .expect("an answer, not a connection cut off by the stop");
    assert_problem(answer, StatusCode::GATEWAY_TIMEOUT).await;
    app.products_link().set(Fault::None);
}
