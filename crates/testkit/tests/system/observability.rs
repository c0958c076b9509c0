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
    // The scrape itself came on a connection: the server counts it.
    assert!(metric(&orders, "msa_connections_open{service=\"orders\"}") >= 1.0);

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

#[tokio::test]
async fn one_order_is_one_trace_from_the_gateway_to_every_service() {
    let collector = testkit::collector::Collector::start().await;
    let app = TestApp::spawn_with(testkit::Options {
        serving: kit::serving::options::ServingOptions {
            otlp_endpoint: Some(collector.url()),
            ..testkit::Options::default().serving
        },
        ..testkit::Options::default()
    })
    .await;
    // A client's own traceparent: the gateway must not let it name the shop's trace.
    let forged = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let placed = app
        .as_user(ALICE)
        .await
        .request(reqwest::Method::POST, "/api/v1/orders")
        .header("idempotency-key", "trace-1")
        .header("traceparent", forged)
        .json(&serde_json::json!({"items": [{"product_id": LAPTOP, "quantity": 1}]}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(placed.status(), StatusCode::CREATED);

    let wanted = [
        ("gateway", "POST /api/v1/orders"),
        ("orders", "POST /orders"),
        ("users", "GET /users/{id}"),
        ("products", "POST /internal/reservations"),
    ];
    app.eventually(
        std::time::Duration::from_secs(10),
        "spans from every service",
        || async {
            wanted
                .iter()
                .all(|(service, name)| collector.find(service, name).is_some())
        },
    )
    .await;
    let span = |service: &str, name: &str| collector.find(service, name).expect("exported");
    let gateway = span("gateway", "POST /api/v1/orders");
    assert_ne!(gateway.trace_id, "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(gateway.parent_span_id, None, "the gateway starts the trace");
    let orders = span("orders", "POST /orders");
    assert_eq!(orders.trace_id, gateway.trace_id);
    assert_eq!(orders.parent_span_id.as_ref(), Some(&gateway.span_id));
    for (service, name) in &wanted[2..] {
        let call = span(service, name);
        assert_eq!(call.trace_id, gateway.trace_id, "{service}");
        assert_eq!(
            call.parent_span_id.as_ref(),
            Some(&orders.span_id),
            "{service}"
        );
    }
}

#[tokio::test]
async fn without_a_collector_nothing_is_exported_and_nothing_fails() {
    // A collector that is configured but gone: requests are served as ever.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        format!("http://{}", listener.local_addr().expect("an address"))
    };
    let app = TestApp::spawn_with(testkit::Options {
        serving: kit::serving::options::ServingOptions {
            otlp_endpoint: Some(gone),
            ..testkit::Options::default().serving
        },
        ..testkit::Options::default()
    })
    .await;
    let placed = app.place_order("no-collector", ALICE, &[(LAPTOP, 1)]).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
}
