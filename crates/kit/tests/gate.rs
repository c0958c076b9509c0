//! The gate of every service, fed requests as a service receives them: a token opens the
//! one request it was made for, a write's token opens it once, and a refused request spends
//! nothing.

use axum::body::Body;
use axum::extract::Request;
use http::Method;
use kit::identity::binding::Bound;
use kit::identity::token::PartyKey;
use kit::identity::{CallSigner, Caller, Gate, PublicKeys, TOKEN_HEADER};

fn parties() -> (CallSigner, Gate) {
    let gateway = PartyKey::from_bytes([1; 32]);
    let orders = PartyKey::from_bytes([2; 32]);
    let keys = PublicKeys::default()
        .with("gateway", gateway.public_key())
        .with("orders", orders.public_key());
    (
        keys.signer(&gateway, "gateway", &["orders"])
            .expect("a signer"),
        keys.gate(std::slice::from_ref(&orders), "orders", &["gateway"])
            .expect("a gate"),
    )
}

fn token(signer: &CallSigner, method: &Method, target: &str, body: &[u8]) -> String {
    let actor = kit::identity::Actor::anonymous();
    signer
        .token(
            "orders",
            &actor,
            &Bound {
                method,
                target,
                body,
            },
        )
        .expect("a token for orders")
}

fn request(method: &Method, target: &str, token: &str, body: &[u8]) -> Request {
    http::Request::builder()
        .method(method)
        .uri(target)
        .header(TOKEN_HEADER, token)
        .body(Body::from(body.to_vec()))
        .expect("a request")
}

async fn admitted(gate: &Gate, request: Request) -> Result<Vec<u8>, String> {
    use http_body_util::BodyExt as _;
    match gate.admit(request).await {
        Ok(request) => {
            assert!(request.extensions().get::<Caller>().is_some());
            let body = request.into_body().collect().await.expect("a body");
            Ok(body.to_bytes().to_vec())
        }
        Err(refusal) => Err(refusal.reason().to_owned()),
    }
}

#[tokio::test]
async fn a_read_token_opens_its_read_as_often_as_it_lives_and_nothing_else() {
    let (signer, gate) = parties();
    let read = token(&signer, &Method::GET, "/orders/7", b"");
    for _ in 0..2 {
        let request = request(&Method::GET, "/orders/7", &read, b"");
        assert_eq!(admitted(&gate, request).await, Ok(Vec::new()));
    }
    for (method, target) in [
        (Method::POST, "/orders/7/cancel"),
        (Method::DELETE, "/orders/7"),
        (Method::GET, "/orders/8"),
    ] {
        let request = request(&method, target, &read, b"");
        assert_eq!(
            admitted(&gate, request).await,
            Err("token was made for another method or path".to_owned()),
            "{method} {target}"
        );
    }
}

#[tokio::test]
async fn a_write_token_opens_its_write_once_with_its_body_and_keeps_the_body() {
    let (signer, gate) = parties();
    let body = br#"{"items":[{"product_id":102,"quantity":1}]}"#;
    let write = token(&signer, &Method::POST, "/orders", body);
    // Another body first, as a machine in the middle would try: refused, and not spent.
    let forged = request(&Method::POST, "/orders", &write, br#"{"items":[]}"#);
    assert_eq!(
        admitted(&gate, forged).await,
        Err("token was made for another body".to_owned())
    );
    let genuine = request(&Method::POST, "/orders", &write, body);
    assert_eq!(admitted(&gate, genuine).await, Ok(body.to_vec()));
    let replayed = request(&Method::POST, "/orders", &write, body);
    assert_eq!(
        admitted(&gate, replayed).await,
        Err("token was used before".to_owned())
    );
    // A fresh token for the same write passes: the memory is of tokens, not of requests.
    let again = token(&signer, &Method::POST, "/orders", body);
    let retried = request(&Method::POST, "/orders", &again, body);
    assert_eq!(admitted(&gate, retried).await, Ok(body.to_vec()));
}
