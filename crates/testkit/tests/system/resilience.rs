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
async fn with_user_service_down_a_retry_still_gets_its_stored_answer() {
    let mut app = TestApp::spawn().await;
    let placed = app.place_order("before-outage", ALICE, &[(PHONE, 1)]).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let placed = placed.text().await.expect("a body");
    let before = app.stock_ledger().await;
    app.stop(Service::Users).await;

    // order-service asks user-service before it claims a key; a retry of a placement that
    // finished must not depend on that answer.
    let retry = app.place_order("before-outage", ALICE, &[(PHONE, 1)]).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.text().await.expect("a body"), placed);

    let new = app.place_order("during-outage", ALICE, &[(PHONE, 1)]).await;
    assert_problem(new, StatusCode::SERVICE_UNAVAILABLE).await;
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;

    app.start(Service::Users).await;
    // The key of the request refused for the outage was never kept: retried as a client
    // would (503 until order-service's breaker lets calls to user-service through again),
    // the placement goes through under the same key.
    let deadline = Instant::now() + SETTLED;
    loop {
        let retry = app.place_order("during-outage", ALICE, &[(PHONE, 1)]).await;
        if retry.status() == StatusCode::CREATED {
            assert!(!retry.headers().contains_key("idempotent-replayed"));
            break;
        }
        assert_problem(retry, StatusCode::SERVICE_UNAVAILABLE).await;
        assert!(Instant::now() < deadline, "still refused after {SETTLED:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_slow_product_service_gives_504_and_its_reservation_is_released() {
    let app = TestApp::spawn().await;
    let before = app.stock_ledger().await;
    app.open_links().await;
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
    app.open_links().await;
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
    app.open_links().await;
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

#[tokio::test]
async fn a_dead_upstream_trips_the_breaker_and_calls_fail_fast_until_it_returns() {
    let mut app = TestApp::spawn_with(testkit::Options {
        calls: kit::calling::options::CallOptions {
            breaker_failures: 3,
            breaker_cooldown_ms: 300,
            ..testkit::Options::default().calls
        },
        ..testkit::Options::default()
    })
    .await;
    let before = app.stock_ledger().await;
    app.stop(Service::Products).await;
    // Each placement tries to reserve (retried) and to release; the breaker opens soon.
    for n in 0..3 {
        let response = app
            .place_order(&format!("breaker-{n}"), ALICE, &[(PHONE, 1)])
            .await;
        let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(problem["type"], "urn:msa-shop:problem:upstream-unavailable");
    }
    let metrics = app.metrics(Service::Orders).await;
    let upstream = "service=\"orders\",upstream=\"products\"";
    assert_eq!(
        testkit::metric(
            &metrics,
            &format!("msa_circuit_breaker_state{{{upstream}}}")
        ),
        2.0,
        "{metrics}"
    );
    assert!(
        testkit::metric(
            &metrics,
            &format!("msa_upstream_retries_total{{{upstream}}}")
        ) >= 1.0
    );
    assert!(
        testkit::metric(
            &metrics,
            &format!("msa_upstream_calls_total{{{upstream},outcome=\"short_circuited\"}}")
        ) >= 1.0
    );
    // While open, an answer comes at once and says when to come back.
    let started = Instant::now();
    let response = app.place_order("breaker-fast", ALICE, &[(PHONE, 1)]).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        started.elapsed() < testkit::CALL_TIMEOUT,
        "took {:?}",
        started.elapsed()
    );

    app.start(Service::Products).await;
    // After the cooldown a probe finds product-service back and closes the breaker.
    app.eventually(SETTLED, "orders to be placed again", || async {
        app.place_order("breaker-back", ALICE, &[(PHONE, 1)])
            .await
            .status()
            == StatusCode::CREATED
    })
    .await;
    let metrics = app.metrics(Service::Orders).await;
    assert_eq!(
        testkit::metric(
            &metrics,
            &format!("msa_circuit_breaker_state{{{upstream}}}")
        ),
        0.0
    );
    app.until_no_order_is_pending(SETTLED).await;
    app.assert_stock_invariant(&before, &BTreeMap::new()).await;
}

#[tokio::test]
async fn beyond_its_limit_a_service_sheds_requests_but_still_answers_probes() {
    let app = TestApp::spawn_with(testkit::Options {
        serving: kit::serving::options::ServingOptions {
            max_in_flight: 1,
            ..testkit::Options::default().serving
        },
        ..testkit::Options::default()
    })
    .await;
    // One placement held at order-service (product-service's answers do not come back)
    // fills order-service's only slot.
    app.products_link().set(Fault::HoldAnswers);
    let held = tokio::spawn({
        let alice = app.as_user(ALICE).await.clone();
        async move { alice.place_order("shed-1", &[(PHONE, 1)]).await.status() }
    });
    // Orders lists are shed too now; the metrics, which never are, show the slot taken
    // (the placement, and the scrape that reads the gauge).
    app.eventually(SETTLED, "the placement to reach order-service", || async {
        let metrics = app.metrics(Service::Orders).await;
        testkit::metric(&metrics, "msa_http_requests_in_flight{service=\"orders\"}") == 2.0
    })
    .await;
    let shed = app
        .direct(
            Service::Orders,
            reqwest::Method::GET,
            &format!("/orders/{DEMO_ORDER}"),
            &kit::identity::Principal::User(testkit::ADMIN),
            kit::identity::Role::Admin,
        )
        .send()
        .await
        .expect("an answer");
    assert_eq!(shed.headers()["retry-after"], "1");
    let problem = assert_problem(shed, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:overloaded");
    let orders = app.service_url(Service::Orders);
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let response = app
            .http
            .get(format!("{orders}{probe}"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "{probe}");
    }
    let metrics = app.metrics(Service::Orders).await;
    assert_eq!(
        testkit::metric(&metrics, "msa_http_requests_shed_total{service=\"orders\"}"),
        1.0
    );
    assert_eq!(
        testkit::metric(&metrics, "msa_http_requests_in_flight{service=\"orders\"}"),
        2.0
    );
    app.products_link().set(Fault::None);
    let status = held.await.expect("the placement ends");
    assert!(
        [StatusCode::CREATED, StatusCode::GATEWAY_TIMEOUT].contains(&status),
        "{status}"
    );
}

#[tokio::test]
async fn a_stopping_service_reports_not_ready_while_it_still_serves() {
    let delay = Duration::from_secs(2);
    let mut app = TestApp::spawn_with(testkit::Options {
        serving: kit::serving::options::ServingOptions {
            shutdown_delay_ms: delay.as_millis() as u64,
            ..testkit::Options::default().serving
        },
        ..testkit::Options::default()
    })
    .await;
    let products = app.service_url(Service::Products);
    let readyz = format!("{products}/readyz");
    let stopped_at = Instant::now();
    let stopping = app.begin_stop(Service::Products);
    app.eventually(delay, "readiness to fail", || async {
        app.http.get(&readyz).send().await.map(|r| r.status()).ok()
            == Some(StatusCode::SERVICE_UNAVAILABLE)
    })
    .await;
    // Load balancers now take it out; requests that still arrive are served meanwhile.
    let served = app
        .direct(
            Service::Products,
            reqwest::Method::GET,
            "/products/101",
            &kit::identity::Principal::Anonymous,
            kit::identity::Role::Anonymous,
        )
        .send()
        .await
        .expect("still served while draining");
    assert_eq!(served.status(), StatusCode::OK);
    assert!(
        stopped_at.elapsed() < delay,
        "the check came too late to mean anything"
    );
    // The gateway, which needs product-service, stops reporting ready too.
    let gateway = app
        .http
        .get(format!("{}/readyz", app.gateway))
        .send()
        .await
        .expect("an answer");
    assert_eq!(gateway.status(), StatusCode::SERVICE_UNAVAILABLE);
    stopping
        .await
        .expect("server task completes")
        .expect("server stops cleanly");
    assert!(stopped_at.elapsed() >= delay);
    assert!(
        app.http.get(&readyz).send().await.is_err(),
        "the port is closed"
    );
}

#[tokio::test]
async fn a_gateway_started_before_its_upstreams_becomes_ready_by_itself() {
    let mut app = TestApp::spawn().await;
    app.stop(Service::Users).await;
    app.stop(Service::Products).await;
    app.restart(Service::Gateway).await;
    let readyz = format!("{}/readyz", app.gateway);
    let waiting = app.http.get(&readyz).send().await.expect("an answer");
    let problem = assert_problem(waiting, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_ne!(problem["checks"]["users"], "ok");
    assert_ne!(problem["checks"]["products"], "ok");
    app.start(Service::Users).await;
    app.start(Service::Products).await;
    app.eventually(SETTLED, "the gateway to be ready", || async {
        app.http.get(&readyz).send().await.map(|r| r.status()).ok() == Some(StatusCode::OK)
    })
    .await;
    let catalogue = app.get("/api/v1/products").await;
    assert_eq!(catalogue.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_outage_two_hops_away_does_not_switch_off_the_service_in_between() {
    let mut app = TestApp::spawn().await;
    app.stop(Service::Products).await;
    // Reading an order needs product-service: 503 naming it, as often as it is asked, and
    // more often than the gateway's breaker for order-service tolerates failures.
    for _ in 0..8 {
        let response = app.get(&format!("/api/v1/orders/{DEMO_ORDER}")).await;
        assert!(
            response.headers().get("x-msa-failed-upstream").is_none(),
            "which upstream failed stays inside"
        );
        let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(problem["type"], "urn:msa-shop:problem:upstream-unavailable");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|detail| detail.contains("products")),
            "{problem}"
        );
    }
    // Listing orders needs order-service alone, which is well: it still answers.
    let list = app.get("/api/v1/orders").await;
    assert_eq!(list.status(), StatusCode::OK);
    let metrics = app.metrics(Service::Gateway).await;
    let orders = "service=\"gateway\",upstream=\"orders\"";
    assert_eq!(
        testkit::metric(&metrics, &format!("msa_circuit_breaker_state{{{orders}}}")),
        0.0,
        "the gateway's breaker for order-service stays closed:\n{metrics}"
    );
    assert_eq!(
        testkit::metric(&metrics, &format!("msa_upstream_retries_total{{{orders}}}")),
        0.0,
        "order-service's answer about products is not repeated:\n{metrics}"
    );
}

/// The routes a customer uses, with the services each needs besides the gateway.
const ROUTES: [(&str, &[Service]); 6] = [
    ("/hello", &[]),
    ("/api/v1/auth/session", &[]),
    ("/api/v1/products/101", &[Service::Products]),
    ("/api/v1/users/1", &[Service::Users]),
    ("/api/v1/orders", &[Service::Orders]),
    (
        "/api/v1/orders/9001",
        &[Service::Orders, Service::Users, Service::Products],
    ),
];

/// Asks every route that needs `down` often enough to trip any breaker that counted the
/// failure against the wrong service, then checks that every other route still answers.
async fn the_rest_keeps_answering(app: &TestApp, down: Service) {
    let alice = app.as_user(ALICE).await;
    for _ in 0..8 {
        for (path, needs) in ROUTES {
            if needs.contains(&down) {
                let status = alice.get(path).await.status();
                assert!(
                    status.is_server_error(),
                    "{path} answered {status} without {down:?}"
                );
            }
        }
    }
    for (path, needs) in ROUTES {
        if !needs.contains(&down) {
            let response = alice.get(path).await;
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "{path} needs no {down:?}, yet answered {}",
                response.status()
            );
        }
    }
}

#[tokio::test]
async fn with_any_service_dead_every_route_that_does_not_need_it_keeps_answering() {
    let mut app = TestApp::spawn().await;
    // Logged in before users goes: a session lives at the gateway.
    app.as_user(ALICE).await;
    for down in [Service::Products, Service::Users, Service::Orders] {
        app.stop(down).await;
        the_rest_keeps_answering(&app, down).await;
        app.start(down).await;
        // Its breaker at the gateway was right to open; wait out the cooldown before the
        // next service goes, so that each round starts from a healthy shop.
        let alice = app.as_user(ALICE).await;
        app.eventually(
            Duration::from_secs(10),
            "every route to answer again",
            || async {
                for (path, _) in ROUTES {
                    if !alice.get(path).await.status().is_success() {
                        return false;
                    }
                }
                true
            },
        )
        .await;
    }
}

#[tokio::test]
async fn with_product_service_frozen_every_route_that_does_not_need_it_keeps_answering() {
    let app = TestApp::spawn().await;
    app.as_user(ALICE).await;
    // order-service's calls to product-service go unanswered: its order reads time out
    // (504), which must not count against order-service at the gateway.
    app.products_link().set(Fault::Blackhole);
    let alice = app.as_user(ALICE).await;
    for _ in 0..6 {
        let status = alice.get("/api/v1/orders/9001").await.status();
        assert!(status.is_server_error(), "a frozen read answered {status}");
    }
    for path in ["/api/v1/orders", "/api/v1/products/101", "/api/v1/users/1"] {
        assert_eq!(alice.get(path).await.status(), StatusCode::OK, "{path}");
    }
    app.products_link().set(Fault::None);
}
