//! Starts the real msa-shop for tests: all four services as real HTTP servers on ephemeral
//! loopback ports, each with its own SQLite database in a fresh temporary directory. Tests
//! talk to it over HTTP only, like any client, and never write to a database behind the
//! API's back.
//!
//! Between order-service and product-service sits a [`ChaosProxy`], so a test can make
//! that link slow or dead while both services stay real.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use gateway::{PlainHttpMode, RateLimits};
use kit::calling::options::CallOptions;
use kit::identity::{CallSigner, GATEWAY, ORDERS, PublicKeys};
use kit::serving::options::{Place, ServingOptions};
use kit::serving::server::Server;
use kit::serving::shutdown::CancellationToken;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

pub mod chaos;
mod client;
pub mod collector;
mod problem;

pub use chaos::{ChaosProxy, Fault};
pub use client::{Client, SESSION_COOKIE, session_cookie};
pub use problem::assert_problem;

/// Deadline of calls between services in tests: short, so timeouts are quick to provoke,
/// yet with room for a loaded 2-core CI machine, where healthy calls must never time out.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Recovery runs this often in tests, so settling can be observed quickly.
pub const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

pub const ALICE: i64 = 1;
pub const BOB: i64 = 2;
pub const ADMIN: i64 = 3;
/// The demo accounts by id, as seeded by user-service.
pub const DEMO_EMAILS: [(i64, &str); 3] = [
    (ALICE, "alice@example.com"),
    (BOB, "bob@example.com"),
    (ADMIN, "admin@example.com"),
];
pub const LAPTOP: i64 = 101;
pub const PHONE: i64 = 102;
pub const DEMO_ORDER: i64 = 9001;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    Users,
    Products,
    Orders,
    Gateway,
}

impl Service {
    /// The name a service answers to as a token audience.
    pub fn name(self) -> &'static str {
        match self {
            Self::Users => users::SERVICE,
            Self::Products => products::SERVICE,
            Self::Orders => orders::SERVICE,
            Self::Gateway => gateway::SERVICE,
        }
    }
}

struct Running {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// Where the services of a test system keep their data: fresh SQLite files by default, or,
/// when `MSA_TEST_POSTGRES_URL` names a PostgreSQL server (a URL of a user allowed to create
/// databases), one fresh database per service there.
#[derive(Debug, Clone)]
enum Backing {
    Sqlite,
    Postgres { server: String, prefix: String },
}

/// The variable that switches the system tests to PostgreSQL.
pub const POSTGRES_ENV: &str = "MSA_TEST_POSTGRES_URL";

impl Backing {
    async fn from_env() -> Self {
        let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
            return Self::Sqlite;
        };
        let server = server_part(&admin_url);
        let prefix = format!("msa_test_{:016x}", rand::random::<u64>());
        sqlx::any::install_default_drivers();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|error| panic!("{POSTGRES_ENV} does not connect: {error}"));
        for service in ["users", "products", "orders", "gateway"] {
            let statement = format!("CREATE DATABASE {prefix}_{service}");
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&mut admin)
                .await
                .unwrap_or_else(|error| panic!("cannot create a test database: {error}"));
        }
        Self::Postgres { server, prefix }
    }

    /// The database URL of `service`; none for SQLite, whose file the service's own
    /// settings place in the data directory.
    fn database_url(&self, service: &str) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres { server, prefix } => Some(format!("{server}/{prefix}_{service}")),
        }
    }
}

/// `postgres://user:password@host:port` of a URL that may name a database and options.
fn server_part(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => url[..after_scheme + slash].to_owned(),
        None => url.to_owned(),
    }
}

/// What a test may change about the system it starts. Everything else is each service's
/// default settings, as an operator gets them, and what they derive.
#[derive(Debug, Clone)]
pub struct Options {
    pub rates: RateLimits,
    /// The one browser origin allowed cross-origin calls.
    pub cors_origin: &'static str,
    /// What the gateway's plain HTTP port does (HTTPS is always served too).
    pub plain_http: PlainHttpMode,
    /// Calls between services; each service derives its deadlines from these.
    pub calls: CallOptions,
    /// Load shedding and the shutdown sequence of every service.
    pub serving: ServingOptions,
}

