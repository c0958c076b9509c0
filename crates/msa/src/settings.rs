//! The settings every role shares: where services listen, where data lives, how to log.
//! Each comes from a flag or an `MSA_*` environment variable, with a documented default.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use gateway::PlainHttp;
use gateway::{RateLimits, SessionPolicy};
use kit::identity::token::TokenSigner;
use kit::identity::{CallSigner, PublicKeys};
use kit::observing::telemetry::LogFormat;
use kit::serving::tls::{CertificateFiles, LocalCa};
use kit::storing::db::Database;

use crate::tuning::Tuning;

/// The four services, in the order they are started and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Users,
    Products,
    Orders,
    Gateway,
}

impl Role {
    pub const ALL: [Self; 4] = [Self::Users, Self::Products, Self::Orders, Self::Gateway];

    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Products => "products",
            Self::Orders => "orders",
            Self::Gateway => "gateway",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address every service listens on.
    #[arg(long, env = "MSA_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port of the gateway, the public entry point.
    #[arg(long, env = "MSA_GATEWAY_PORT", default_value_t = 8080)]
    pub gateway_port: u16,

    /// Port of the gateway's HTTPS listener.
    #[arg(long, env = "MSA_TLS_PORT", default_value_t = 8443)]
    pub tls_port: u16,

    /// Serve no HTTPS (for a gateway behind a proxy that terminates TLS); plain HTTP then
    /// serves the API on any address.
    #[arg(long, env = "MSA_NO_TLS")]
    pub no_tls: bool,

    /// What the gateway's plain HTTP port does: `auto` serves the API on a loopback
    /// address (or without HTTPS) and redirects to HTTPS anywhere else; `serve` always serves
    /// it (for a container whose port is published on the host's loopback only);
    /// `redirect` always redirects.
    #[arg(long, env = "MSA_PLAIN_HTTP", value_enum, default_value_t = PlainHttpMode::Auto)]
    pub plain_http: PlainHttpMode,

    /// PEM certificate chain for HTTPS [default: DATA_DIR/tls/cert.pem, signed by a local
    /// CA created on first start in DATA_DIR/tls/ca.pem].
    #[arg(long, env = "MSA_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of the HTTPS certificate.
    #[arg(long, env = "MSA_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// Comma-separated extra host names the generated certificate is valid for, besides
    /// localhost, 127.0.0.1 and ::1.
    #[arg(long, env = "MSA_TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,

    /// Port of user-service.
    #[arg(long, env = "MSA_USERS_PORT", default_value_t = 5001)]
    pub users_port: u16,

    /// Port of product-service.
    #[arg(long, env = "MSA_PRODUCTS_PORT", default_value_t = 5002)]
    pub products_port: u16,

    /// Port of order-service.
    #[arg(long, env = "MSA_ORDERS_PORT", default_value_t = 5003)]
    pub orders_port: u16,

    /// URL at which the other services reach user-service; defaults to http://HOST:USERS_PORT.
    #[arg(long, env = "MSA_USERS_URL")]
    pub users_url: Option<String>,

    /// URL at which the other services reach product-service; defaults to http://HOST:PRODUCTS_PORT.
    #[arg(long, env = "MSA_PRODUCTS_URL")]
    pub products_url: Option<String>,

    /// URL at which the gateway reaches order-service [default: http://HOST:ORDERS_PORT].
    #[arg(long, env = "MSA_ORDERS_URL")]
    pub orders_url: Option<String>,

    /// Directory of the databases (one SQLite file per service) and generated secrets.
    #[arg(long, env = "MSA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log filter: a level (error, warn, info, debug, trace) or per-module directives.
    #[arg(long, env = "MSA_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format: human-readable text, or one JSON object per line.
    #[arg(long, env = "MSA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Deadline of each call between services, in milliseconds.
    #[arg(long, env = "MSA_CALL_TIMEOUT_MS", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub call_timeout_ms: u64,

    /// Several order-service replicas share one database (Kubernetes): a starting replica
    /// then leaves young pending orders to the grace, as they may be another's live requests.
    #[arg(long, env = "MSA_ORDERS_SHARED_DATABASE")]
    pub orders_shared_database: bool,

    /// Seconds between recovery passes of order-service.
    #[arg(long, env = "MSA_RECOVERY_INTERVAL_S", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub recovery_interval_s: u64,

