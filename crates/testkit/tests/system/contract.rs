//! The public contract, pinned: the API dictionary and the shapes of the answers clients
//! parse. Any change shows as a snapshot diff in review (`cargo insta review`, or set
//! `INSTA_UPDATE=always` and read `git diff`). Values that differ per run are redacted.

use reqwest::StatusCode;
use serde_json::Value;
use testkit::{ALICE, DEMO_ORDER, LAPTOP, TestApp};

/// Replaces every member named in `keys`, at any depth, by a fixed marker.
fn redact(value: &mut Value, keys: &[&str]) {
    match value {
        Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                if keys.contains(&key.as_str()) {
                    *member = Value::from("[redacted]");
                } else {
                    redact(member, keys);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| redact(item, keys)),
        _ => {}
    }
}

#[tokio::test]
async fn public_api_document() {
    let app = TestApp::spawn().await;
    let document = app.get_json("/openapi.json").await;
    insta::assert_json_snapshot!(document);
}

#[tokio::test]
async fn order_details_shape() {
    let app = TestApp::spawn().await;
    let mut order = app.order(DEMO_ORDER).await;
    redact(&mut order, &["created_at", "updated_at"]);
    insta::assert_json_snapshot!(order);
}

#[tokio::test]
async fn placed_order_and_out_of_stock_shapes() {
    let app = TestApp::spawn().await;
    let placed = app.place_order("contract-1", ALICE, &[(LAPTOP, 1)]).await;
    let status = placed.status();
    let mut placed: Value = placed.json().await.expect("JSON");
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    redact(&mut placed, &["created_at", "updated_at"]);
    insta::assert_json_snapshot!("placed_order", placed);

    let refused = app
        .place_order("contract-2", ALICE, &[(LAPTOP, 1000)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let mut problem: Value = refused.json().await.expect("JSON");
    redact(&mut problem, &["request_id"]);
    insta::assert_json_snapshot!("out_of_stock_problem", problem);
}
