//! The classic demo API on the gateway.

use reqwest::{Method, StatusCode};
use serde_json::json;
use testkit::{TestApp, assert_problem};

#[tokio::test]
async fn hello_answers_the_classic_message() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get_json("/hello").await,
        json!({"message": "Hello, API!"})
    );
    assert_eq!(
        app.get_json("/hello/Mina").await,
        json!({"message": "Hello, Mina!"})
    );
    let long = "x".repeat(65);
    assert_problem(
        app.get(&format!("/hello/{long}")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn greet_speaks_korean_spanish_and_english() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get_json("/greet?lang=ko").await["message"],
        "안녕하세요!"
    );
    assert_eq!(app.get_json("/greet?lang=es").await["message"], "¡Hola!");
    assert_eq!(app.get_json("/greet?lang=en").await["message"], "Hello!");
    assert_eq!(app.get_json("/greet").await["lang"], "en");
    let problem = assert_problem(app.get("/greet?lang=fr").await, StatusCode::BAD_REQUEST).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("ko, es, en")
    );
}

#[tokio::test]
async fn echo_returns_json_and_refuses_anything_else() {
    let app = TestApp::spawn().await;
    let body = json!({"a": [1, 2, {"b": null}], "emoji": "🙂"});
    let response = app.send_json(Method::POST, "/echo", &body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<serde_json::Value>().await.ok(),
        Some(json!({"you_sent": body}))
    );

    let invalid = app
        .request(Method::POST, "/echo")
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .ok();
    assert_problem(invalid.expect("answer"), StatusCode::BAD_REQUEST).await;
    let missing = app
        .request(Method::POST, "/echo")
        .header("content-type", "application/json")
        .send()
        .await
        .ok();
    assert_problem(missing.expect("answer"), StatusCode::BAD_REQUEST).await;
    let text = app
        .request(Method::POST, "/echo")
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .ok();
    assert_problem(text.expect("answer"), StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}
