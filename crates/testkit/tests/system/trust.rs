//! No zone is trusted: a service answers only requests that carry a valid identity token
//! from an issuer it trusts, whoever can reach its port.

use kit::identity::token::{Claims, TokenSigner};
use kit::identity::{Actor, GATEWAY, ORDERS, Principal, Role, TOKEN_HEADER};
use reqwest::{Method, StatusCode};
use testkit::{ALICE, BOB, Service, TestApp, assert_problem};

/// A route of each service, and what a valid admin token gets there.
const ROUTES: [(Service, &str); 3] = [
    (Service::Users, "/users/1"),
    (Service::Products, "/products/101"),
    (Service::Orders, "/orders/9001"),
];

fn claims(audience: &str, issued: i64, expires: i64) -> Claims {
    Claims {
        iss: String::new(),
        aud: audience.to_owned(),
        sub: Principal::User(3).subject(),
        role: Role::Admin.as_str().to_owned(),
        scopes: Vec::new(),
        rid: "forged".to_owned(),
        iat: issued,
        exp: expires,
    }
}

/// The gateway's own signing key, as an attacker who stole nothing does not have it.
fn gateway_key(app: &TestApp) -> TokenSigner {
    let path = kit::identity::options::default_key_file(app.data_dir.path(), GATEWAY);
    let key = kit::identity::token::load_or_generate_key(&path)
        .expect("the gateway key of the test system");
    TokenSigner::new(GATEWAY, key)
}

async fn get_with(
    app: &TestApp,
    service: Service,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = app.http.get(format!("{}{path}", app.service_url(service)));
    if let Some(token) = token {
        request = request.header(TOKEN_HEADER, token);
    }
    request.send().await.expect("the service answers")
}

#[tokio::test]
async fn direct_requests_to_a_service_port_without_a_valid_token_are_refused() {
    let app = TestApp::spawn().await;
    let now = kit::time::now_unix();
    let stranger_dir = tempfile::tempdir().expect("tempdir");
    let stranger = TokenSigner::new(
        GATEWAY,
        kit::identity::token::load_or_generate_key(&stranger_dir.path().join("k")).expect("key"),
    );
    let gateway = gateway_key(&app);
    for (service, path) in ROUTES {
        let audience = service.name();
        let other = if service == Service::Users {
            "products"
        } else {
            "users"
        };
        let refused = [
            ("no token", None),
            ("garbage", Some("v1.e30.AAAA".to_owned())),
            (
                "another audience",
                Some(gateway.sign(claims(other, now, now + 30))),
            ),
            (
                "expired",
                Some(gateway.sign(claims(audience, now - 120, now - 90))),
            ),
            (
                "too long-lived",
                Some(gateway.sign(claims(audience, now, now + 3600))),
            ),
            (
                "untrusted key",
                Some(stranger.sign(claims(audience, now, now + 30))),
            ),
        ];
        for (what, token) in refused {
            let response = get_with(&app, service, path, token.as_deref()).await;
            let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
            assert_eq!(
                problem["type"], "urn:msa-shop:problem:unauthenticated",
                "{service:?} {what}"
            );
        }
        // The control: the same request with a valid token is answered.
        let valid = gateway.sign(claims(audience, now, now + 30));
        let response = get_with(&app, service, path, Some(&valid)).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{service:?} with a valid token"
        );
        for probe in ["/healthz", "/readyz"] {
            let response = get_with(&app, service, probe, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{service:?} {probe}");
        }
    }
}

#[tokio::test]
async fn order_service_cannot_sign_for_users_and_only_it_may_reserve_stock() {
    let app = TestApp::spawn().await;
    // order-service speaks to product-service for itself...
    app.reservation(9001).await;
    // ...but the gateway's word (even an administrator's) opens no reservation.
    let admin = app
        .direct(
            Service::Products,
            Method::GET,
            "/internal/reservations/9001",
            &Principal::User(3),
            Role::Admin,
        )
        .send()
        .await
        .expect("answer");
    assert_problem(admin, StatusCode::NOT_FOUND).await;
    // order-service's key cannot vouch for a user: a service speaks only for itself.
    let forged = app.orders_signer.token(
        Service::Users.name(),
        &Actor {
            principal: Principal::User(ALICE),
            role: Role::Admin,
            scopes: Vec::new(),
        },
    );
    let response = get_with(&app, Service::Users, "/users", Some(&forged)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    // And order-service's own word does not reach the password store.
    let verify = app
        .http
        .post(format!(
            "{}/internal/credentials/verify",
            app.service_url(Service::Users)
        ))
        .header(
            TOKEN_HEADER,
            app.orders_signer.own_token(Service::Users.name()),
        )
        .json(&serde_json::json!({"email": "alice@example.com", "password": "x"}))
        .send()
        .await
        .expect("answer");
    assert_problem(verify, StatusCode::NOT_FOUND).await;
    // order-service is answered by no one as a gateway would be: it has its own key.
    assert_eq!(app.orders_signer.issuer(), ORDERS);
}

#[tokio::test]
async fn identity_and_address_headers_from_outside_are_never_believed() {
    let app = TestApp::spawn().await;
    let now = kit::time::now_unix();
    // Even a validly signed administrator token, smuggled in from outside, is replaced by
    // the gateway's own statement about the caller: here, anonymous.
    let smuggled = gateway_key(&app).sign(claims(Service::Users.name(), now, now + 30));
    let visitor = app.anonymous();
    let response = visitor
        .request(Method::GET, "/api/v1/users")
        .header(TOKEN_HEADER, smuggled)
        .header("x-forwarded-for", "10.9.8.7")
        .header("x-real-ip", "10.9.8.7")
        .send()
        .await
        .expect("answer");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let bob = app.as_user(BOB).await;
    let response = bob
        .request(Method::GET, "/api/v1/users/1")
        .header(TOKEN_HEADER, "v1.anything.at-all")
        .send()
        .await
        .expect("answer");
    assert_problem(response, StatusCode::NOT_FOUND).await;
}
