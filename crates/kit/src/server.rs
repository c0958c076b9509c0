//! A server that binds first (port 0 gives a free port, for tests and `msa up` alike),
//! reports its address, and on shutdown stops accepting, drains in-flight requests and
//! gives up on them after [`DRAIN_TIMEOUT`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long in-flight requests may take to finish once shutdown starts; below the
/// supervisor's and Kubernetes' grace periods (10 s, 30 s), so a drain never ends in SIGKILL.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

/// Work that runs beside the server for as long as it serves, such as a recovery loop.
type BackgroundTask = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

pub struct Server {
    name: &'static str,
    listener: TcpListener,
    app: Router,
    tasks: Vec<BackgroundTask>,
    pools: Vec<crate::db::Pool>,
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
            tasks: Vec::new(),
            pools: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("BUG: a bound listener has an address")
    }

    /// Adds a task that starts with the server and is told to stop (through its token) when
    /// the server shuts down; the server waits for it before `run` returns.
    pub fn with_task<F, Fut>(mut self, task: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(Box::new(move |token| {
            Box::pin(task(token)) as BoxFuture<'static, ()>
        }));
        self
    }

    /// Closes `pool` once the server has drained, so the database is left consistent and,
    /// for SQLite, checkpointed (no leftover WAL file).
    pub fn closing(mut self, pool: crate::db::Pool) -> Self {
        self.pools.push(pool);
        self
    }

    /// Serves until `shutdown` is cancelled and the drain has finished or timed out.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(service = self.name, %addr, "listening");
        let tasks: Vec<_> = self
            .tasks
            .into_iter()
            .map(|task| tokio::spawn(task(shutdown.child_token())))
            .collect();
        let serve = axum::serve(
            self.listener,
            self.app.into_make_service_with_connect_info::<SocketAddr>(),
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
        shutdown.cancel();
        for task in tasks {
            let _ = task.await;
        }
        for pool in self.pools {
            pool.close().await;
        }
        tracing::info!(service = self.name, "stopped");
        Ok(())
    }
}
