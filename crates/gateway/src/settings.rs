//! Everything the gateway reads at start, from flags or `MSA_*` variables with documented
//! defaults ([`Settings`]), and the [`Config`] derived from it: the HTTPS certificate (the
//! local CA's unless files are given), what plain HTTP does, the deadline of forwarded
//! calls. `msa serve gateway` parses exactly this; `msa up` flattens [`Options`] with the
//! shared groups; tests start from their defaults
//! (`kit::serving::options::defaults`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use kit::calling::options::{CallOptions, OrdersAt, ProductsAt, UsersAt};
use kit::identity::options::TrustOptions;
use kit::identity::{GATEWAY, ORDERS, PRODUCTS, USERS};
use kit::serving::options::{Place, ServingOptions, ports};
use kit::serving::tls::{CertificateFiles, LocalCa};
use kit::storing::options::PoolOptions;

use crate::{Cidr, Config, PlainHttp, RateLimits, SERVICE, SessionPolicy, Tls};

/// What the gateway's plain HTTP port does, as an operator says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlainHttpMode {
    Auto,
    Serve,
    Redirect,
}

/// The services the gateway forwards to, each checking the gateway's tokens.
pub const CALLS: [&str; 3] = [USERS, PRODUCTS, ORDERS];

/// Where the gateway keeps its secret, from which it derives the key of the tokens of every
/// forwarded request.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "gateway")]
#[group(id = "gateway_keyfile")]
pub struct KeyFile {
    /// The gateway's secret (32 bytes, base64url, one per line: the current one first,
    /// others while a rotation is under way), read from this file, which must exist and is
    /// re-read when it changes [default: DATA_DIR/keys/gateway.key, generated on first
    /// start].
    #[arg(long, env = "MSA_GATEWAY_KEY_FILE")]
    pub gateway_key_file: Option<PathBuf>,
}

/// The settings that are the gateway's alone.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "gateway")]
#[group(id = "gateway_options")]
pub struct Options {
    /// Port of the gateway, the public entry point.
    #[arg(long, env = "MSA_GATEWAY_PORT", default_value_t = ports::GATEWAY)]
    pub gateway_port: u16,

    /// Port of the gateway's HTTPS listener.
    #[arg(long, env = "MSA_TLS_PORT", default_value_t = ports::GATEWAY_TLS)]
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

    /// PostgreSQL URL of the gateway's database (sessions, API keys), like
    /// --users-database-url.
    #[arg(long, env = "MSA_GATEWAY_DATABASE_URL", hide_env_values = true)]
    pub gateway_database_url: Option<String>,

    /// A file holding the gateway's database URL.
    #[arg(
        long,
        env = "MSA_GATEWAY_DATABASE_URL_FILE",
        conflicts_with = "gateway_database_url"
    )]
    pub gateway_database_url_file: Option<PathBuf>,

    #[command(flatten)]
    pub key: KeyFile,

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

    /// Days the security audit trail keeps an event.
    #[arg(long, env = "MSA_SECURITY_EVENTS_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub security_events_days: u32,

    /// The most security events the audit trail keeps; the oldest go first.
    #[arg(long, env = "MSA_SECURITY_EVENTS_MAX", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub security_events_max: u64,

    /// Comma-separated networks (CIDR) of proxies in front of the gateway whose
    /// X-Forwarded-For is believed; by default none is, and the peer address counts.
    #[arg(long, env = "MSA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Cidr>,

    /// Comma-separated origins (such as https://shop.example.com) of browser front ends
    /// that may call the API with the visitor's cookie; by default none.
    #[arg(long, env = "MSA_CORS_ORIGINS", value_delimiter = ',',
          value_parser = crate::parse_origin)]
    pub cors_origins: Vec<http::HeaderValue>,
}

/// Everything the gateway reads.
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
    #[command(flatten)]
    pub orders: OrdersAt,
}