    /// Public key (base64url) that verifies the gateway's identity tokens
    /// [default: derived from DATA_DIR/keys/gateway.key].
    #[arg(long, env = "MSA_GATEWAY_PUBLIC_KEY")]
    pub gateway_public_key: Option<String>,

    /// Public key (base64url) that verifies order-service's identity tokens
    /// [default: derived from DATA_DIR/keys/orders.key].
    #[arg(long, env = "MSA_ORDERS_PUBLIC_KEY")]
    pub orders_public_key: Option<String>,

    /// The gateway's signing key (32-byte seed, base64url), read from this file, which must
    /// exist [default: DATA_DIR/keys/gateway.key, generated on first start].
    #[arg(long, env = "MSA_GATEWAY_KEY_FILE")]
    pub gateway_key_file: Option<PathBuf>,

    /// order-service's signing key file, like --gateway-key-file
    /// [default: DATA_DIR/keys/orders.key, generated on first start].
    #[arg(long, env = "MSA_ORDERS_KEY_FILE")]
    pub orders_key_file: Option<PathBuf>,

    /// PostgreSQL URL of user-service's database (postgres://user:password@host/db); by
    /// default an SQLite file in DATA_DIR. Kept out of command lines and logs.
    #[arg(long, env = "MSA_USERS_DATABASE_URL", hide_env_values = true)]
    pub users_database_url: Option<String>,

    /// PostgreSQL URL of product-service's database, like --users-database-url.
    #[arg(long, env = "MSA_PRODUCTS_DATABASE_URL", hide_env_values = true)]
    pub products_database_url: Option<String>,

    /// PostgreSQL URL of order-service's database, like --users-database-url.
    #[arg(long, env = "MSA_ORDERS_DATABASE_URL", hide_env_values = true)]
    pub orders_database_url: Option<String>,

    /// PostgreSQL URL of the gateway's database (sessions, API keys), like
    /// --users-database-url.
    #[arg(long, env = "MSA_GATEWAY_DATABASE_URL", hide_env_values = true)]
    pub gateway_database_url: Option<String>,

    /// A file holding user-service's database URL (a mounted secret), instead of
    /// --users-database-url.
    #[arg(
        long,
        env = "MSA_USERS_DATABASE_URL_FILE",
        conflicts_with = "users_database_url"
    )]
    pub users_database_url_file: Option<PathBuf>,

    /// A file holding product-service's database URL.
    #[arg(
        long,
        env = "MSA_PRODUCTS_DATABASE_URL_FILE",
        conflicts_with = "products_database_url"
    )]
    pub products_database_url_file: Option<PathBuf>,

    /// A file holding order-service's database URL.
    #[arg(
        long,
        env = "MSA_ORDERS_DATABASE_URL_FILE",
        conflicts_with = "orders_database_url"
    )]
    pub orders_database_url_file: Option<PathBuf>,

    /// A file holding the gateway's database URL.
    #[arg(
        long,
        env = "MSA_GATEWAY_DATABASE_URL_FILE",
        conflicts_with = "gateway_database_url"
    )]
    pub gateway_database_url_file: Option<PathBuf>,

    /// Connections each service keeps to PostgreSQL at most.
    #[arg(long, env = "MSA_DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Minutes a session may go unused before it ends.
    #[arg(long, env = "MSA_SESSION_IDLE_MINUTES", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub session_idle_minutes: u64,

    /// Hours after login at which a session ends, however busy.
    #[arg(long, env = "MSA_SESSION_LIFETIME_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u64).range(1..=720))]
    pub session_lifetime_hours: u64,

    /// Requests per second one client address may make at the gateway, sustained
    /// (bursts of twice as many pass).
    #[arg(long, env = "MSA_RATE_PER_ADDRESS", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_per_address: u32,

    /// Requests per second one API key may make, sustained.
    #[arg(long, env = "MSA_RATE_PER_KEY", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_per_key: u32,

    /// Comma-separated networks (CIDR) of proxies in front of the gateway whose
    /// X-Forwarded-For is believed; by default none is, and the peer address counts.
    #[arg(long, env = "MSA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<gateway::Cidr>,

    /// Comma-separated origins (such as https://shop.example.com) of browser front ends
    /// that may call the API with the visitor's cookie; by default none.
    #[arg(long, env = "MSA_CORS_ORIGINS", value_delimiter = ',',
          value_parser = gateway::parse_origin)]
    pub cors_origins: Vec<http::HeaderValue>,

    #[command(flatten)]
    pub tuning: Tuning,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlainHttpMode {
    Auto,
    Serve,
    Redirect,
}

