//! A server that binds first (port 0 gives a free port, for tests and `msa up` alike),
//! reports its address, and on shutdown stops accepting, drains in-flight requests and
//! gives up on them after [`DRAIN_TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish once shutdown starts; below the
/// supervisor's and Kubernetes' grace periods (10 s, 30 s), so a drain never ends in SIGKILL.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

pub struct Server {
    name: &'static str,
    listener: TcpListener,
    app: Router,
}

impl Server {
    pub async fn bind(name: &'static str, addr: SocketAddr, app: Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("Failed to bind {name} to {addr}"))?;
        Ok(Self {
            name,
            listener,
            app,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("BUG: a bound listener has an address")
    }

    /// Serves until `shutdown` is cancelled and the drain has finished or timed out.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(service = self.name, %addr, "listening");
        let serve = axum::serve(
            self.listener,
            self.app
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let drain_deadline = async {
            shutdown.cancelled().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        };
        tokio::select! {
            result = serve => result.with_context(|| format!("{} server failed", self.name))?,
            () = drain_deadline => tracing::warn!(service = self.name, "drain timed out; closing open connections"),
        }
        tracing::info!(service = self.name, "stopped");
        Ok(())
    }
}
