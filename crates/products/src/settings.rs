//! Everything product-service reads at start, from flags or `MSA_*` variables with
//! documented defaults ([`Settings`]), and the [`Config`] derived from it. `msa serve
//! products` parses exactly this; `msa up` flattens [`Options`] with the shared groups;
//! tests start from their defaults
//! (`kit::serving::options::defaults`).

use std::path::PathBuf;

use clap::Args;
use kit::identity::options::TrustOptions;
use kit::serving::options::{Place, ServingOptions, ports};
use kit::storing::options::PoolOptions;

use crate::{Config, SERVICE, TRUSTED};

/// The settings that are product-service's alone.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "product-service")]
#[group(id = "products_options")]
pub struct Options {
    /// Port of product-service.
    #[arg(long, env = "MSA_PRODUCTS_PORT", default_value_t = ports::PRODUCTS)]
    pub products_port: u16,

    /// PostgreSQL URL of product-service's database, like --users-database-url.
    #[arg(long, env = "MSA_PRODUCTS_DATABASE_URL", hide_env_values = true)]
    pub products_database_url: Option<String>,

    /// A file holding product-service's database URL.
    #[arg(
        long,
        env = "MSA_PRODUCTS_DATABASE_URL_FILE",
        conflicts_with = "products_database_url"
    )]
    pub products_database_url_file: Option<PathBuf>,

    #[command(flatten)]
    pub key: KeyFile,
}

/// Where product-service keeps its secret, from which it derives the keys of its callers' tokens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "product-service")]
#[group(id = "products_keyfile")]
pub struct KeyFile {
    /// product-service's key file, like --gateway-key-file
    /// [default: DATA_DIR/keys/products.key, generated on first start].
    #[arg(long, env = "MSA_PRODUCTS_KEY_FILE")]
    pub products_key_file: Option<PathBuf>,
}

/// Everything product-service reads.
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
}

impl Settings {
    /// The configuration these settings describe; reads (or creates) the key files that
    /// derive public keys not configured.
    pub fn config(&self) -> anyhow::Result<Config> {
        Ok(Config {
            listen: self.place.listen(self.own.products_port),
            demo: !self.place.production,
            database: self.pool.database(
                SERVICE,
                self.own.products_database_url.as_deref(),
                self.own.products_database_url_file.as_deref(),
                &self.place.data_dir,
            )?,
            keys: self.trust.ring(
                SERVICE,
                self.own.key.products_key_file.as_deref(),
                &self.place.data_dir,
                &TRUSTED,
            )?,
            serving: self.serving.serving(),
            internal_tls: self.internal_tls.load(SERVICE, &self.place.data_dir)?,
        })
    }
}
