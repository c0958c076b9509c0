//! The settings every service reads to serve: where it listens and keeps its files, and
//! how it protects itself under load and while stopping. Each is a flag or an `MSA_*`
//! environment variable with a documented default; `msa` flattens these groups into every
//! command that runs a service, and tests start from the same defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::serving::clients::PerClient;
use crate::serving::http::{DEFAULT_MAX_IN_FLIGHT, Serving};
use crate::serving::listener::ConnectionLimits;

/// The ports the services listen on unless told otherwise, and where the others look for
/// them: one list, so that a default is written once.
pub mod ports {
    pub const USERS: u16 = 5001;
    pub const PRODUCTS: u16 = 5002;
    pub const ORDERS: u16 = 5003;
    pub const GATEWAY: u16 = 8080;
    pub const GATEWAY_TLS: u16 = 8443;
}

/// Where a service listens and keeps its data.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Where it runs")]
pub struct Place {
    /// Address every service listens on.
    #[arg(long, env = "MSA_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Directory of the databases (one SQLite file per service) and generated secrets.
    #[arg(long, env = "MSA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Production: no demo accounts, products or orders are created on first start; the
    /// first administrator comes from `msa admin create`.
    #[arg(long, env = "MSA_PRODUCTION")]
    pub production: bool,
}

impl Place {
    pub fn listen(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.host, port)
    }

    /// The base URL at which a service listening on `port` here is reached.
    pub fn url(&self, port: u16) -> String {
        let host = match self.host {
            // A wildcard address is where to listen, not where to connect.
            IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        format!("http://{host}:{port}")
    }
}

/// Load shedding, the shutdown sequence and trace export.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Serving")]
pub struct ServingOptions {
    /// Requests each service serves at once; more are refused with 503 and Retry-After.
    #[arg(long, env = "MSA_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT as u32,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Milliseconds a stopping service goes on serving while `/readyz` already fails, so
    /// that a load balancer stops sending it requests first (about 5000 on Kubernetes).
    #[arg(long, env = "MSA_SHUTDOWN_DELAY_MS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub shutdown_delay_ms: u64,

    /// OpenTelemetry collector (OTLP over HTTP, such as http://collector:4318) to which
    /// every service sends its trace spans; off when unset.
    #[arg(long, env = "MSA_OTLP_ENDPOINT", value_parser = parse_endpoint)]
    pub otlp_endpoint: Option<String>,

    #[command(flatten)]
    pub connections: ConnectionOptions,
}

/// How long a server waits on its clients, and how many connections and requests it and
/// each client address may hold. The defaults are close to Envoy's edge settings and
/// nginx's, where those have one (see docs/security.md).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connections")]
pub struct ConnectionOptions {
    /// Milliseconds a client has to send a request's headers, from connecting or from the
    /// previous answer; the TLS handshake counts. Past it the connection is closed.
    #[arg(long, env = "MSA_HEADER_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub header_timeout_ms: u64,

    /// Milliseconds a client has to send a whole request body after its headers; past it,
    /// 408 and the connection is closed. The body is read before the request is admitted.
    #[arg(long, env = "MSA_BODY_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub body_timeout_ms: u64,

    /// MiB of request bodies a service holds in memory while it receives them, all clients
    /// together; past it a body gets 503. At the gateway, one client address gets an eighth.
    #[arg(long, env = "MSA_MAX_BODY_MEMORY_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(8..=65_536))]
    pub max_body_memory_mb: u32,

    /// Milliseconds a connection with no request in flight stays open.
    #[arg(long, env = "MSA_IDLE_TIMEOUT_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..=3_600_000))]
    pub idle_timeout_ms: u64,

    /// Connections open at once, all clients together; more are closed at once.
    #[arg(long, env = "MSA_MAX_CONNECTIONS", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Connections one client address (an IPv6 /64) may hold open at the gateway; more are
    /// closed at once. Behind a proxy, every client is the proxy: raise it there.
    #[arg(long, env = "MSA_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: u32,

    /// Requests one client address (an IPv6 /64) may have in flight at the gateway; more
    /// are refused with 429.
    #[arg(long, env = "MSA_MAX_IN_FLIGHT_PER_CLIENT", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight_per_client: u32,

    /// Concurrent streams of one HTTP/2 connection.
    #[arg(long, env = "MSA_HTTP2_MAX_STREAMS", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub http2_max_streams: u32,
}

impl ConnectionOptions {
    pub fn limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms),
            body_memory: self.max_body_memory_mb as usize * 1024 * 1024,
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_connections: self.max_connections as usize,
            per_client: PerClient {
                connections: self.max_connections_per_client as usize,
                requests: self.max_in_flight_per_client as usize,
                body_bytes: self.max_body_memory_mb as usize * 1024 * 1024 / 8,
            },
            http2_max_streams: self.http2_max_streams,
        }
    }
}

fn parse_endpoint(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|error| error.to_string())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL with a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the URL".to_owned());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

impl ServingOptions {
    pub fn serving(&self) -> Serving {
        Serving {
            max_in_flight: self.max_in_flight as usize,
            shutdown_delay: Duration::from_millis(self.shutdown_delay_ms),
            otlp_endpoint: self.otlp_endpoint.clone(),
            connections: self.connections.limits(),
        }
    }
}

/// A settings group as the environment and its defaults give it, with no command line:
/// where tests start from, so that they run with what an operator would get. Fails only
/// for an `MSA_*` variable that does not parse.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> Result<T, clap::Error> {
    let matches =
        T::augment_args(clap::Command::new("defaults")).try_get_matches_from(["defaults"])?;
    T::from_arg_matches(&matches)
}
