//! What every service shares: health, readiness, OpenAPI documents, request ids.

use kit::identity::{Principal, Role};
use reqwest::StatusCode;
use testkit::{Service, TestApp, assert_problem};

#[tokio::test]
async fn every_service_serves_health_readiness_and_openapi_31() {
    let app = TestApp::spawn().await;
    for service in [
        Service::Users,
        Service::Products,
        Service::Orders,
        Service::Gateway,
    ] {
        let base = app.service_url(service);
        for path in ["/healthz", "/readyz"] {
            let response = app
                .http
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("answer");
            assert_eq!(response.status(), StatusCode::OK, "{service:?} {path}");
        }
        let document: serde_json::Value = if service == Service::Gateway {
            app.get_json("/openapi.json").await
        } else {
            // A service's own document is for those who may call it, like the rest of it.
            let unsigned = app
                .http
                .get(format!("{base}/openapi.json"))
                .send()
                .await
                .expect("answer");
            assert_problem(unsigned, StatusCode::UNAUTHORIZED).await;
            app.direct(
                service,
                reqwest::Method::GET,
                "/openapi.json",
                &Principal::Anonymous,
                Role::Anonymous,
            )
            .send()
            .await
            .expect("answer")
            .json()
            .await
            .expect("JSON")
        };
        assert_eq!(document["openapi"], "3.1.0", "{service:?}");
        assert!(
            document["info"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("msa-shop"))
        );
        assert!(
            document["info"]["contact"].is_null(),
            "no foreign contact in our document"
        );
        assert!(document["paths"].as_object().is_some_and(|p| !p.is_empty()));
    }
}

#[tokio::test]
async fn the_public_openapi_document_lists_public_routes_only() {
    let app = TestApp::spawn().await;
    let document = app.get_json("/openapi.json").await;
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    for expected in [
        "/hello",
        "/greet",
        "/echo",
        "/api/v1/users",
        "/api/v1/users/{id}",
        "/api/v1/products/{id}",
        "/api/v1/orders",
        "/api/v1/orders/{id}/cancel",
    ] {
        assert!(paths.contains_key(expected), "{expected} missing");
    }
    assert!(
        paths.keys().all(|path| !path.contains("internal")),
        "internal route published"
    );
    let schemas = document["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert!(schemas.contains_key("OrderDetails") && schemas.contains_key("Problem"));
    assert!(
        !schemas.keys().any(|name| name.starts_with("Reserv")),
        "internal types published"
    );
}

#[tokio::test]
async fn readiness_reports_a_missing_upstream() {
    let mut app = TestApp::spawn().await;
    app.stop(Service::Users).await;
    let problem = assert_problem(app.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["checks"]["products"], "ok");
    assert_ne!(problem["checks"]["users"], "ok");
}

#[tokio::test]
async fn the_gateway_is_ready_only_with_its_own_database() {
    let app = TestApp::spawn().await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["checks"]["database"], "ok", "{ready}");
}

#[tokio::test]
async fn request_ids_are_kept_when_valid_and_passed_to_every_service() {
    let app = TestApp::spawn().await;
    let response = app
        .request(reqwest::Method::POST, "/api/v1/orders")
        .header("x-request-id", "trace-me-123")
        .header("idempotency-key", "ids-1")
        .json(&serde_json::json!({"items": [{"product_id": 101, "quantity": 999}]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    // The out-of-stock problem is made by product-service, two hops away.
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["request_id"], "trace-me-123");

    let forged = app
        .http
        .get(format!("{}/hello", app.gateway))
        .header("x-request-id", "bad id\twith tab")
        .send()
        .await
        .expect("answer");
    let minted = forged.headers()["x-request-id"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(minted.len(), 32, "a fresh id replaces an invalid one");
}

#[tokio::test]
async fn the_docs_page_renders_the_dictionary_from_assets_in_the_binary() {
    let app = TestApp::spawn().await;
    let visitor = app.anonymous();
    let page = visitor.get("/docs").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = page.text().await.expect("HTML");
    assert!(html.contains("/docs/app.js") && html.contains("/openapi.json"));
    for asset in ["/docs", "/docs/app.js", "/docs/style.css"] {
        let text = visitor.get(asset).await.text().await.expect("text");
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{asset} loads nothing from elsewhere"
        );
    }
    let script = visitor.get("/docs/app.js").await;
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/javascript")
    );
    let document = app.get_json("/openapi.json").await;
    assert!(
        document["paths"].get("/docs").is_none(),
        "the page is not part of the API"
    );
}
