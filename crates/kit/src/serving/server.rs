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
use axum::extract::ConnectInfo;
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long in-flight requests may take to finish once shutdown starts; below the
/// supervisor's and Kubernetes' grace periods (10 s, 30 s), so a drain never ends in SIGKILL.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

/// How long a client has to complete the TLS handshake; a slow or silent one is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    pools: Vec<crate::storing::db::Pool>,
    tls: Option<TlsListener>,
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
        Ok(Self {
            name,
            draining: stack.draining.clone(),
            shutdown_delay: stack.serving.shutdown_delay,
            listener,
            app,
            tasks: Vec::new(),
            pools: Vec::new(),
            tls: None,
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

    /// Closes `pool` once the server has drained, so the database is left consistent and,
    /// for SQLite, checkpointed (no leftover WAL file).
    pub fn closing(mut self, pool: crate::storing::db::Pool) -> Self {
        self.pools.push(pool);
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
        if let Some(tls) = self.tls {
            if let Ok(addr) = tls.listener.local_addr() {
                tracing::info!(service = self.name, %addr, "listening (HTTPS)");
            }
            tasks.push(tokio::spawn(serve_tls(tls, shutdown.clone())));
        }
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

/// Accepts HTTPS connections until `shutdown`, then lets open ones finish their requests.
async fn serve_tls(tls: TlsListener, shutdown: CancellationToken) {
    let TlsListener {
        listener,
        acceptor,
        app,
    } = tls;
    let graceful = GracefulShutdown::new();
    let http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "failed to accept an HTTPS connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |mut request| {
                request.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(request)
            });
            let connection = http.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %error, "HTTPS connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTPS drain timed out; closing open connections");
    }
}
