//! HTTPS at the gateway: rustls with TLS 1.2 and 1.3 only, HSTS, and plain HTTP that
//! redirects when the gateway is exposed.

use std::sync::Arc;

use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use testkit::{Options, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn client_config(
    app: &TestApp,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(app.local_ca().ca).expect("the CA file") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a usable CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// `GET path` over HTTPS with HTTP/1.1; the raw answer and the TLS version used.
async fn https_get(
    app: &TestApp,
    config: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<(String, Option<rustls::ProtocolVersion>)> {
    let addr = app.tls_addr.expect("the gateway serves HTTPS");
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("a server name");
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    let version = tls.get_ref().1.protocol_version();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    Ok((String::from_utf8_lossy(&answer).into_owned(), version))
}

#[tokio::test]
async fn https_serves_the_api_over_tls_1_3_and_1_2_with_hsts() {
    let app = TestApp::spawn().await;
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let (answer, used) = https_get(&app, client_config(&app, &[version]), "/hello")
            .await
            .expect("an HTTPS answer");
        assert_eq!(used, Some(version.version));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("strict-transport-security: max-age=31536000"),
            "{answer}"
        );
        assert!(answer.contains("Hello, API!"), "{answer}");
        assert!(!lower.contains("\r\nserver:"), "no banner: {answer}");
    }
    // Plain HTTP on loopback answers without HSTS (it would be ignored, and wrong).
    let plain = app.anonymous().get("/hello").await;
    assert!(plain.headers().get("strict-transport-security").is_none());
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_gets_no_connection() {
    let app = TestApp::spawn().await;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let refused = https_get(&app, Arc::new(config), "/hello").await;
    assert!(refused.is_err(), "an unknown CA must fail the handshake");
}

#[tokio::test]
async fn tls_1_1_and_older_are_refused() {
    let app = TestApp::spawn().await;
    let mut tcp = TcpStream::connect(app.tls_addr.expect("HTTPS"))
        .await
        .expect("connect");
    // A TLS 1.1 ClientHello offering TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA and
    // TLS_RSA_WITH_AES_128_CBC_SHA, no extensions.
    let mut hello = vec![0x03, 0x02];
    hello.extend([7u8; 32]);
    hello.extend([0x00, 0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f, 0x01, 0x00]);
    let mut handshake = vec![0x01, 0x00, 0x00, u8::try_from(hello.len()).expect("short")];
    handshake.extend(hello);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        0x00,
        u8::try_from(handshake.len()).expect("short"),
    ];
    record.extend(handshake);
    tcp.write_all(&record).await.expect("send");
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    assert_eq!(
        answer.first(),
        Some(&0x15),
        "an alert, not a ServerHello: {answer:02x?}"
    );
}

#[tokio::test]
async fn exposed_plain_http_redirects_everything_but_probes_to_https() {
    let options = Options {
        plain_http: gateway::PlainHttpMode::Redirect,
        ..Options::default()
    };
    let app = TestApp::spawn_with(options).await;
    let https_port = app.tls_addr.expect("HTTPS").port();
    let visitor = app.anonymous();
    for path in ["/api/v1/products?limit=2", "/hello", "/api/v1/auth/login"] {
        let response = visitor.get(path).await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
        let host = app.gateway.trim_start_matches("http://");
        let host = host.split(':').next().unwrap_or_default();
        assert_eq!(
            response.headers()["location"],
            format!("https://{host}:{https_port}{path}").as_str()
        );
    }
    assert_eq!(visitor.get("/healthz").await.status(), StatusCode::OK);
    let (answer, _) = https_get(
        &app,
        client_config(&app, &[&rustls::version::TLS13]),
        "/api/v1/products/101",
    )
    .await
    .expect("HTTPS answers");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
