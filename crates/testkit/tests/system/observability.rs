//! What the services tell an operator: Prometheus metrics on every service, counting what
//! really happened in a test.

use reqwest::StatusCode;
use testkit::{ALICE, LAPTOP, Service, TestApp, metric};

#[tokio::test]
async fn every_service_counts_its_requests_calls_and_business() {
    let app = TestApp::spawn().await;
    let placed = app.place_order("metrics-1", ALICE, &[(LAPTOP, 1)]).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let refused = app
        .place_order("metrics-2", ALICE, &[(LAPTOP, 1_000)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);

    let orders = app.metrics(Service::Orders).await;
    assert_eq!(
        metric(
            &orders,
            "msa_orders_total{service=\"orders\",result=\"confirmed\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &orders,
            "msa_orders_total{service=\"orders\",result=\"refused\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &orders,
            "msa_http_requests_total{service=\"orders\",method=\"POST\",route=\"/orders\",status=\"201\"}"
        ),
        1.0
    );
    // Route templates, never raw paths with ids.
    assert!(orders.contains("msa_http_request_duration_seconds_bucket{service=\"orders\",le=\"30.0\",method=\"POST\",route=\"/orders\",status=\"409\"} 1"), "{orders}");
    assert!(!orders.contains("route=\"/orders/9001\""));
    // Two placements: each checked its user and asked for a reservation.
    assert_eq!(
        metric(
            &orders,
            "msa_upstream_calls_total{service=\"orders\",upstream=\"users\",outcome=\"answered\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &orders,
            "msa_upstream_calls_total{service=\"orders\",upstream=\"products\",outcome=\"answered\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &orders,
            "msa_circuit_breaker_state{service=\"orders\",upstream=\"products\"}"
        ),
        0.0
    );
    assert!(metric(&orders, "msa_db_pool_connections_open{service=\"orders\"}") >= 1.0);
    assert!(metric(&orders, "msa_db_pool_connections_max{service=\"orders\"}") >= 1.0);

    let products = app.metrics(Service::Products).await;
    assert_eq!(
        metric(
            &products,
            "msa_stock_reservations_total{service=\"products\",outcome=\"held\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &products,
            "msa_stock_reservations_total{service=\"products\",outcome=\"out_of_stock\"}"
        ),
        1.0
    );

    let users = app.metrics(Service::Users).await;
    assert!(
        metric(
            &users,
            "msa_http_requests_total{service=\"users\",method=\"GET\",route=\"/users/{id}\",status=\"200\"}"
        ) >= 2.0,
        "{users}"
    );

    let gateway = app.metrics(Service::Gateway).await;
    // The administrator's login at start, and Alice's.
    assert_eq!(
        metric(
            &gateway,
            "msa_logins_total{service=\"gateway\",outcome=\"succeeded\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(
            &gateway,
            "msa_http_requests_total{service=\"gateway\",method=\"POST\",route=\"/api/v1/orders\",status=\"201\"}"
        ),
        1.0
    );
    // Unknown methods and paths share one label value each: no series per invented name.
    let odd = app
        .http
        .request(
            reqwest::Method::from_bytes(b"BREW").expect("a method"),
            format!("{}/no/such/path/123", app.gateway),
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(odd.status(), StatusCode::NOT_FOUND);
    let gateway = app.metrics(Service::Gateway).await;
    assert!(gateway.contains("method=\"other\",route=\"unmatched\",status=\"404\""));
    assert!(!gateway.contains("BREW") && !gateway.contains("/no/such/path"));
}

#[tokio::test]
async fn a_scraper_key_reads_the_gateway_metrics_and_nothing_else() {
    let app = TestApp::spawn().await;
    let created = app
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/api-keys",
            &serde_json::json!({"name": "prometheus", "scopes": ["metrics:read"]}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let key = created.json::<serde_json::Value>().await.expect("JSON")["key"]
        .as_str()
        .expect("the key")
        .to_owned();
    let scraper = testkit::Client::with_api_key(&app.gateway, &key);
    let scrape = scraper.get("/metrics").await;
    assert_eq!(scrape.status(), StatusCode::OK);
    assert!(
        scrape
            .text()
            .await
            .unwrap_or_default()
            .contains("msa_http_requests_total")
    );
    let products = scraper.get("/api/v1/products").await;
    testkit::assert_problem(products, StatusCode::FORBIDDEN).await;
    // A customer cannot make such a key.
    let alice = app.as_user(ALICE).await;
    let refused = alice
        .send_json(
            reqwest::Method::POST,
            "/api/v1/auth/api-keys",
            &serde_json::json!({"name": "peek", "scopes": ["metrics:read"]}),
        )
        .await;
    testkit::assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
}
