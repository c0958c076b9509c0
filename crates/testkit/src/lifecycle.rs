//! Starting and stopping the services of a test system: each a real server on an ephemeral
//! loopback port, built from its own default settings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use gateway::PlainHttpMode;
use kit::identity::{GATEWAY, ORDERS, PRODUCTS, PublicKeys, USERS};
use kit::serving::options::Place;
use kit::serving::server::Server;
use kit::serving::shutdown::CancellationToken;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::{
    ADMIN, Backing, ChaosProxy, Client, DEMO_EMAILS, Options, RECOVERY_INTERVAL, Service, TestApp,
    defaults,
};

pub(crate) struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Quiet by default; `RUST_LOG=debug cargo test` shows the services' logs.
        let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "error".to_owned());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

impl TestApp {
    /// Starts users and products, then orders (which calls both, products through a
    /// chaos proxy), then the gateway (which calls orders through another), each on an
    /// ephemeral port.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        init_logs();
        let data_dir = tempfile::tempdir().expect("a temporary directory can be created");
        // The keys the services themselves generate on first start, where they look for
        // them: the test signs with the very keys they trust.
        let own_key = |party: &str| {
            kit::identity::options::own_key(party, None, data_dir.path())
                .expect("a key file can be written")
        };
        let keys = kit::identity::options::PARTIES
            .iter()
            .fold(PublicKeys::default(), |keys, party| {
                keys.with(party, own_key(party).public_key())
            });
        let signer = |issuer: &str, audiences: &[&str]| {
            keys.signer(&own_key(issuer), issuer, audiences)
                .expect("the test system's keys agree")
        };
        let mut app = Self {
            gateway: String::new(),
            http: test_client(data_dir.path(), options.internal_tls)
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("BUG: static client configuration"),
            gateway_signer: signer(GATEWAY, &[USERS, PRODUCTS, ORDERS]),
            orders_signer: signer(ORDERS, &[USERS, PRODUCTS]),
            data_dir,
            options,
            backing: Backing::from_env().await,
            tls_addr: None,
            admin: Client::new("http://unset", "testkit", &[]),
            sessions: DEMO_EMAILS
                .iter()
                .filter(|(id, _)| *id != ADMIN)
                .map(|(id, _)| (*id, OnceCell::new()))
                .collect(),
            products_proxy: None,
            orders_proxy: None,
            addrs: BTreeMap::new(),
            running: BTreeMap::new(),
        };
        app.start(Service::Users).await;
        app.start(Service::Products).await;
        app.products_proxy = Some(
            ChaosProxy::start(app.addrs[&Service::Products])
                .await
                .expect("proxy starts"),
        );
        app.start(Service::Orders).await;
        app.orders_proxy = Some(
            ChaosProxy::start(app.addrs[&Service::Orders])
                .await
                .expect("proxy starts"),
        );
        app.start(Service::Gateway).await;
        app.gateway = format!("http://{}", app.addrs[&Service::Gateway]);
        // A gateway that only redirects to HTTPS has no plain API to log in through.
        if app.options.plain_http == PlainHttpMode::Serve {
            app.admin = app.login_demo(ADMIN).await;
        }
        app
    }

    /// Base URL of a service's own port (bypassing the gateway).
    pub fn service_url(&self, service: Service) -> String {
        let scheme = if self.options.internal_tls && service != Service::Gateway {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addrs[&service])
    }

    /// A client to the services' ports as process `party` (with its certificate, when they
    /// speak mutual TLS): what order-service's own calls need.
    pub fn http_as(&self, party: &str) -> reqwest::Client {
        if !self.options.internal_tls {
            return self.http.clone();
        }
        reqwest::Client::builder()
            .use_preconfigured_tls(client_config(&self.internal_tls_dir(), party))
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("BUG: static client configuration")
    }

    /// Where the internal CA's files are, when the services speak mutual TLS.
    pub fn internal_tls_dir(&self) -> std::path::PathBuf {
        self.data_dir
            .path()
            .join(kit::serving::internal_tls::DIR_NAME)
    }

    /// Whether the services keep their data in SQLite files (else in PostgreSQL).
    pub fn on_sqlite(&self) -> bool {
        matches!(self.backing, Backing::Sqlite)
    }

    /// The local CA of this test system, with the gateway's certificate for localhost.
    pub fn local_ca(&self) -> kit::serving::tls::LocalCa {
        let names = ["localhost", "127.0.0.1"].map(str::to_owned);
        kit::serving::tls::LocalCa::ensure(&self.data_dir.path().join("tls"), &names)
            .expect("a local CA can be created")
            .0
    }

    async fn build(&self, service: Service) -> anyhow::Result<Server> {
        let port = self.addrs.get(&service).map_or(0, SocketAddr::port);
        let place = Place {
            host: std::net::Ipv4Addr::LOCALHOST.into(),
            data_dir: self.data_dir.path().to_owned(),
            production: false,
        };
        let database_url = self.backing.database_url(service.name());
        // Four services of each of the tests running at once share one PostgreSQL server.
        let max_connections = 5;
        match service {
            Service::Users => {
                let mut settings: users::Settings = defaults();
                settings.place = place;
                settings.own.users_port = port;
                settings.own.users_database_url = database_url;
                settings.pool.database_max_connections = max_connections;
                settings.serving = self.options.serving.clone();
                settings.internal_tls.no_internal_tls = !self.options.internal_tls;
                users::build(settings.config()?).await
            }
            Service::Products => {
                let mut settings: products::Settings = defaults();
                settings.place = place;
                settings.own.products_port = port;
                settings.own.products_database_url = database_url;
                settings.pool.database_max_connections = max_connections;
                settings.serving = self.options.serving.clone();
                settings.internal_tls.no_internal_tls = !self.options.internal_tls;
                products::build(settings.config()?).await
            }
            Service::Orders => {
                let mut settings: orders::Settings = defaults();
                settings.place = place;
                settings.own.orders_port = port;
                settings.own.orders_database_url = database_url;
                settings.own.recovery_interval_s = RECOVERY_INTERVAL.as_secs();
                settings.pool.database_max_connections = max_connections;
                settings.serving = self.options.serving.clone();
                settings.internal_tls.no_internal_tls = !self.options.internal_tls;
                settings.calls = self.options.calls.clone();
                settings.users.users_url = Some(self.service_url(Service::Users));
                settings.products.products_url = Some(self.products_link().url());
                orders::build(settings.config()?).await
            }
            Service::Gateway => {
                let mut settings: gateway::Settings = defaults();
                settings.place = place;
                settings.own.gateway_port = port;
                settings.own.tls_port = self.tls_addr.map_or(0, |addr| addr.port());
                settings.own.plain_http = self.options.plain_http;
                settings.own.rate_per_address = self.options.rates.per_address;
                settings.own.rate_per_key = self.options.rates.per_key;
                settings.own.security_events_max = self.options.security_events_max;
                settings.own.cors_origins =
                    vec![http::HeaderValue::from_static(self.options.cors_origin)];
                settings.own.gateway_database_url = database_url;
                settings.pool.database_max_connections = max_connections;
                settings.serving = self.options.serving.clone();
                settings.internal_tls.no_internal_tls = !self.options.internal_tls;
                settings.calls = self.options.calls.clone();
                settings.users.users_url = Some(self.service_url(Service::Users));
                settings.products.products_url = Some(self.service_url(Service::Products));
                settings.orders.orders_url = Some(self.orders_link().url());
                gateway::build(settings.config()?).await
            }
        }
    }

    /// Starts (or restarts, on the same port and database) one service.
    pub async fn start(&mut self, service: Service) {
        let server = self
            .build(service)
            .await
            .unwrap_or_else(|error| panic!("{service:?} failed to start: {error:#}"));
        let addr = server.local_addr();
        if service == Service::Gateway {
            self.tls_addr = server.tls_addr();
        }
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        self.addrs.insert(service, addr);
        self.running.insert(
            service,
            Running {
                addr,
                shutdown,
                task,
            },
        );
    }

    /// Stops one service gracefully and waits until its port is closed.
    pub async fn stop(&mut self, service: Service) {
        self.begin_stop(service)
            .await
            .expect("server task completes")
            .expect("server stops cleanly");
    }

    /// Tells one service to stop (as SIGTERM would) and returns its server task, which
    /// ends once it has drained and closed.
    pub fn begin_stop(&mut self, service: Service) -> JoinHandle<anyhow::Result<()>> {
        let running = self
            .running
            .remove(&service)
            .unwrap_or_else(|| panic!("{service:?} is not running"));
        assert_eq!(running.addr, self.addrs[&service]);
        running.shutdown.cancel();
        running.task
    }

    /// Restarts one service and waits until it reports ready.
    pub async fn restart(&mut self, service: Service) {
        self.stop(service).await;
        self.start(service).await;
    }

    /// The link from the gateway to order-service, whose faults a test controls.
    pub fn orders_link(&self) -> &ChaosProxy {
        self.orders_proxy
            .as_ref()
            .expect("BUG: the proxy starts before the gateway")
    }

    /// The link from order-service to product-service, whose faults a test controls.
    pub fn products_link(&self) -> &ChaosProxy {
        self.products_proxy
            .as_ref()
            .expect("BUG: the proxy starts before order-service")
    }
}

/// The client of the test's own requests: to the gateway as any client, and to a
/// service's port as the gateway would (with the gateway's certificate, when the services
/// speak mutual TLS, creating the internal CA first).
fn test_client(data_dir: &std::path::Path, internal_tls: bool) -> reqwest::ClientBuilder {
    use kit::serving::internal_tls;
    if !internal_tls {
        return kit::calling::transport::builder();
    }
    let dir = data_dir.join(internal_tls::DIR_NAME);
    internal_tls::ensure(&dir, &kit::identity::options::PARTIES)
        .expect("the internal CA can be created");
    reqwest::Client::builder().use_preconfigured_tls(client_config(&dir, GATEWAY))
}

/// A client's TLS as process `party`, with its certificate from the internal CA in `dir`,
/// accepting any of the shop's services.
fn client_config(dir: &std::path::Path, party: &str) -> rustls::ClientConfig {
    kit::serving::internal_tls::InternalTls::load(dir, party)
        .and_then(|tls| tls.client_config_for_any(&kit::identity::options::PARTIES))
        .unwrap_or_else(|error| panic!("the certificate of {party} loads: {error:#}"))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for running in self.running.values() {
            running.shutdown.cancel();
        }
    }
}
