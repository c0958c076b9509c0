//! user-service through the gateway.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testkit::{Service, TestApp, assert_problem};

#[tokio::test]
async fn demo_users_are_seeded_with_generated_passwords_in_a_private_file() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get_json("/api/v1/users/1").await["name"], "Alice");
    assert_eq!(
        app.get_json("/api/v1/users/2").await["email"],
        "bob@example.com"
    );
    assert_eq!(app.get_json("/api/v1/users/3").await["role"], "admin");

    let path = app.data_dir.path().join("demo-credentials.json");
    let credentials: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("file exists")).expect("JSON");
    for email in ["alice@example.com", "bob@example.com", "admin@example.com"] {
        assert!(
            credentials[email].as_str().is_some_and(|p| p.len() >= 16),
            "{email}"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let files = if app.on_sqlite() {
        ["users.db", "products.db", "orders.db"].as_slice()
    } else {
        [].as_slice()
    };
    for db in files {
        let mode = std::fs::metadata(app.data_dir.path().join(db))
            .expect(db)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{db}");
    }
}

#[tokio::test]
async fn users_are_created_read_listed_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let response = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "Carol@Example.com", "name": " Carol ", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    let created: Value = response.json().await.expect("JSON");
    assert_eq!(location, format!("/api/v1/users/{}", created["id"]));
    assert_eq!(created["email"], "carol@example.com");
    assert_eq!(created["name"], "Carol");
    assert_eq!(created["role"], "customer");
    let text = created.to_string();
    assert!(
        !text.contains("password") && !text.contains("argon2"),
        "{text}"
    );

    // A password changes only through /api/v1/auth/password, which asks for the current one.
    let with_password = app
        .send_json(
            Method::PATCH,
            &location,
            &json!({"name": "Caroline", "password": "another long one"}),
        )
        .await;
    assert_problem(with_password, StatusCode::UNPROCESSABLE_ENTITY).await;
    let changed = app
        .send_json(Method::PATCH, &location, &json!({"name": "Caroline"}))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed: Value = changed.json().await.expect("JSON");
    assert_eq!(changed["name"], "Caroline");
    assert_eq!(changed["email"], "carol@example.com");
    assert!(!changed.to_string().contains("argon2"));

    let deleted = app
        .request(Method::DELETE, &location)
        .send()
        .await
        .expect("answer");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(&location).await, StatusCode::NOT_FOUND).await;
    let again = app
        .request(Method::DELETE, &location)
        .send()
        .await
        .expect("answer");
    assert_problem(again, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn emails_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    app.create_user("dave@example.com", "Dave").await;
    let duplicate = app
        .send_json(
            Method::POST,
            "/api/v1/users",
            &json!({"email": "DAVE@example.com", "name": "Other", "password": "a long passphrase"}),
        )
        .await;
    let problem = assert_problem(duplicate, StatusCode::CONFLICT).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:email-taken");
    let taken = app
        .send_json(
            Method::PATCH,
            "/api/v1/users/1",
            &json!({"email": "dave@example.com"}),
        )
        .await;
    assert_problem(taken, StatusCode::CONFLICT).await;
    assert_eq!(
        app.get_json("/api/v1/users/1").await["email"],
        "alice@example.com"
    );
}

#[tokio::test]
async fn the_user_list_pages_with_a_cursor() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        app.create_user(&format!("user{i}@example.com"), &format!("User {i}"))
            .await;
    }
    let first = app.get_json("/api/v1/users?limit=4").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(4));
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = app
        .get_json(&format!("/api/v1/users?limit=4&cursor={cursor}"))
        .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(2));
    assert!(second["next_cursor"].is_null());
    assert_eq!(second["items"][1]["email"], "user2@example.com");
    for bad in [
        "limit=0",
        "limit=101",
        "cursor=abc",
        "limit=x",
        "colour=red",
    ] {
        assert_problem(
            app.get(&format!("/api/v1/users?{bad}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
}

#[tokio::test]
async fn bad_registrations_are_refused_and_create_nothing() {
    let app = TestApp::spawn().await;
    let visitor = app.anonymous();
    let cases = [
        json!({"email": "not-an-email", "name": "X", "password": "long enough"}),
        json!({"email": "x@example.com", "name": "X", "password": "short"}),
        json!({"email": "x@example.com", "name": "X", "password": "password1"}),
        json!({"email": "x@example.com", "name": "", "password": "long enough"}),
        json!({"email": "x@example.com", "name": "X"}),
        json!({"email": "x@example.com", "name": "X", "password": "long enough", "role": "admin"}),
        json!({"email": 5, "name": "X", "password": "long enough"}),
    ];
    for body in cases {
        let response = visitor
            .send_json(Method::POST, "/api/v1/auth/register", &body)
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    let listed = app.get_json("/api/v1/users?limit=100").await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(3),
        "only the demo users exist"
    );
}

#[tokio::test]
async fn users_survive_a_restart_of_their_service() {
    let mut app = TestApp::spawn().await;
    let erin = app.create_user("erin@example.com", "Erin").await;
    app.restart(Service::Users).await;
    assert_eq!(
        app.get_json(&format!("/api/v1/users/{}", erin["id"])).await,
        erin
    );
}
