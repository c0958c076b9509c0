//! product-service: owns the catalogue, stock and stock reservations.
//!
//! Catalogue requests arrive through the gateway ([`http`]); reservations arrive from
//! order-service on `/internal/reservations` ([`reservations`]). Handlers parse input into
//! [`domain`] types and call
//! [`store`], where every stock movement happens in one transaction together with the
//! reservation row that explains it. It calls no other service.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use kit::identity::keyring::KeyRing;
use kit::identity::{GATEWAY, Gate, ORDERS};
use kit::serving::health::Readiness;
use kit::serving::http::{Serving, Stack};
use kit::serving::internal_tls::InternalTls;
use kit::serving::server::Server;
use kit::storing::db::{Database, Pool};
use kit::storing::readers::Readers;

mod domain;
mod http;
mod reservations;
mod seed;
mod settings;
mod store;

pub use settings::{KeyFile, Options, Settings};

pub const SERVICE: &str = kit::identity::PRODUCTS;

/// The callers whose identity tokens this service accepts.
pub const TRUSTED: [&str; 2] = [GATEWAY, ORDERS];

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
    /// This service's secrets and the public keys of the gateway and order-service, whose
    /// calls it answers: from these it derives the key of each caller's tokens.
    pub keys: KeyRing,
    /// Load shedding and the shutdown sequence.
    pub serving: Serving,
    /// This service's side of mutual TLS with its callers; `None` serves plain HTTP.
    pub internal_tls: Option<InternalTls>,
}

#[derive(Clone)]
pub struct AppState {
    pool: Pool,
    /// Where the reads on every request's path go.
    readers: Readers,
    /// Counts reservations by outcome: held, refused, released.
    reservations: kit::observing::metrics::LabelledCounter,
}

/// Opens the database, seeds the demo catalogue on first start, and binds the server.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let pool = kit::storing::db::open(&config.database, &MIGRATIONS)
        .await
        .context("product-service database")?;
    if config.demo {
        seed::demo_catalogue(&pool).await?;
    }
    let mut gate = config.keys.gate(&TRUSTED)?;
    if config.internal_tls.is_some() {
        gate = gate.callers_named();
    }
    config.keys.watch();
    let stack = Stack::new(SERVICE, config.serving);
    stack.metrics.database_pool(&pool);
    let reservations = stack.metrics.labelled_counter(
        "stock_reservations",
        "Stock reservations asked for by order-service, by outcome",
    );
    let readers = Readers::of(&pool);
    let app = router(
        AppState {
            pool: pool.clone(),
            readers: readers.clone(),
            reservations,
        },
        gate,
        &stack,
    );
    let server = Server::bind(&stack, config.listen, app).await?;
    let server = match &config.internal_tls {
        Some(tls) => server.tls_only(tls.server_config()?),
        None => server,
    };
    Ok(server.closing(pool, readers))
}

fn router(state: AppState, gate: Gate, stack: &Stack) -> Router {
    let readiness = Readiness::new().database(state.pool.clone());
    kit::serving::http::service(
        http::routes()
            .merge(reservations::routes())
            .with_state(state),
        readiness,
        "msa-shop product-service",
        gate,
        stack,
    )
}
