//! The HTTP client itself: how every reqwest client of the workspace is built, with the TLS
//! set-up a scratch image needs and the pool settings service-to-service traffic wants.

use std::time::Duration;

/// Builds a plain HTTP client for one-off calls (probes, the supervisor). Built once and
/// cloned (a clone shares the pool), never per request. Proxy variables are ignored:
/// service-to-service traffic must not be diverted by the environment.
pub fn http_client(call_timeout: Duration) -> reqwest::Client {
    client_with(call_timeout, Duration::from_secs(1).min(call_timeout))
}

/// The one way to start a reqwest client in this workspace. reqwest is built with rustls
/// but without a crypto provider or a CA store of its own (the audit brings both: ring and
/// the CA it is told to trust), and its defaults would look for the system's CAs, which a
/// scratch image does not have. Our own clients call plain HTTP on private networks, so
/// they get ring with no trusted CA: HTTPS is refused rather than trusted blindly.
pub fn builder() -> reqwest::ClientBuilder {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("BUG: ring supports the default protocol versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder().use_preconfigured_tls(tls)
}

pub(crate) fn client_with(timeout: Duration, connect_timeout: Duration) -> reqwest::Client {
    pooled(builder(), timeout, connect_timeout)
}

/// Like [`client_with`], over `tls`: the services' mutual TLS, for calls to one service.
pub fn client_with_tls(
    tls: rustls::ClientConfig,
    timeout: Duration,
    connect_timeout: Duration,
) -> reqwest::Client {
    pooled(
        reqwest::Client::builder().use_preconfigured_tls(tls),
        timeout,
        connect_timeout,
    )
}

fn pooled(
    builder: reqwest::ClientBuilder,
    timeout: Duration,
    connect_timeout: Duration,
) -> reqwest::Client {
    builder
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        // Below the servers' idle timeout (60 s by default): a pooled connection is let go
        // before the server closes it, rather than raced with a request sent into it.
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("BUG: the HTTP client configuration is static and valid")
}
