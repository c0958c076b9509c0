//! order-service through the gateway: the saga, idempotency, races, enrichment.

use std::collections::BTreeMap;

use kit::identity::{Principal, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{ALICE, BOB, DEMO_ORDER, LAPTOP, PHONE, Service, TestApp, assert_problem};

#[tokio::test]
async fn the_demo_order_comes_back_with_its_user_and_products() {
    let app = TestApp::spawn().await;
    let order = app.order(DEMO_ORDER).await;
    assert_eq!(order["order_id"], 9001);
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["user"]["name"], "Alice");
    assert_eq!(order["items"][0]["product"]["name"], "Phone");
    assert_eq!(order["items"][0]["quantity"], 1);
    let price = order["items"][0]["unit_price_cents"]
        .as_i64()
        .expect("price");
    assert!(price > 0);
    assert_eq!(order["total_cents"], price);
}

#[tokio::test]
async fn placing_an_order_takes_stock_and_cancelling_returns_it() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    let laptops = app.stock(LAPTOP).await;
    let response = app
        .place_order("order-1", BOB, &[(LAPTOP, 2), (PHONE, 1)])
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let order: Value = response.json().await.expect("JSON");
    assert_eq!(order["status"], "confirmed");
    assert_eq!(location, format!("/api/v1/orders/{}", order["order_id"]));
    let laptop_price = app.get_json(&format!("/api/v1/products/{LAPTOP}")).await["price_cents"]
        .as_i64()
        .unwrap_or(0);
    let phone_price = app.get_json(&format!("/api/v1/products/{PHONE}")).await["price_cents"]
        .as_i64()
        .unwrap_or(0);
    assert_eq!(order["total_cents"], 2 * laptop_price + phone_price);
    assert_eq!(app.stock(LAPTOP).await, laptops - 2);
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;

    let details = app.get_json(&location).await;
    assert_eq!(details["user"]["name"], "Bob");
    assert_eq!(details["items"][0]["product"]["name"], "Laptop");

    let listed = app.get_json(&format!("/api/v1/orders?user_id={BOB}")).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    let cancel = format!("{location}/cancel");
    let cancelled = app
        .request(Method::POST, &cancel)
        .send()
        .await
        .expect("answer");
    assert_eq!(cancelled.status(), StatusCode::OK);
    assert_eq!(
        cancelled.json::<Value>().await.expect("JSON")["status"],
        "cancelled"
    );
    assert_eq!(app.stock(LAPTOP).await, laptops);
    let again = app
        .request(Method::POST, &cancel)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "cancelling twice is harmless"
    );
    assert_eq!(app.stock(LAPTOP).await, laptops, "stock is returned once");
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn an_idempotency_key_places_an_order_once() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    let phones = app.stock(PHONE).await;
    let first = app.place_order("pay-42", ALICE, &[(PHONE, 2)]).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.expect("JSON");
    assert_eq!(
        location,
        format!("/api/v1/orders/{}", first["order_id"]).as_str()
    );

    let retry = app.place_order("\"pay-42\"", ALICE, &[(PHONE, 2)]).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(
        retry.headers()["location"],
        location,
        "a replay says where, too"
    );
    assert_eq!(retry.json::<Value>().await.expect("JSON"), first);
    assert_eq!(app.stock(PHONE).await, phones - 2, "stock was taken once");

    let other_body = app.place_order("pay-42", ALICE, &[(PHONE, 3)]).await;
    let problem = assert_problem(other_body, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        problem["type"],
        "urn:msa-shop:problem:idempotency-key-reused"
    );

    let missing = app
        .send_json(
            Method::POST,
            "/api/v1/orders",
            &json!({"items": [{"product_id": PHONE, "quantity": 1}]}),
        )
        .await;
    assert_problem(missing, StatusCode::BAD_REQUEST).await;
    assert_eq!(app.stock(PHONE).await, phones - 2);
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn final_refusals_are_remembered_with_the_key() {
    let app = TestApp::spawn().await;
    let too_many = app.place_order("big", ALICE, &[(LAPTOP, 1000)]).await;
    let problem = assert_problem(too_many, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:out-of-stock");
    assert_eq!(problem["product_id"], LAPTOP);
    let replay = app.place_order("big", ALICE, &[(LAPTOP, 1000)]).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_problem(replay, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn orders_for_unknown_users_or_products_are_refused_and_hold_nothing() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    // A deleted account's session ends with it (see deprovision.rs); an order can still
    // name a user who is gone when the account was removed past the gateway, as this
    // token, signed as the gateway for a user who never existed, does.
    let nobody = app
        .direct_json(
            Service::Orders,
            Method::POST,
            "/orders",
            &Principal::User(424_242),
            Role::Customer,
            &json!({"items": [{"product_id": PHONE, "quantity": 1}]}),
        )
        .header("idempotency-key", "u-404")
        .send()
        .await
        .expect("order-service answers");
    let problem = assert_problem(nobody, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:unknown-user");
    let nothing = app
        .place_order("p-404", ALICE, &[(PHONE, 1), (999, 1)])
        .await;
    let problem = assert_problem(nothing, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:unknown-product");
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
    let failed = app
        .all_orders()
        .await
        .into_iter()
        .filter(|o| o["status"] == "failed")
        .count();
    assert_eq!(
        failed, 1,
        "the order with an unknown product was recorded as failed"
    );
}

#[tokio::test]
async fn concurrent_orders_for_the_last_unit_have_exactly_one_winner() {
    let app = TestApp::spawn().await;
    let restock = app
        .request(Method::PATCH, &format!("/api/v1/products/{LAPTOP}"))
        .json(&json!({"stock": 1}))
        .send()
        .await
        .expect("answer");
    assert_eq!(restock.status(), StatusCode::OK);
    let before = app.stock_ledger().await;

    let racers = (0..12).map(|i| {
        let app = &app;
        async move {
            app.place_order(
                &format!("race-{i}"),
                if i % 2 == 0 { ALICE } else { BOB },
                &[(LAPTOP, 1)],
            )
            .await
            .status()
        }
    });
    let statuses = futures::future::join_all(racers).await;
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, lost), (1, 11), "{statuses:?}");
    assert_eq!(app.stock(LAPTOP).await, 0);
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn cancelling_needs_a_confirmed_order() {
    let app = TestApp::spawn().await;
    assert_problem(
        app.request(Method::POST, "/api/v1/orders/424242/cancel")
            .send()
            .await
            .expect("answer"),
        StatusCode::NOT_FOUND,
    )
    .await;
    let failed = app.place_order("fail", ALICE, &[(LAPTOP, 1000)]).await;
    assert_eq!(failed.status(), StatusCode::CONFLICT);
    let failed_id = app
        .all_orders()
        .await
        .into_iter()
        .find(|o| o["status"] == "failed")
        .expect("a failed order")["order_id"]
        .clone();
    let refused = app
        .request(Method::POST, &format!("/api/v1/orders/{failed_id}/cancel"))
        .send()
        .await
        .expect("answer");
    let problem = assert_problem(refused, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:order-failed");
}
