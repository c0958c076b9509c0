//! user-service: owns users and their credentials.
//!
//! A request arrives from the gateway (or, later, from order-service with its own signed
//! token), passes the common stack of `kit::serving::http`, and reaches a handler in [`http`] that
//! parses the body into [`domain`] types, hashes passwords on a bounded blocking pool
//! ([`password`]) and reads or writes the `users` table through [`store`]. It calls no
//! other service. What it reads at start is [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;

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

pub mod admin;
mod credentials;
mod domain;
mod http;
mod password;
mod seed;
mod settings;
mod store;

pub use settings::{KeyFile, Options, Settings};

pub const SERVICE: &str = kit::identity::USERS;

/// The callers whose identity tokens this service accepts.
pub const TRUSTED: [&str; 2] = [GATEWAY, ORDERS];

static MIGRATIONS: kit::storing::db::Migrations = kit::storing::db::Migrations {
    sqlite: sqlx::migrate!("./migrations/sqlite"),
    postgres: sqlx::migrate!("./migrations/postgres"),
};

/// Everything user-service needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    /// Where the demo credentials file is written on first start.
    pub data_dir: PathBuf,
    /// Whether the demo accounts are created on first start (not in production).
    pub demo: bool,
    /// How many password hashes may run at once (one per core is the sensible ceiling).
    pub hash_concurrency: usize,
    /// This service's secrets and the public keys of the gateway and order-service, whose
    /// calls it answers: from these it derives the key of each caller's tokens.
    pub keys: KeyRing,
    /// Load shedding and the shutdown sequence.
    pub serving: Serving,
    /// This service's side of mutual TLS with its callers; `None` serves plain HTTP.
    pub internal_tls: Option<InternalTls>,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pool: Pool,
    /// Where the reads on every request's path go.
    readers: Readers,
    hasher: password::Hasher,
}

/// Opens the database, seeds the demo users on first start, and binds the server.
pub async fn build(config: Config) -> anyhow::Result<Server> {
    let pool = kit::storing::db::open(&config.database, &MIGRATIONS)
        .await
        .context("user-service database")?;
    let hasher = password::Hasher::new(config.hash_concurrency)?;
    if config.demo {
        seed::demo_users(&pool, &hasher, &config.data_dir).await?;
    }
    let mut gate = config.keys.gate(&TRUSTED)?;
    if config.internal_tls.is_some() {
        gate = gate.callers_named();
    }
    config.keys.watch();
    let stack = Stack::new(SERVICE, config.serving);
    stack.metrics.database_pool(&pool);
    let readers = Readers::of(&pool);
    let app = router(
        AppState {
            pool: pool.clone(),
            readers: readers.clone(),
            hasher,
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

/// The complete application: API routes, health, the OpenAPI document and the common stack.
fn router(state: AppState, gate: Gate, stack: &Stack) -> Router {
    let readiness = Readiness::new().database(state.pool.clone());
    kit::serving::http::service(
        http::routes()
            .merge(credentials::routes())
            .with_state(state),
        readiness,
        "msa-shop user-service",
        gate,
        stack,
    )
}
