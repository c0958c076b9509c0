//! No zone is trusted: a service answers only requests that carry a valid identity token
//! from an issuer it trusts, whoever can reach its port.

use base64::Engine as _;
use kit::identity::binding::Bound;
use kit::identity::token::{Claims, PartyKey, TokenSigner, parse_public_key};
use kit::identity::{Actor, GATEWAY, ORDERS, Principal, Role, TOKEN_HEADER};
use reqwest::{Method, StatusCode};
use testkit::{ALICE, BOB, Service, TestApp, assert_problem};

/// A route of each service, and what a valid admin token gets there.
const ROUTES: [(Service, &str); 3] = [
    (Service::Users, "/users/1"),
    (Service::Products, "/products/101"),
    (Service::Orders, "/orders/9001"),
];

/// An administrator's claims for reading `audience`'s route in [`ROUTES`].
fn claims(audience: &str, issued: i64, expires: i64) -> Claims {
    let path = ROUTES
        .iter()
        .find(|(service, _)| service.name() == audience)
        .map_or("/", |(_, path)| path);
    Claims {
        iss: String::new(),
        kid: String::new(),
        aud: audience.to_owned(),
        sub: Principal::User(3).subject(),
        role: Role::Admin.as_str().to_owned(),
        scopes: Vec::new(),
        rid: "forged".to_owned(),
        iat: issued,
        exp: expires,
        jti: kit::identity::token::new_token_id(),
        htm: "GET".to_owned(),
        htu: path.to_owned(),
        bdh: None,
    }
}

/// The secret of `party` in the test system.
fn secret_of(app: &TestApp, party: &str) -> PartyKey {
    let path = kit::identity::options::default_key_file(app.data_dir.path(), party);
    kit::identity::token::load_or_generate_key(&path).expect("a key of the test system")
}

/// Tokens that claim to come from `issuer`, made with the secret `own` and the services'
/// public keys (which are no secret), for every service but its own holder.
fn tokens_with(app: &TestApp, own: &PartyKey, issuer: &str) -> TokenSigner {
    ROUTES
        .iter()
        .fold(TokenSigner::new(issuer), |signer, (service, _)| {
            let audience = service.name();
            let public =
                parse_public_key(&secret_of(app, audience).public_key()).expect("a public key");
            match own.pair_key(&public, issuer, audience) {
                Ok(key) => signer.towards(audience, key),
                Err(_) => signer,
            }
        })
}

/// The gateway's own tokens, as an attacker who stole nothing cannot make them.
fn gateway_key(app: &TestApp) -> TokenSigner {
    tokens_with(app, &secret_of(app, GATEWAY), GATEWAY)
}

fn made(signer: &TokenSigner, claims: Claims) -> String {
    signer.sign(claims).expect("a key for the audience")
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
    let stranger_key =
        kit::identity::token::load_or_generate_key(&stranger_dir.path().join("k")).expect("key");
    let stranger = tokens_with(&app, &stranger_key, GATEWAY);
    let gateway = gateway_key(&app);
    for (service, path) in ROUTES {
        let audience = service.name();
        let other = if service == Service::Users {
            "products"
        } else {
            "users"
        };
        // Another service holds a secret of the system, and knows every public key: it
        // still cannot make the gateway's tokens for this one.
        let peer = tokens_with(&app, &secret_of(&app, other), GATEWAY);
        // A token the gateway made for another service, relabelled for this one.
        let relabelled = {
            let genuine = made(&gateway, claims(other, now, now + 30));
            let (_, tag) = genuine.rsplit_once('.').expect("three parts");
            let mut stated = claims(audience, now, now + 30);
            stated.iss = GATEWAY.to_owned();
            // Naming the genuine key of the gateway's tokens for this service.
            let audience_public =
                parse_public_key(&secret_of(&app, audience).public_key()).expect("a public key");
            stated.kid = secret_of(&app, GATEWAY)
                .pair_key(&audience_public, GATEWAY, audience)
                .expect("agreed")
                .id()
                .to_owned();
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&stated).expect("json"));
            format!("v3.{payload}.{tag}")
        };
        let refused = [
            ("no token", None),
            ("garbage", Some("v3.e30.AAAA".to_owned())),
            (
                "another audience",
                Some(made(&gateway, claims(other, now, now + 30))),
            ),
            ("relabelled", Some(relabelled)),
            (
                "expired",
                Some(made(&gateway, claims(audience, now - 120, now - 90))),
            ),
            (
                "too long-lived",
                Some(made(&gateway, claims(audience, now, now + 3600))),
            ),
            (
                "untrusted key",
                Some(made(&stranger, claims(audience, now, now + 30))),
            ),
            (
                "a peer service's key",
                Some(made(&peer, claims(audience, now, now + 30))),
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
        let valid = made(&gateway, claims(audience, now, now + 30));
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
    let users_list = Bound {
        method: &Method::GET,
        target: "/users",
        body: b"",
    };
    let forged = app
        .orders_signer
        .token(
            Service::Users.name(),
            &Actor {
                principal: Principal::User(ALICE),
                role: Role::Admin,
                scopes: Vec::new(),
            },
            &users_list,
        )
        .expect("order-service makes tokens for users");
    // Sent as order-service itself, over its own certificate: the token's claim is what
    // is refused.
    let response = app
        .http_as(ORDERS)
        .get(format!("{}/users", app.service_url(Service::Users)))
        .header(TOKEN_HEADER, &forged)
        .send()
        .await
        .expect("the service answers");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    // And order-service's own word does not reach the password store.
    let attempt =
        serde_json::to_vec(&serde_json::json!({"email": "alice@example.com", "password": "x"}))
            .expect("json");
    let verify_request = Bound {
        method: &Method::POST,
        target: "/internal/credentials/verify",
        body: &attempt,
    };
    let verify = app
        .http_as(ORDERS)
        .post(format!(
            "{}/internal/credentials/verify",
            app.service_url(Service::Users)
        ))
        .header(
            TOKEN_HEADER,
            app.orders_signer
                .own_token(Service::Users.name(), &verify_request)
                .expect("order-service makes tokens for users"),
        )
        .header("content-type", "application/json")
        .body(attempt)
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
    let smuggled = made(
        &gateway_key(&app),
        claims(Service::Users.name(), now, now + 30),
    );
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
        .header(TOKEN_HEADER, "v3.anything.at-all")
        .send()
        .await
        .expect("answer");
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_service_refusing_the_gateways_token_is_the_shops_fault_not_the_clients() {
    let app = TestApp::spawn().await;
    let alice = app.as_user(ALICE).await;
    let path = "/api/v1/orders/9001";
    assert_eq!(alice.get(path).await.status(), StatusCode::OK);
    // order-service gets a key nobody told the gateway about (a rotation done wrong).
    let data = app.data_dir.path();
    let loaded = kit::identity::keyring::loaded_file(data, ORDERS);
    let before = std::fs::read(&loaded).expect("order-service notes the keys it holds");
    let secret = format!("{}\n", kit::identity::token::new_secret_line());
    kit::files::write_private_file(
        &kit::identity::options::default_key_file(data, ORDERS),
        secret.as_bytes(),
    )
    .expect("a new key");
    app.eventually(
        std::time::Duration::from_secs(10),
        "order-service to load its new key",
        || async { std::fs::read(&loaded).ok().as_ref() != Some(&before) },
    )
    .await;
    // Alice is signed in: she is not told she is not.
    let problem = assert_problem(alice.get(path).await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(problem["type"], "urn:msa-shop:problem:upstream-refused");
}
