//! Everything order-service reads at start, from flags or `MSA_*` variables with
//! documented defaults ([`Settings`]), and the [`Config`] derived from it, dependent values
//! included (the recovery grace follows from the call deadline). `msa serve orders` parses
//! exactly this; `msa up` flattens [`Options`] with the shared groups; tests start from
//! their defaults (`kit::serving::options::defaults`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kit::calling::options::{CallOptions, ProductsAt, UsersAt};
use kit::identity::ORDERS;
use kit::identity::options::TrustOptions;
use kit::serving::options::{Place, ServingOptions, ports};
use kit::storing::options::PoolOptions;

use crate::{CALLS, Config, SERVICE, TRUSTED};

/// Where order-service keeps its secret, from which it derives the keys of the tokens it
/// makes and checks.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "order-service")]
#[group(id = "orders_keyfile")]
pub struct KeyFile {
    /// order-service's key file, like --gateway-key-file
    /// [default: DATA_DIR/keys/orders.key, generated on first start].
    #[arg(long, env = "MSA_ORDERS_KEY_FILE")]
    pub orders_key_file: Option<PathBuf>,
}

/// The settings that are order-service's alone.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "order-service")]
#[group(id = "orders_options")]
pub struct Options {
    /// Port of order-service.
    #[arg(long, env = "MSA_ORDERS_PORT", default_value_t = ports::ORDERS)]
    pub orders_port: u16,

    /// PostgreSQL URL of order-service's database, like --users-database-url.
    #[arg(long, env = "MSA_ORDERS_DATABASE_URL", hide_env_values = true)]
    pub orders_database_url: Option<String>,

    /// A file holding order-service's database URL.
    #[arg(
        long,
        env = "MSA_ORDERS_DATABASE_URL_FILE",
        conflicts_with = "orders_database_url"
    )]
    pub orders_database_url_file: Option<PathBuf>,

    /// Several order-service replicas share one database (Kubernetes): a starting replica
    /// then leaves young pending orders to the grace, as they may be another's live requests.
    #[arg(long, env = "MSA_ORDERS_SHARED_DATABASE")]
    pub orders_shared_database: bool,

    /// Seconds between recovery passes of order-service.
    #[arg(long, env = "MSA_RECOVERY_INTERVAL_S", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub recovery_interval_s: u64,

    #[command(flatten)]
    pub key: KeyFile,
}

/// Everything order-service reads.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub place: Place,
    #[command(flatten)]
    pub own: Options,
    #[command(flatten)]
    pub pool: PoolOptions,
    #[command(flatten)]
    pub trust: TrustOptions,
    #[command(flatten)]
    pub internal_tls: kit::serving::internal_tls::InternalTlsOptions,
    #[command(flatten)]
    pub serving: ServingOptions,
    #[command(flatten)]
    pub calls: CallOptions,
    #[command(flatten)]
    pub users: UsersAt,
    #[command(flatten)]
    pub products: ProductsAt,
}

impl Settings {
    /// The configuration these settings describe; reads (or creates) the signing key and
    /// the key files that derive public keys not configured.
    pub fn config(&self) -> anyhow::Result<Config> {
        let data_dir = &self.place.data_dir;
        Ok(Config {
            listen: self.place.listen(self.own.orders_port),
            demo: !self.place.production,
            database: self.pool.database(
                SERVICE,
                self.own.orders_database_url.as_deref(),
                self.own.orders_database_url_file.as_deref(),
                data_dir,
            )?,
            users_url: self.users.url(&self.place),
            products_url: self.products.url(&self.place),
            calls: self.calls.policy(1),
            serving: self.serving.serving(),
            recovery_interval: Duration::from_secs(self.own.recovery_interval_s),
            pending_grace: pending_grace(self.calls.call_timeout()),
            shared_database: self.own.orders_shared_database,
            internal_tls: self.internal_tls.load(SERVICE, data_dir)?,
            keys: self.trust.ring(
                ORDERS,
                self.own.key.orders_key_file.as_deref(),
                data_dir,
                &[TRUSTED.as_slice(), CALLS.as_slice()].concat(),
            )?,
        })
    }
}

/// How old a pending order must be before a periodic pass settles it. A placement makes at
/// most three calls in a row, and no request outlives the request timeout: past both, no
/// pending order can still have a live request.
pub fn pending_grace(call_timeout: Duration) -> Duration {
    (call_timeout * 20).max(kit::serving::http::REQUEST_TIMEOUT + Duration::from_secs(5))
}
