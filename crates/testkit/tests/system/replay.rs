//! A token heard on the private network opens nothing but the request it was made for, and
//! a state-changing one opens that request once. The tokens here are real: the ones the
//! gateway and order-service sent over the links a sniffer would tap. Mutual TLS keeps them
//! off the wire (`mtls.rs`), so these tests turn it off: they show what the tokens defend
//! on their own, for the attacker who reads the traffic anyway.

use kit::identity::TOKEN_HEADER;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use testkit::{ALICE, Options, PHONE, Service, TestApp};

/// The shop with the links between services in plain HTTP, so a sniffer hears tokens.
async fn readable() -> TestApp {
    TestApp::spawn_with(Options {
        internal_tls: false,
        ..Options::default()
    })
    .await
}

/// One request as it crossed a link.
#[derive(Debug, Clone)]
struct Heard {
    method: String,
    target: String,
    token: String,
    body: Vec<u8>,
}

/// The HTTP/1.1 requests in `bytes`, the client-to-server half of a link.
fn requests_in(mut bytes: &[u8]) -> Vec<Heard> {
    let mut heard = Vec::new();
    while let Some(end) = bytes.windows(4).position(|window| window == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let mut token = String::new();
        let mut length = 0;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case(TOKEN_HEADER) {
                value.trim().clone_into(&mut token);
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("a length");
            }
        }
        let body_end = (end + 4 + length).min(bytes.len());
        let body = bytes[end + 4..body_end].to_vec();
        heard.push(Heard {
            method,
            target,
            token,
            body,
        });
        bytes = &bytes[body_end..];
    }
    heard
}

/// The last request heard on `link` with `method` and `target`.
fn heard_on(link: &testkit::ChaosProxy, method: &str, target: &str) -> Heard {
    requests_in(&link.heard())
        .into_iter()
        .rev()
        .find(|heard| heard.method == method && heard.target == target)
        .unwrap_or_else(|| panic!("no {method} {target} was heard on the link"))
}

/// `token` presented directly to `service`, for `method target` with `body`.
async fn replay(
    app: &TestApp,
    service: Service,
    method: Method,
    target: &str,
    token: &str,
    body: &[u8],
) -> reqwest::Response {
    app.http
        .request(method, format!("{}{target}", app.service_url(service)))
        .header(TOKEN_HEADER, token)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("the service answers")
}

async fn refused(response: reqwest::Response, what: &str) {
    let status = response.status();
    let problem: Value = response.json().await.expect("a problem");
    assert_eq!(
        (status, problem["type"].as_str()),
        (
            StatusCode::UNAUTHORIZED,
            Some("urn:msa-shop:problem:unauthenticated")
        ),
        "{what}"
    );
}

async fn placed(app: &TestApp, key: &str) -> i64 {
    let response = app.place_order(key, ALICE, &[(PHONE, 1)]).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.expect("an order");
    order["order_id"].as_i64().expect("an id")
}

#[tokio::test]
async fn a_sniffed_read_token_opens_no_other_route_or_method() {
    let app = readable().await;
    let mine = placed(&app, "replay-read-1").await;
    let other = placed(&app, "replay-read-2").await;
    let alice = app.as_user(ALICE).await;
    alice.order(mine).await;
    let read = heard_on(app.orders_link(), "GET", &format!("/orders/{mine}"));

    // The control: the captured token is genuine, and a read may be repeated while it lives.
    let again = replay(
        &app,
        Service::Orders,
        Method::GET,
        &read.target,
        &read.token,
        b"",
    )
    .await;
    assert_eq!(again.status(), StatusCode::OK, "the same read");

    for (method, target, what) in [
        (Method::POST, format!("/orders/{mine}/cancel"), "cancel"),
        (Method::DELETE, format!("/orders/{mine}"), "another method"),
        (Method::GET, format!("/orders/{other}"), "another order"),
        (Method::GET, "/orders".to_owned(), "the list"),
        (Method::GET, format!("/orders/{mine}?x=1"), "another query"),
    ] {
        let response = replay(&app, Service::Orders, method, &target, &read.token, b"").await;
        refused(response, what).await;
    }
    assert_eq!(alice.order(mine).await["status"], "confirmed");

    // order-service's token for a catalogue read opens no reservation.
    let product = heard_on(app.products_link(), "GET", &format!("/products/{PHONE}"));
    let response = replay(
        &app,
        Service::Products,
        Method::GET,
        &format!("/internal/reservations/{mine}"),
        &product.token,
        b"",
    )
    .await;
    refused(response, "a reservation with a catalogue token").await;
}

#[tokio::test]
async fn a_sniffed_write_token_is_good_once_and_for_its_own_body() {
    let app = readable().await;
    let first = placed(&app, "replay-write-1").await;
    let second = placed(&app, "replay-write-2").await;

    // order-service's reservation for the second order, replayed word for word.
    let reserve = heard_on(app.products_link(), "POST", "/internal/reservations");
    let response = replay(
        &app,
        Service::Products,
        Method::POST,
        &reserve.target,
        &reserve.token,
        &reserve.body,
    )
    .await;
    refused(response, "a reservation replayed").await;
    // The same token with another order's body.
    let body = String::from_utf8(reserve.body.clone())
        .expect("JSON")
        .replace(&second.to_string(), "424242");
    assert_ne!(body.as_bytes(), reserve.body, "the body names the order");
    let response = replay(
        &app,
        Service::Products,
        Method::POST,
        &reserve.target,
        &reserve.token,
        body.as_bytes(),
    )
    .await;
    refused(response, "a reservation with another body").await;

    // Alice cancels her first order through the gateway; its token cancels nothing else.
    let alice = app.as_user(ALICE).await;
    let cancelled = alice
        .send(Method::POST, &format!("/api/v1/orders/{first}/cancel"))
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let cancel = heard_on(
        app.orders_link(),
        "POST",
        &format!("/orders/{first}/cancel"),
    );
    let response = replay(
        &app,
        Service::Orders,
        Method::POST,
        &cancel.target,
        &cancel.token,
        &cancel.body,
    )
    .await;
    refused(response, "a cancel replayed").await;
    let response = replay(
        &app,
        Service::Orders,
        Method::POST,
        &format!("/orders/{second}/cancel"),
        &cancel.token,
        &cancel.body,
    )
    .await;
    refused(response, "a cancel for another order").await;
    assert_eq!(alice.order(second).await["status"], "confirmed");
    assert_eq!(alice.order(first).await["status"], "cancelled");
}