/// The certificate HTTPS presents, and the local CA that signed it, if it is ours.
pub struct TlsFiles {
    pub files: CertificateFiles,
    pub local_ca: Option<LocalCa>,
    /// Whether the local CA was created just now (its certificate is then news to tell).
    pub created: bool,
}

impl Settings {
    /// The configuration these settings describe; reads (or creates) the signing key and
    /// the local CA.
    pub fn config(&self) -> anyhow::Result<Config> {
        let own = &self.own;
        let data_dir = &self.place.data_dir;
        let keys = self.trust.ring(
            GATEWAY,
            own.key.gateway_key_file.as_deref(),
            data_dir,
            &CALLS,
        )?;
        let tls = self.tls_files()?.map(|tls| Tls {
            listen: self.place.listen(own.tls_port),
            files: tls.files,
        });
        Ok(Config {
            tls,
            plain_http: self.plain_http(),
            internal_tls: self.internal_tls.load(SERVICE, data_dir)?,
            listen: self.place.listen(own.gateway_port),
            users_url: self.users.url(&self.place),
            products_url: self.products.url(&self.place),
            orders_url: self.orders.url(&self.place),
            // Order placement makes up to three calls in a row, each with its own deadline;
            // the gateway waits for them all, so that order-service answers 503/504 first.
            calls: self.calls.policy(4),
            serving: self.serving.serving(),
            database: self.pool.database(
                SERVICE,
                own.gateway_database_url.as_deref(),
                own.gateway_database_url_file.as_deref(),
                data_dir,
            )?,
            // From the secret current at start: a rotation changes it at the next restart,
            // when forms shown before it are refused once and shown again.
            form_key: keys
                .current_secret()?
                .derive("msa-shop storefront form tokens v1"),
            keys,
            sessions: SessionPolicy {
                idle: Duration::from_secs(own.session_idle_minutes * 60),
                lifetime: Duration::from_secs(own.session_lifetime_hours * 3600),
            },
            rates: RateLimits {
                per_address: own.rate_per_address,
                per_key: own.rate_per_key,
            },
            trusted_proxies: own.trusted_proxies.clone(),
            cors_origins: own.cors_origins.clone(),
            security_events: crate::trail::Retention {
                days: own.security_events_days,
                rows: own.security_events_max,
            },
        })
    }

    /// The certificate HTTPS presents: the configured files, or the local CA's, created
    /// on first use. `None` without HTTPS.
    pub fn tls_files(&self) -> anyhow::Result<Option<TlsFiles>> {
        let own = &self.own;
        if own.no_tls {
            return Ok(None);
        }
        if let (Some(cert), Some(key)) = (&own.tls_cert_file, &own.tls_key_file) {
            return Ok(Some(TlsFiles {
                files: CertificateFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                local_ca: None,
                created: false,
            }));
        }
        let data_dir = &self.place.data_dir;
        kit::files::ensure_private_dir(data_dir)?;
        let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec();
        let host = self.place.host;
        if !host.is_unspecified() && !host.is_loopback() {
            names.push(host.to_string());
        }
        names.extend(own.tls_names.iter().cloned());
        let (ca, created) = LocalCa::ensure(&data_dir.join("tls"), &names)?;
        Ok(Some(TlsFiles {
            files: ca.server.clone(),
            local_ca: Some(ca),
            created,
        }))
    }

    /// What plain HTTP does: serve the API on loopback (or when HTTPS is off), else
    /// redirect to HTTPS, so that nothing readable by the network carries a cookie.
    pub fn plain_http(&self) -> PlainHttp {
        match self.own.plain_http {
            PlainHttpMode::Serve => PlainHttp::Serve,
            PlainHttpMode::Redirect => PlainHttp::RedirectToHttps,
            PlainHttpMode::Auto if self.place.host.is_loopback() || self.own.no_tls => {
                PlainHttp::Serve
            }
            PlainHttpMode::Auto => PlainHttp::RedirectToHttps,
        }
    }
}
