//! `msa serve <service>`: one service in this process, until SIGINT/SIGTERM, or until the
//! supervising `msa up` goes away. Each service parses only the settings it reads, so its
//! `--help` lists those alone.

use clap::Subcommand;
use kit::observing::telemetry::LogOptions;
use kit::serving::shutdown::CancellationToken;
use tokio::io::AsyncReadExt;

/// Set by `msa up` for its children: stdin is then a pipe from the supervisor, and its end
/// means the supervisor died, even by SIGKILL, so the child stops instead of living on as
/// an orphan that holds its port.
pub const SUPERVISED_ENV: &str = "MSA_SUPERVISED";

#[derive(Debug, Subcommand)]
pub enum Service {
    /// user-service: accounts and their credentials.
    Users {
        #[command(flatten)]
        log: LogOptions,
        #[command(flatten)]
        settings: users::Settings,
    },
    /// product-service: the catalogue, stock and stock reservations.
    Products {
        #[command(flatten)]
        log: LogOptions,
        #[command(flatten)]
        settings: products::Settings,
    },
    /// order-service: orders, placed through a saga with product-service.
    Orders {
        #[command(flatten)]
        log: LogOptions,
        #[command(flatten)]
        settings: orders::Settings,
    },
    /// The gateway: the one public entry point, and the trust boundary.
    Gateway {
        #[command(flatten)]
        log: LogOptions,
        #[command(flatten)]
        settings: gateway::Settings,
    },
}

impl Service {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Users { .. } => users::SERVICE,
            Self::Products { .. } => products::SERVICE,
            Self::Orders { .. } => orders::SERVICE,
            Self::Gateway { .. } => gateway::SERVICE,
        }
    }

    pub fn log(&self) -> &LogOptions {
        match self {
            Self::Users { log, .. }
            | Self::Products { log, .. }
            | Self::Orders { log, .. }
            | Self::Gateway { log, .. } => log,
        }
    }
}

pub async fn run(service: Service) -> anyhow::Result<()> {
    let shutdown = kit::serving::shutdown::on_signal();
    if std::env::var_os(SUPERVISED_ENV).is_some() {
        watch_supervisor(shutdown.clone());
    }
    let server = match service {
        Service::Users { settings, .. } => users::build(settings.config()?).await?,
        Service::Products { settings, .. } => products::build(settings.config()?).await?,
        Service::Orders { settings, .. } => orders::build(settings.config()?).await?,
        Service::Gateway { settings, .. } => gateway::build(settings.config()?).await?,
    };
    server.run(shutdown).await
}

fn watch_supervisor(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        let end = loop {
            match stdin.read(&mut buf).await {
                Ok(0) => break "end of input".to_owned(),
                Ok(_) => {}
                Err(error) => break error.to_string(),
            }
        };
        shutdown.cancel();
        tracing::warn!(reason = end, "supervisor is gone; shutting down");
    });
}
