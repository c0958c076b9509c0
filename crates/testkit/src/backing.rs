//! Where the services of a test keep their data.

/// Where the services of a test system keep their data: fresh SQLite files by default, or,
/// when `MSA_TEST_POSTGRES_URL` names a PostgreSQL server (a URL of a user allowed to create
/// databases), one fresh database per service there.
#[derive(Debug, Clone)]
pub(crate) enum Backing {
    Sqlite,
    Postgres { server: String, prefix: String },
}

/// The variable that switches the system tests to PostgreSQL.
pub const POSTGRES_ENV: &str = "MSA_TEST_POSTGRES_URL";

impl Backing {
    pub(crate) async fn from_env() -> Self {
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
    pub(crate) fn database_url(&self, service: &str) -> Option<String> {
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
