//! order-service: owns orders, their items and the state of the order saga.
//!
//! `POST /orders` passes the common stack, is parsed in [`http`] into a [`domain::NewOrder`],
//! and runs the saga in [`saga`]: claim the Idempotency-Key, check the user with
//! user-service, record the order `pending`, reserve stock with product-service, confirm.
//! `GET /orders/{id}` reads the order from [`store`] and asks user-service and
//! product-service for the user and products concurrently ([`client`]). A [`recovery`] pass
//! settles orders a crash left `pending`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use kit::calling::client::Calls;
use kit::calling::resilience::CallPolicy;
use kit::identity::keyring::KeyRing;
use kit::identity::{GATEWAY, Gate, PRODUCTS, USERS};
use kit::serving::health::Readiness;
use kit::serving::http::{Serving, Stack};
use kit::serving::internal_tls::InternalTls;
use kit::serving::server::Server;
use kit::storing::db::{Database, Pool};
use kit::storing::readers::Readers;

mod client;
mod domain;
mod http;
mod recovery;
mod saga;
mod seed;
mod settings;
mod store;
mod views;

pub use settings::{KeyFile, Options, Settings};

pub const SERVICE: &str = kit::identity::ORDERS;

/// The callers whose identity tokens this service accepts.
pub const TRUSTED: [&str; 1] = [GATEWAY];

/// The services order-service calls.
pub const CALLS: [&str; 2] = [USERS, PRODUCTS];

static MIGRATIONS: kit::storing::db::Migrations = kit::storing::db::Migrations {
    sqlite: sqlx::migrate!("./migrations/sqlite"),
    postgres: sqlx::migrate!("./migrations/postgres"),
};

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    /// Whether the demo data is created on first start (not in production).
    pub demo: bool,
    /// Base URL of user-service, such as `http://127.0.0.1:5001`.
    pub users_url: String,
    /// Base URL of product-service.
    pub products_url: String,
    /// Deadlines, retries, breakers and limits of calls to other services.
    pub calls: CallPolicy,
    /// Load shedding and the shutdown sequence.
    pub serving: Serving,
    /// How often the recovery pass runs after start-up.
    pub recovery_interval: Duration,
    /// How old a pending order must be before a periodic pass settles it.
    pub pending_grace: Duration,
    /// Whether other order-service replicas share this database. Alone, a starting
    /// process knows that every pending order and unanswered key is a leftover of a crash and
    /// settles them at once; with replicas, they may be another replica's live requests,
    /// and only the grace tells.
    pub shared_database: bool,
    /// This service's secrets and the public keys of the gateway (the only caller it
    /// answers) and of user-service and product-service (which it calls): from these it
    /// derives the keys of the tokens it checks and makes.
    pub keys: KeyRing,
    /// This service's side of mutual TLS, with its callers and with the services it calls;
    /// `None` speaks plain HTTP.
    pub internal_tls: Option<InternalTls>,
}

/// What every handler and middleware shares (see [`kit::serving::handle`]).
pub type AppState = kit::serving::handle::Handle<Shared>;

pub struct Shared {
    pool: Pool,
    /// Where the reads on every request's path go.
    readers: Readers,
    clients: client::Clients,
    /// Orders by how their placement ended: confirmed, refused, failed, settled, cancelled.
    outcomes: kit::observing::metrics::LabelledCounter,
    /// Orders whose placement ended while they were still `pending` (the release could not
    /// reach product-service): no request runs for them any more, so the next recovery
    /// pass settles them without waiting out the grace.
    unsettled: Arc<Mutex<BTreeSet<i64>>>,
}

impl Shared {
    fn unsettled(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.unsettled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Opens the database, seeds the demo order on first start, binds the server and arranges
/// for the recovery pass to run beside it.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let pool = kit::storing::db::open(&config.database, &MIGRATIONS)
        .await
        .context("order-service database")?;
    if config.demo {
        seed::demo_order(&pool).await?;
    }
    let stack = Stack::new(SERVICE, config.serving);
    stack.metrics.database_pool(&pool);
    let calls = Calls::new(config.calls, stack.metrics.clone())
        .with_internal_tls(config.internal_tls.clone());
    let signer = config.keys.signer(&CALLS)?;
    let clients = client::Clients {
        users: calls
            .upstream("users", &config.users_url)
            .signed_by(signer.clone()),
        products: calls
            .upstream("products", &config.products_url)
            .signed_by(signer),
    };
    let mut gate = config.keys.gate(&TRUSTED)?;
    if config.internal_tls.is_some() {
        gate = gate.callers_named();
    }
    config.keys.watch();
    let readers = Readers::of(&pool);
    let state = AppState::new(Shared {
        pool: pool.clone(),
        readers: readers.clone(),
        clients,
        outcomes: stack
            .metrics
            .labelled_counter("orders", "Order placements and changes, by result"),
        unsettled: Arc::default(),
    });
    let (interval, grace) = (config.recovery_interval, config.pending_grace);
    let leftovers_until = if config.shared_database {
        kit::time::now_unix() - grace.as_secs() as i64
    } else {
        recovery::start_second().await
    };
    let recovery_state = state.clone();
    let server = Server::bind(&stack, config.listen, router(state, gate, &stack)).await?;
    let server = match &config.internal_tls {
        Some(tls) => server.tls_only(tls.server_config()?),
        None => server,
    };
    Ok(server
        .with_task(move |shutdown| {
            recovery::run(recovery_state, interval, grace, leftovers_until, shutdown)
        })
        .closing(pool, readers))
}

fn router(state: AppState, gate: Gate, stack: &Stack) -> Router {
    let readiness = Readiness::new().database(state.pool.clone());
    kit::serving::http::service(
        http::routes().with_state(state),
        readiness,
        "msa-shop order-service",
        gate,
        stack,
    )
}