impl PlainHttpMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Serve => "serve",
            Self::Redirect => "redirect",
        }
    }
}

/// The processes that sign identity tokens, each with a key file in `DATA_DIR/keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer {
    Gateway,
    Orders,
}

impl Issuer {
    pub const ALL: [Self; 2] = [Self::Gateway, Self::Orders];

    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => kit::identity::GATEWAY,
            Self::Orders => kit::identity::ORDERS,
        }
    }
}

impl Settings {
    pub fn port(&self, role: Role) -> u16 {
        match role {
            Role::Users => self.users_port,
            Role::Products => self.products_port,
            Role::Orders => self.orders_port,
            Role::Gateway => self.gateway_port,
        }
    }

    pub fn listen(&self, role: Role) -> SocketAddr {
        SocketAddr::new(self.host, self.port(role))
    }

    /// The base URL at which `role` is reached from the other services (and `msa up`).
    pub fn url(&self, role: Role) -> String {
        let explicit = match role {
            Role::Users => &self.users_url,
            Role::Products => &self.products_url,
            Role::Orders => &self.orders_url,
            Role::Gateway => &None,
        };
        explicit.clone().unwrap_or_else(|| {
            let host = match self.host {
                // A wildcard address is where to listen, not where to connect.
                IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
                IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
                IpAddr::V6(ip) => format!("[{ip}]"),
                IpAddr::V4(ip) => ip.to_string(),
            };
            format!("http://{host}:{}", self.port(role))
        })
    }

    fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.call_timeout_ms)
    }

    fn database_url(&self, role: Role) -> Option<&String> {
        match role {
            Role::Users => self.users_database_url.as_ref(),
            Role::Products => self.products_database_url.as_ref(),
            Role::Orders => self.orders_database_url.as_ref(),
            Role::Gateway => self.gateway_database_url.as_ref(),
        }
    }

    fn database_url_file(&self, role: Role) -> Option<&PathBuf> {
        match role {
            Role::Users => self.users_database_url_file.as_ref(),
            Role::Products => self.products_database_url_file.as_ref(),
            Role::Orders => self.orders_database_url_file.as_ref(),
            Role::Gateway => self.gateway_database_url_file.as_ref(),
        }
    }

    /// The service's PostgreSQL database where a URL (or a file holding one) is
    /// configured, else its SQLite file.
    fn database(&self, role: Role) -> anyhow::Result<Database> {
        let url = match (self.database_url(role), self.database_url_file(role)) {
            (Some(url), _) => Some(url.clone()),
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
                .map_err(|error| anyhow::anyhow!("the database of {}: {error}", role.name())),
            None => Ok(Database::sqlite_in(&self.data_dir, role.name())),
        }
    }

    /// The environment variable of `role`'s database URL.
    pub fn database_url_env(role: Role) -> String {
        format!("MSA_{}_DATABASE_URL", role.name().to_uppercase())
    }

    /// `role`'s database URL, if configured: it must not appear on a command line (where
    /// every user of the machine can read it), so a child gets it in its environment, and
    /// only its own.
    pub fn secret_env(&self, role: Role) -> Option<(String, String)> {
        self.database_url(role)
            .map(|url| (Self::database_url_env(role), url.clone()))
    }

    /// Where `issuer` keeps its signing key, and whether that file is configured (then it
    /// must exist: a mounted secret that is missing is an error, not a reason for a new key).
    pub fn key_file(&self, issuer: Issuer) -> (PathBuf, bool) {
        let configured = match issuer {
            Issuer::Gateway => &self.gateway_key_file,
            Issuer::Orders => &self.orders_key_file,
        };
        match configured {
            Some(path) => (path.clone(), true),
            None => (
                self.data_dir
                    .join("keys")
                    .join(format!("{}.key", issuer.name())),
                false,
            ),
        }
    }

    /// The signer of `issuer`, its key read from (or generated into) the data directory.
    fn signer(&self, issuer: Issuer) -> anyhow::Result<CallSigner> {
        let (path, configured) = self.key_file(issuer);
        if configured {
            anyhow::ensure!(
                path.is_file(),
                "the signing key file {} of {} does not exist",
                path.display(),
                issuer.name()
            );
        } else {
            kit::files::ensure_private_dir(&self.data_dir)?;
            kit::files::ensure_private_dir(&self.data_dir.join("keys"))?;
        }
        let key = kit::identity::token::load_or_generate_key(&path)?;
        Ok(CallSigner::new(TokenSigner::new(issuer.name(), key)))
    }

    /// The public key of `issuer`: as configured, or derived from its key file.
    pub fn public_key(&self, issuer: Issuer) -> anyhow::Result<String> {
        let configured = match issuer {
            Issuer::Gateway => &self.gateway_public_key,
            Issuer::Orders => &self.orders_public_key,
        };
        match configured {
            Some(text) => {
                kit::identity::token::parse_public_key(text).map_err(|reason| {
                    anyhow::anyhow!("the public key of {} is unusable: {reason}", issuer.name())
                })?;
                Ok(text.trim().to_owned())
            }
            None => Ok(self.signer(issuer)?.public_key()),
        }
    }

    /// These settings with every public key spelled out, so that child processes need not
    /// each read (or race to create) the key files.
    pub fn with_public_keys(mut self) -> anyhow::Result<Self> {
        self.gateway_public_key = Some(self.public_key(Issuer::Gateway)?);
        self.orders_public_key = Some(self.public_key(Issuer::Orders)?);
        Ok(self)
    }

    /// Every configured public key, for a service to pick those it trusts from.
    fn trust(&self) -> anyhow::Result<PublicKeys> {
        Issuer::ALL
            .into_iter()
            .try_fold(PublicKeys::default(), |keys, issuer| {
                Ok(keys.with(issuer.name(), self.public_key(issuer)?))
            })
    }

    pub fn users(&self) -> anyhow::Result<users::Config> {
        Ok(users::Config {
            listen: self.listen(Role::Users),
            database: self.database(Role::Users)?,
            data_dir: self.data_dir.clone(),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            trust: self.trust()?,
            serving: self.tuning.serving(),
        })
    }

    pub fn products(&self) -> anyhow::Result<products::Config> {
        Ok(products::Config {
            listen: self.listen(Role::Products),
            database: self.database(Role::Products)?,
            trust: self.trust()?,
            serving: self.tuning.serving(),
        })
    }

    pub fn orders(&self) -> anyhow::Result<orders::Config> {
        Ok(orders::Config {
            listen: self.listen(Role::Orders),
            database: self.database(Role::Orders)?,
            users_url: self.url(Role::Users),
            products_url: self.url(Role::Products),
            calls: self.tuning.call_policy(self.call_timeout()),
            serving: self.tuning.serving(),
            recovery_interval: Duration::from_secs(self.recovery_interval_s),
            // A placement makes at most three calls in a row, and no request outlives the
            // request timeout: past both, no pending order can still have a live request.
            pending_grace: (self.call_timeout() * 20)
                .max(kit::serving::http::REQUEST_TIMEOUT + Duration::from_secs(5)),
            shared_database: self.orders_shared_database,
            trust: self.trust()?,
            signer: self.signer(Issuer::Orders)?,
        })
    }

    /// The certificate HTTPS presents: the configured files, or the local CA's, created
    /// on first use. Also says whether the local CA was created just now.
    pub fn tls_files(&self) -> anyhow::Result<Option<(CertificateFiles, Option<LocalCa>, bool)>> {
        if self.no_tls {
            return Ok(None);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) {
            let files = CertificateFiles {
                cert: cert.clone(),
                key: key.clone(),
            };
            return Ok(Some((files, None, false)));
        }
        kit::files::ensure_private_dir(&self.data_dir)?;
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        if !self.host.is_unspecified() && !self.host.is_loopback() {
            names.push(self.host.to_string());
        }
        names.extend(self.tls_names.iter().cloned());
        let (ca, created) = LocalCa::ensure(&self.data_dir.join("tls"), &names)?;
        Ok(Some((ca.server.clone(), Some(ca), created)))
    }

    /// What plain HTTP does: serve the API on loopback (or when HTTPS is off), else
    /// redirect to HTTPS, so that nothing readable by the network carries a cookie.
    pub fn plain_http(&self) -> PlainHttp {
        match self.plain_http {
            PlainHttpMode::Serve => PlainHttp::Serve,
            PlainHttpMode::Redirect => PlainHttp::RedirectToHttps,
            PlainHttpMode::Auto if self.host.is_loopback() || self.no_tls => PlainHttp::Serve,
            PlainHttpMode::Auto => PlainHttp::RedirectToHttps,
        }
    }

    pub fn gateway(&self) -> anyhow::Result<gateway::Config> {
        let tls = self.tls_files()?.map(|(files, _, _)| gateway::Tls {
            listen: SocketAddr::new(self.host, self.tls_port),
            files,
        });
        Ok(gateway::Config {
            tls,
            plain_http: self.plain_http(),
            listen: self.listen(Role::Gateway),
            users_url: self.url(Role::Users),
            products_url: self.url(Role::Products),
            orders_url: self.url(Role::Orders),
            // Order placement makes up to three calls in a row, each with its own deadline.
            calls: self.tuning.call_policy(self.call_timeout() * 4),
            serving: self.tuning.serving(),
            database: self.database(Role::Gateway)?,
            signer: self.signer(Issuer::Gateway)?,
            sessions: SessionPolicy {
                idle: Duration::from_secs(self.session_idle_minutes * 60),
                lifetime: Duration::from_secs(self.session_lifetime_hours * 3600),
            },
            rates: RateLimits {
                per_address: self.rate_per_address,
                per_key: self.rate_per_key,
            },
            trusted_proxies: self.trusted_proxies.clone(),
            cors_origins: self.cors_origins.clone(),
        })
    }

    /// The same settings as command-line flags, to hand to a child process.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--host={}", self.host),
            format!("--gateway-port={}", self.gateway_port),
            format!("--tls-port={}", self.tls_port),
            format!("--plain-http={}", self.plain_http.as_str()),
            format!("--users-port={}", self.users_port),
            format!("--products-port={}", self.products_port),
            format!("--orders-port={}", self.orders_port),
            format!("--data-dir={}", self.data_dir.display()),
            format!("--log-level={}", self.log_level),
            format!("--log-format={}", self.log_format.as_str()),
            format!("--call-timeout-ms={}", self.call_timeout_ms),
            format!("--recovery-interval-s={}", self.recovery_interval_s),
            format!(
                "--database-max-connections={}",
                self.database_max_connections
            ),
            format!("--session-idle-minutes={}", self.session_idle_minutes),
            format!("--session-lifetime-hours={}", self.session_lifetime_hours),
            format!("--rate-per-address={}", self.rate_per_address),
            format!("--rate-per-key={}", self.rate_per_key),
        ];
        args.extend(self.tuning.to_args());
        if self.orders_shared_database {
            args.push("--orders-shared-database".to_owned());
        }
        if self.no_tls {
            args.push("--no-tls".to_owned());
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) {
            args.push(format!("--tls-cert-file={}", cert.display()));
            args.push(format!("--tls-key-file={}", key.display()));
        }
        if !self.tls_names.is_empty() {
            args.push(format!("--tls-names={}", self.tls_names.join(",")));
        }
        if !self.trusted_proxies.is_empty() {
            let list: Vec<String> = self
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect();
            args.push(format!("--trusted-proxies={}", list.join(",")));
        }
        if !self.cors_origins.is_empty() {
            let list: Vec<&str> = self
                .cors_origins
                .iter()
                .filter_map(|origin| origin.to_str().ok())
                .collect();
            args.push(format!("--cors-origins={}", list.join(",")));
        }
        for (flag, value) in [
            ("users-url", &self.users_url),
            ("products-url", &self.products_url),
            ("orders-url", &self.orders_url),
            ("gateway-public-key", &self.gateway_public_key),
            ("orders-public-key", &self.orders_public_key),
        ] {
            if let Some(value) = value {
                args.push(format!("--{flag}={value}"));
            }
        }
        for (flag, value) in [
            ("gateway-key-file", &self.gateway_key_file),
            ("orders-key-file", &self.orders_key_file),
            ("users-database-url-file", &self.users_database_url_file),
            (
                "products-database-url-file",
                &self.products_database_url_file,
            ),
            ("orders-database-url-file", &self.orders_database_url_file),
            ("gateway-database-url-file", &self.gateway_database_url_file),
        ] {
            if let Some(path) = value {
                args.push(format!("--{flag}={}", path.display()));
            }
        }
        args
    }
}
