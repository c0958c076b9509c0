//! Everything user-service reads at start, from flags or `MSA_*` variables with documented
//! defaults ([`Settings`]), and the [`Config`] derived from it. `msa serve users` parses
//! exactly this; `msa up` flattens [`Options`] with the shared groups; tests start from
//! their defaults (`kit::serving::options::defaults`).

use std::path::PathBuf;

use clap::Args;
use kit::identity::options::TrustOptions;
use kit::serving::options::{Place, ServingOptions, ports};
use kit::storing::options::PoolOptions;

use crate::{Config, SERVICE, TRUSTED};

/// The settings that are user-service's alone.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "user-service")]
#[group(id = "users_options")]
pub struct Options {
    /// Port of user-service.
    #[arg(long, env = "MSA_USERS_PORT", default_value_t = ports::USERS)]
    pub users_port: u16,

    /// PostgreSQL URL of user-service's database (postgres://user:password@host/db); by
    /// default an SQLite file in DATA_DIR. Kept out of command lines and logs.
    #[arg(long, env = "MSA_USERS_DATABASE_URL", hide_env_values = true)]
    pub users_database_url: Option<String>,

    /// A file holding user-service's database URL (a mounted secret), instead of
    /// --users-database-url.
    #[arg(
        long,
        env = "MSA_USERS_DATABASE_URL_FILE",
        conflicts_with = "users_database_url"
    )]
    pub users_database_url_file: Option<PathBuf>,

    #[command(flatten)]
    pub key: KeyFile,
}

/// Where user-service keeps its secret, from which it derives the keys of its callers' tokens.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "user-service")]
#[group(id = "users_keyfile")]
pub struct KeyFile {
    /// user-service's key file, like --gateway-key-file
    /// [default: DATA_DIR/keys/users.key, generated on first start].
    #[arg(long, env = "MSA_USERS_KEY_FILE")]
    pub users_key_file: Option<PathBuf>,
}

/// Everything user-service reads.
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
            listen: self.place.listen(self.own.users_port),
            database: self.pool.database(
                SERVICE,
                self.own.users_database_url.as_deref(),
                self.own.users_database_url_file.as_deref(),
                &self.place.data_dir,
            )?,
            data_dir: self.place.data_dir.clone(),
            demo: !self.place.production,
            // Argon2 is CPU-bound: more hashes at once than cores only queue inside.
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            keys: self.trust.ring(
                SERVICE,
                self.own.key.users_key_file.as_deref(),
                &self.place.data_dir,
                &TRUSTED,
            )?,
            serving: self.serving.serving(),
            internal_tls: self.internal_tls.load(SERVICE, &self.place.data_dir)?,
        })
    }
}
