//! Starts the real msa-shop for tests: all four services as real HTTP servers on ephemeral
//! loopback ports, each with its own SQLite database in a fresh temporary directory. Tests
//! talk to it over HTTP only, like any client, and never write to a database behind the
//! API's back.
//!
//! Between order-service and product-service, and between the gateway and order-service,
//! sits a [`ChaosProxy`], so a test can make those links slow or dead while the services
//! stay real, and can hear what a sniffer on them would.
//!
//! By concern: [`lifecycle`] starts and stops the services, [`options`] is what a test may
//! change, [`accounts`] logs people in, [`requests`] speaks to the API on their behalf,
//! [`invariants`] checks what must always hold, [`demo`] names the seeded data.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use kit::identity::CallSigner;
use tempfile::TempDir;
use tokio::sync::OnceCell;

pub mod accounts;
mod backing;
pub mod chaos;
mod client;
pub mod collector;
pub mod demo;
pub mod invariants;
pub mod lifecycle;
pub mod options;
mod problem;
pub mod requests;

pub use backing::POSTGRES_ENV;
pub use chaos::{ChaosProxy, Fault};
pub use client::{Client, OrderLine, SESSION_COOKIE, session_cookie};
pub use demo::{ADMIN, ALICE, BOB, DEMO_EMAILS, DEMO_ORDER, LAPTOP, PHONE};
pub use invariants::{Holding, metric};
pub use options::{CALL_TIMEOUT, Options, RECOVERY_INTERVAL, defaults};
pub use problem::assert_problem;

use backing::Backing;
use lifecycle::Running;

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
    pub(crate) backing: Backing,
    /// Signs as the gateway: the key every service trusts for requests from outside.
    pub gateway_signer: CallSigner,
    /// Signs as order-service.
    pub orders_signer: CallSigner,
    /// The gateway's HTTPS address, once it runs.
    pub tls_addr: Option<SocketAddr>,
    /// The demo administrator's session, logged in at start.
    pub admin: Client,
    pub(crate) sessions: BTreeMap<i64, OnceCell<Client>>,
    /// Between order-service and product-service; set once product-service has a port.
    pub(crate) products_proxy: Option<ChaosProxy>,
    /// Between the gateway and order-service; set once order-service has a port.
    pub(crate) orders_proxy: Option<ChaosProxy>,
    pub(crate) addrs: BTreeMap<Service, SocketAddr>,
    pub(crate) running: BTreeMap<Service, Running>,
}