/// The defaults of a settings group; the `MSA_*` environment of a test run counts, as it
/// would for `msa`.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    kit::serving::options::defaults()
        .unwrap_or_else(|error| panic!("the MSA_* environment does not parse: {error}"))
}

impl Default for Options {
    fn default() -> Self {
        let mut calls: CallOptions = defaults();
        calls.call_timeout_ms = CALL_TIMEOUT.as_millis() as u64;
        Self {
            // Every test client shares 127.0.0.1: limits are high unless a test lowers them.
            rates: RateLimits {
                per_address: 100_000,
                per_key: 100_000,
            },
            cors_origin: "https://shop.example.com",
            plain_http: PlainHttpMode::Serve,
            calls,
            serving: defaults(),
        }
    }
}

/// The whole system, started for one test.
///
/// Its own request helpers ([`Self::get`], [`Self::get_json`], ...) act as the demo
/// administrator, who may see and change everything; [`Self::anonymous`] and
/// [`Self::as_user`] give clients with less.
pub struct TestApp {
    /// Base URL of the gateway, e.g. `http://127.0.0.1:40123`.
    pub gateway: String,
    /// A plain client without identity, for raw requests to any port.
    pub http: reqwest::Client,
    pub data_dir: TempDir,
    pub options: Options,
    backing: Backing,
    /// Signs as the gateway: the key every service trusts for requests from outside.
    pub gateway_signer: CallSigner,
    /// Signs as order-service.
    pub orders_signer: CallSigner,
    /// The gateway's HTTPS address, once it runs.
    pub tls_addr: Option<SocketAddr>,
    /// The demo administrator's session, logged in at start.
    pub admin: Client,
    sessions: BTreeMap<i64, OnceCell<Client>>,
    /// Between order-service and product-service; set once product-service has a port.
    products_proxy: Option<ChaosProxy>,
    addrs: BTreeMap<Service, SocketAddr>,
    running: BTreeMap<Service, Running>,
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
    /// Starts users and products, then orders (which calls both, products through the
    /// chaos proxy), then the gateway, each on an ephemeral port.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        init_logs();
        let data_dir = tempfile::tempdir().expect("a temporary directory can be created");
        // The keys the services themselves generate on first start, where they look for
        // them: the test signs with the very keys they trust.
        let signer = |issuer: &str| {
            kit::identity::options::signer(issuer, None, data_dir.path())
                .expect("a key file can be written")
        };
        let mut app = Self {
            gateway: String::new(),
            http: kit::calling::transport::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("BUG: static client configuration"),
            gateway_signer: signer(GATEWAY),
            orders_signer: signer(ORDERS),
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
        format!("http://{}", self.addrs[&service])
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

    /// The public keys of the gateway and order-service, as configuration distributes them.
    pub fn trust(&self) -> PublicKeys {
        PublicKeys::default()
            .with(GATEWAY, self.gateway_signer.public_key())
            .with(ORDERS, self.orders_signer.public_key())
    }

    async fn build(&self, service: Service) -> anyhow::Result<Server> {
        let port = self.addrs.get(&service).map_or(0, SocketAddr::port);
        let place = Place {
            host: std::net::Ipv4Addr::LOCALHOST.into(),
            data_dir: self.data_dir.path().to_owned(),
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
                users::build(settings.config()?).await
            }
            Service::Products => {
                let mut settings: products::Settings = defaults();
                settings.place = place;
                settings.own.products_port = port;
                settings.own.products_database_url = database_url;
                settings.pool.database_max_connections = max_connections;
                settings.serving = self.options.serving.clone();
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
                settings.own.cors_origins =
                    vec![http::HeaderValue::from_static(self.options.cors_origin)];
                settings.own.gateway_database_url = database_url;
                settings.pool.database_max_connections = max_connections;
                settings.serving = self.options.serving.clone();
                settings.calls = self.options.calls.clone();
                settings.users.users_url = Some(self.service_url(Service::Users));
                settings.products.products_url = Some(self.service_url(Service::Products));
                settings.orders.orders_url = Some(self.service_url(Service::Orders));
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

    /// The link from order-service to product-service, whose faults a test controls.
    pub fn products_link(&self) -> &ChaosProxy {
        self.products_proxy
            .as_ref()
            .expect("BUG: the proxy starts before order-service")
    }

    /// A client of the gateway without identity.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.gateway, "testkit-anonymous/1.0", &[])
    }

    /// The password of a demo account, from the file user-service wrote on first start.
    pub fn demo_password(&self, email: &str) -> String {
        let path = self.data_dir.path().join("demo-credentials.json");
        let credentials: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("demo credentials exist"))
                .expect("demo credentials are JSON");
        credentials[email]
            .as_str()
            .unwrap_or_else(|| panic!("no demo password for {email}"))
            .to_owned()
    }

    /// `POST /api/v1/auth/login` from a browser named `user_agent`; the raw answer.
    pub async fn login(&self, email: &str, password: &str, user_agent: &str) -> Response {
        Client::new(&self.gateway, user_agent, &[])
            .send_json(
                Method::POST,
                "/api/v1/auth/login",
                &serde_json::json!({"email": email, "password": password}),
            )
            .await
    }

    /// A fresh session of `email` (with `password`), in a browser named `user_agent`.
    pub async fn session_of(&self, email: &str, password: &str, user_agent: &str) -> Client {
        let response = self.login(email, password, user_agent).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {email}");
        let cookie = session_cookie(&response).expect("login sets the session cookie");
        Client::with_cookie(&self.gateway, user_agent, &cookie)
    }

    /// A fresh session of demo account `user_id`.
    pub async fn login_demo(&self, user_id: i64) -> Client {
        let email = DEMO_EMAILS
            .iter()
            .find(|(id, _)| *id == user_id)
            .map(|(_, email)| *email)
            .unwrap_or_else(|| panic!("user {user_id} is no demo account"));
        self.session_of(
            email,
            &self.demo_password(email),
            &format!("testkit-browser/{user_id}"),
        )
        .await
    }

    /// The session of demo account `user_id` this app keeps, logged in on first use.
    pub async fn as_user(&self, user_id: i64) -> &Client {
        if user_id == ADMIN {
            return &self.admin;
        }
        self.sessions
            .get(&user_id)
            .unwrap_or_else(|| panic!("user {user_id} is no demo account"))
            .get_or_init(|| self.login_demo(user_id))
            .await
    }

    /// A request to the gateway as the administrator; `path` starts with `/`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.admin.request(method, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.admin.get(path).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.admin.send_json(method, path, body).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.admin.get_json(path).await
    }

