//! Which database a service uses: its SQLite file in the data directory unless a
//! PostgreSQL URL is configured, directly or in a file (a mounted secret). Each service
//! declares its own URL flags (`--users-database-url`, ...); the pool size is shared.

use std::path::Path;

use clap::Args;

use crate::storing::db::Database;

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database")]
pub struct PoolOptions {
    /// Connections each service keeps to PostgreSQL at most.
    #[arg(long, env = "MSA_DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
}

impl PoolOptions {
    /// The database of `service`: PostgreSQL at `url`, or at the URL held in `url_file`,
    /// else the SQLite file `<service>.db` in `data_dir`.
    pub fn database(
        &self,
        service: &str,
        url: Option<&str>,
        url_file: Option<&Path>,
        data_dir: &Path,
    ) -> anyhow::Result<Database> {
        let url = match (url, url_file) {
            (Some(url), _) => Some(url.to_owned()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        match url {
            Some(url) => Database::postgres(&url, self.database_max_connections)
                .map_err(|error| anyhow::anyhow!("the database of {service}: {error}")),
            None => Ok(Database::sqlite_in(data_dir, service)),
        }
    }
}
