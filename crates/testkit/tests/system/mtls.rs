//! Mutual TLS between the services: a service speaks nothing but TLS, serves only callers
//! whose certificate from the internal CA names the issuer of their token, and the links
//! between services carry nothing a sniffer can read.

use kit::identity::binding::Bound;
use kit::identity::{Actor, Principal, Role, TOKEN_HEADER};
use kit::serving::internal_tls::{self, InternalTls};
use reqwest::{Method, StatusCode};
use testkit::{ALICE, PHONE, Service, TestApp};

const SERVICES: [Service; 3] = [Service::Users, Service::Products, Service::Orders];

/// A route of each service that the gateway's token opens.
fn route(service: Service) -> &'static str {
    match service {
        Service::Users => "/users/1",
        Service::Products => "/products/101",
        _ => "/orders/9001",
    }
}

/// A client of the internal CA, presenting `party`'s certificate (or none), that accepts any
/// service's certificate.
pub(crate) fn client_as(app: &TestApp, party: Option<&str>) -> reqwest::Client {
    let dir = app.internal_tls_dir();
    let tls = InternalTls::load(&dir, party.unwrap_or("gateway")).expect("files");
    let parties = kit::identity::options::PARTIES;
    let config = match party {
        Some(_) => tls.client_config_for_any(&parties),
        None => tls.client_config_without_certificate(&parties),
    }
    .expect("a config");
    kit::calling::transport::client_with_tls(
        config,
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(2),
    )
}

/// The gateway's token for an administrator's `GET target`, as a stolen one would be.
pub(crate) fn gateway_token(app: &TestApp, service: Service, target: &str) -> String {
    let bound = Bound {
        method: &Method::GET,
        target,
        body: b"",
    };
    app.gateway_signer
        .token(
            service.name(),
            &Actor {
                principal: Principal::User(testkit::ADMIN),
                role: Role::Admin,
                scopes: Vec::new(),
            },
            &bound,
        )
        .expect("a token")
}

#[tokio::test]
async fn a_service_speaks_only_tls_and_serves_only_named_callers() {
    let app = TestApp::spawn().await;
    let plain = kit::calling::transport::builder()
        .no_proxy()
        .build()
        .expect("a client");
    let gateway = client_as(&app, Some("gateway"));
    let orders = client_as(&app, Some("orders"));
    let users = client_as(&app, Some("users"));
    let nobody = client_as(&app, None);
    for service in SERVICES {
        let base = app.service_url(service);
        let target = route(service);
        // Plain HTTP gets no answer at all.
        let http = base.replacen("https://", "http://", 1);
        let answer = plain.get(format!("{http}/healthz")).send().await;
        assert!(
            answer.is_err(),
            "{service:?} answered plain HTTP: {answer:?}"
        );

        // Without a certificate: the probes, and nothing else, even with a valid token.
        let probe = nobody
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(probe.status(), StatusCode::OK, "{service:?} probe");
        let with_token = |client: &reqwest::Client| {
            client
                .get(format!("{base}{target}"))
                .header(TOKEN_HEADER, gateway_token(&app, service, target))
                .send()
        };
        let refused = with_token(&nobody).await.expect("an answer");
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "{service:?} without a certificate"
        );

        // Another process's certificate with the gateway's token: refused.
        let impostor = if service == Service::Users {
            &orders
        } else {
            &users
        };
        let refused = with_token(impostor).await.expect("an answer");
        assert_eq!(
            refused.status(),
            StatusCode::UNAUTHORIZED,
            "{service:?} from another process"
        );

        // The control: the gateway's certificate and its token.
        let served = with_token(&gateway).await.expect("an answer");
        assert_eq!(
            served.status(),
            StatusCode::OK,
            "{service:?} from the gateway"
        );
    }
}

#[tokio::test]
async fn a_client_refuses_a_server_that_is_not_the_service_it_meant() {
    let app = TestApp::spawn().await;
    let gateway = InternalTls::load(&app.internal_tls_dir(), "gateway").expect("files");
    let expects_users = kit::calling::transport::client_with_tls(
        gateway.client_config("users").expect("a config"),
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(2),
    );
    let products = app.service_url(Service::Products);
    let answer = expects_users
        .get(format!("{products}/healthz"))
        .send()
        .await;
    assert!(answer.is_err(), "products passed for users: {answer:?}");
    let users = app.service_url(Service::Users);
    let answer = expects_users.get(format!("{users}/healthz")).send().await;
    assert_eq!(answer.expect("users answers").status(), StatusCode::OK);

    // A certificate for "gateway" from another CA is no certificate of this shop's.
    let stranger = tempfile::tempdir().expect("tempdir");
    internal_tls::ensure(stranger.path(), &["gateway"]).expect("another CA");
    let forged = InternalTls::load(stranger.path(), "gateway").expect("files");
    let config = forged.client_config_for_any(&["users"]).expect("a config");
    let forged = kit::calling::transport::client_with_tls(
        config,
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(2),
    );
    let answer = forged.get(format!("{users}/healthz")).send().await;
    assert!(answer.is_err(), "a stranger's CA was trusted: {answer:?}");
}

#[tokio::test]
async fn a_sniffer_between_the_services_hears_no_plaintext() {
    let app = TestApp::spawn().await;
    let placed = app.place_order("mtls-sniff", ALICE, &[(PHONE, 1)]).await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let alice = app.as_user(ALICE).await;
    alice.order(9001).await;
    for (link, heard) in [
        ("gateway to orders", app.orders_link().heard()),
        ("orders to products", app.products_link().heard()),
    ] {
        assert!(heard.len() > 500, "{link}: the link carried the calls");
        let text = String::from_utf8_lossy(&heard).to_lowercase();
        for plain in [
            "x-msa-identity",
            "http/1.1",
            "product_id",
            "v3.",
            "idempotency",
        ] {
            assert!(!text.contains(plain), "{link}: `{plain}` in the clear");
        }
    }
}