    /// `POST /api/v1/orders` with an Idempotency-Key, as demo user `user_id`.
    pub async fn place_order(&self, key: &str, user_id: i64, items: &[(i64, i64)]) -> Response {
        self.as_user(user_id).await.place_order(key, items).await
    }

    pub async fn order(&self, order_id: i64) -> Value {
        self.admin.order(order_id).await
    }

    pub async fn stock(&self, product_id: i64) -> i64 {
        self.admin.stock(product_id).await
    }

    /// Every order, across pages.
    pub async fn all_orders(&self) -> Vec<Value> {
        self.admin.all_orders().await
    }

    /// A direct request to a service's own port, signed as the gateway for `principal`.
    pub fn direct(
        &self,
        service: Service,
        method: Method,
        path: &str,
        principal: &kit::identity::Principal,
        role: kit::identity::Role,
    ) -> reqwest::RequestBuilder {
        let actor = kit::identity::Actor {
            principal: principal.clone(),
            role,
            scopes: Vec::new(),
        };
        let token = self.gateway_signer.token(service.name(), &actor);
        self.http
            .request(method, format!("{}{path}", self.service_url(service)))
            .header(kit::identity::TOKEN_HEADER, token)
    }

    /// The metrics text of `service`: straight from its port on the private network, or
    /// from the gateway as the administrator.
    pub async fn metrics(&self, service: Service) -> String {
        let response = match service {
            Service::Gateway => self.get("/metrics").await,
            _ => self
                .http
                .get(format!("{}/metrics", self.service_url(service)))
                .send()
                .await
                .expect("the service answers"),
        };
        assert_eq!(response.status(), StatusCode::OK, "metrics of {service:?}");
        assert!(
            response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.starts_with("application/openmetrics-text")),
            "metrics are in the OpenMetrics text format"
        );
        response.text().await.expect("a text body")
    }

    /// What product-service holds for an order, asked on its internal port.
    pub async fn reservation(&self, order_id: i64) -> Value {
        let url = format!(
            "{}/internal/reservations/{order_id}",
            self.service_url(Service::Products)
        );
        let response = self
            .http
            .get(url)
            .header(
                kit::identity::TOKEN_HEADER,
                self.orders_signer.own_token(products::SERVICE),
            )
            .send()
            .await
            .expect("products answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a JSON body")
    }

    /// Stock and units held for confirmed orders, per product: the two sides of the
    /// invariant. Take one at the start of a test and compare with [`Self::assert_stock_invariant`].
    pub async fn stock_ledger(&self) -> BTreeMap<i64, (i64, i64)> {
        let mut ledger = BTreeMap::new();
        let products = self.get_json("/api/v1/products?limit=100").await;
        for product in products["items"].as_array().cloned().unwrap_or_default() {
            let id = product["id"].as_i64().expect("id");
            ledger.insert(id, (product["stock"].as_i64().expect("stock"), 0));
        }
        for order in self.all_orders().await {
            let order_id = order["order_id"].as_i64().expect("order_id");
            let reservation = self.reservation(order_id).await;
            let confirmed = order["status"] == "confirmed";
            if confirmed {
                assert_eq!(
                    reservation["status"], "held",
                    "confirmed order {order_id} holds its stock"
                );
                for item in order["items"].as_array().cloned().unwrap_or_default() {
                    let product = item["product_id"].as_i64().expect("product_id");
                    let quantity = item["quantity"].as_i64().expect("quantity");
                    let held = reservation["items"]
                        .as_array()
                        .and_then(|items| items.iter().find(|i| i["product_id"] == product))
                        .and_then(|i| i["quantity"].as_i64());
                    assert_eq!(
                        held,
                        Some(quantity),
                        "order {order_id} holds what it ordered"
                    );
                    if let Some(entry) = ledger.get_mut(&product) {
                        entry.1 += quantity;
                    }
                }
            } else {
                assert_ne!(
                    reservation["status"], "held",
                    "order {order_id} is {} and must hold no stock",
                    order["status"]
                );
            }
        }
        ledger
    }

    /// Stock now + units held by confirmed orders = stock at `before` + held at `before`
    /// + `restocks`, for every product, and no order that is not confirmed holds stock.
    pub async fn assert_stock_invariant(
        &self,
        before: &BTreeMap<i64, (i64, i64)>,
        restocks: &BTreeMap<i64, i64>,
    ) {
        let now = self.stock_ledger().await;
        for (product, (stock, held)) in before {
            let (stock_now, held_now) = now.get(product).copied().unwrap_or((0, 0));
            let expected = stock + held + restocks.get(product).copied().unwrap_or(0);
            assert!(stock_now >= 0, "product {product} has negative stock");
            assert_eq!(
                stock_now + held_now,
                expected,
                "product {product}: stock {stock_now} + held {held_now} != {expected}"
            );
        }
    }

    /// Waits until no order is `pending`: the saga or recovery has settled every one.
    pub async fn until_no_order_is_pending(&self, timeout: Duration) {
        self.eventually(timeout, "every pending order to be settled", || async {
            self.all_orders()
                .await
                .iter()
                .all(|order| order["status"] != "pending")
        })
        .await;
    }

    /// Waits until some order is `pending`: a placement is in flight.
    pub async fn until_an_order_is_pending(&self, timeout: Duration) {
        self.eventually(timeout, "an order to be in flight", || async {
            self.all_orders()
                .await
                .iter()
                .any(|order| order["status"] == "pending")
        })
        .await;
    }

    /// Polls `condition` every 20 ms until it holds or `timeout` passes: for effects of
    /// background work (recovery), which has no readiness signal a test could wait on.
    pub async fn eventually<F, Fut>(&self, timeout: Duration, what: &str, condition: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        while !condition().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The value of the series that starts with `series` (name and labels, as printed), or
/// 0 when there is none yet.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.split(' ').next()?.parse().ok()
        })
        .unwrap_or(0.0)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for running in self.running.values() {
            running.shutdown.cancel();
        }
    }
}
