//! A server that binds first (port 0 gives a free port, for tests and `msa up` alike),
//! reports its address, and on shutdown stops accepting, drains in-flight requests and
//! gives up on them after [`DRAIN_TIMEOUT`].
//!
//! A server may also listen for HTTPS ([`Server::with_tls`]) on a second port, serving its
//! own router (the same routes, with HSTS) over rustls, with the same drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::serving::listener::Connections;

/// How long in-flight requests may take to finish once shutdown starts; below the
/// supervisor's and Kubernetes' grace periods (10 s, 30 s), so a drain never ends in SIGKILL.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

/// The HTTPS side of a server.
struct TlsListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
}

/// Work that runs beside the server for as long as it serves, such as a recovery loop.
type BackgroundTask = Box<dyn FnOnce(CancellationToken) -> BoxFuture<'static, ()> + Send>;

pub struct Server {
    name: &'static str,
    draining: CancellationToken,
    shutdown_delay: Duration,
    listener: TcpListener,
    app: Router,
    tasks: Vec<BackgroundTask>,
    pools: Vec<(crate::storing::db::Pool, crate::storing::readers::Readers)>,
    tls: Option<TlsListener>,
    /// Where the main listener speaks TLS (the services' mutual TLS).
    main_tls: Option<TlsAcceptor>,
    connections: Connections,
}

/// Binds `addr` for `name`, so that its real port (with port 0) is known before the
/// routes that need it are built.
pub async fn bind_listener(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("Failed to bind {name} to {addr}"))
}

impl Server {
    pub async fn bind(
        stack: &crate::serving::http::Stack,
        addr: SocketAddr,
        app: Router,
    ) -> anyhow::Result<Self> {
        let name = stack.service;
        let listener = bind_listener(name, addr).await?;
        let connections = Connections::new(
            stack.serving.connections,
            stack.faces_clients,
            stack.refused.clone(),
        );
        stack.metrics.gauge_on_scrape(
            "connections_open",
            "Client connections open now, plain and HTTPS",
            {
                let connections = connections.clone();
                move || i64::try_from(connections.open()).unwrap_or(i64::MAX)
            },
        );
        Ok(Self {
            name,
            draining: stack.draining.clone(),
            shutdown_delay: stack.serving.shutdown_delay,
            listener,
            app,
            tasks: Vec::new(),
            pools: Vec::new(),
            tls: None,
            main_tls: None,
            connections,
        })
    }

    /// Also serves `app` over HTTPS on `listener` (see [`bind_listener`]), with the
    /// certificate in `config`.
    pub fn with_tls(
        mut self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        app: Router,
    ) -> Self {
        self.tls = Some(TlsListener {
            listener,
            acceptor: TlsAcceptor::from(config),
            app,
        });
        self
    }

    /// Serves the main listener over TLS only, with `config` (which may ask for client
    /// certificates): nothing reaches the service in plain HTTP.
    pub fn tls_only(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.main_tls = Some(TlsAcceptor::from(config));
        self
    }

    /// The address of the HTTPS listener, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
            .as_ref()
            .and_then(|tls| tls.listener.local_addr().ok())
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

    /// Closes `pool` and its `readers` once the server has drained, so the database is
    /// left consistent and, for SQLite, checkpointed (no leftover WAL file).
    pub fn closing(
        mut self,
        pool: crate::storing::db::Pool,
        readers: crate::storing::readers::Readers,
    ) -> Self {
        self.pools.push((pool, readers));
        self
    }

    /// Serves until `shutdown` is cancelled and the drain has finished or timed out.
    ///
    /// Stopping goes: `/readyz` fails at once; requests are still served for the shutdown
    /// delay, while load balancers take the service out; then the listeners close, and
    /// requests in flight get [`DRAIN_TIMEOUT`] to finish.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        tokio::spawn({
            let (shutdown, stop, draining) =
                (shutdown.clone(), stop.clone(), self.draining.clone());
            let (name, delay) = (self.name, self.shutdown_delay);
            async move {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = stop.cancelled() => return,
                }
                draining.cancel();
                if !delay.is_zero() {
                    tracing::info!(
                        service = name,
                        delay_ms = delay.as_millis() as u64,
                        "not ready; serving on until load balancers notice"
                    );
                    tokio::time::sleep(delay).await;
                }
                stop.cancel();
            }
        });
        let shutdown = stop;
        let addr = self.local_addr();
        tracing::info!(service = self.name, %addr, "listening");
        let mut tasks: Vec<_> = self
            .tasks
            .into_iter()
            .map(|task| tokio::spawn(task(shutdown.child_token())))
            .collect();
        let connections = self.connections;
        if let Some(tls) = self.tls {
            if let Ok(addr) = tls.listener.local_addr() {
                tracing::info!(service = self.name, %addr, "listening (HTTPS)");
            }
            let (connections, shutdown, name) = (connections.clone(), shutdown.clone(), self.name);
            tasks.push(tokio::spawn(async move {
                let drained = connections
                    .serve(
                        tls.listener,
                        Some(tls.acceptor),
                        tls.app,
                        shutdown,
                        DRAIN_TIMEOUT,
                    )
                    .await;
                if !drained {
                    tracing::warn!(
                        service = name,
                        "HTTPS drain timed out; closed open connections"
                    );
                }
            }));
        }
        let drained = connections
            .serve(
                self.listener,
                self.main_tls,
                self.app,
                shutdown.clone(),
                DRAIN_TIMEOUT,
            )
            .await;
        if !drained {
            tracing::warn!(
                service = self.name,
                "drain timed out; closed open connections"
            );
        }
        shutdown.cancel();
        for task in tasks {
            let _ = task.await;
        }
        for (pool, readers) in self.pools {
            // Readers and the writer first: the last connection to close checkpoints the WAL.
            readers.close().await;
            crate::storing::write::close(&pool).await;
            pool.close().await;
        }
        tracing::info!(service = self.name, "stopped");
        Ok(())
    }
}
