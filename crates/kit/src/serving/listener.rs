//! Accepting connections, plain or TLS, and holding each to bounded waits: a deadline for
//! the TLS handshake and for a request's headers, an idle timeout between requests, a cap
//! on HTTP/2 streams and on the connections of the whole server and of each client address.
//!
//! A connection past a cap is closed at once rather than left in the accept queue: a
//! client that cannot be served learns it now, and holds no file descriptor meanwhile.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::observing::metrics::LabelledCounter;
use crate::serving::activity::{Activity, Expiry};
use crate::serving::clients::{ClientConnection, Clients, PerClient};

/// The most header bytes (names and values) a request may carry; browsers send a few KiB.
/// The stack refuses more with 431; HTTP/2 connections take up to twice as much before
/// they give up on a stream, so that the client hears why.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// How long connections wait on their clients, and how many a server and each client hold
/// (the settings and their defaults: [`crate::serving::options::ConnectionOptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the connection (or the end of the last answer) to the end of a request's
    /// headers, TLS handshake included.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// Bytes of request bodies held in memory at once, all clients together.
    pub body_memory: usize,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// Connections open at once, all clients together.
    pub max_connections: usize,
    /// What each client address may hold; applied by servers that face clients.
    pub per_client: PerClient,
    /// Concurrent streams of one HTTP/2 connection.
    pub http2_max_streams: u32,
}

/// One server's connections: the limits, the shared counts, and where refusals are counted.
#[derive(Clone)]
pub struct Connections {
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    clients: Option<Clients>,
    refused: LabelledCounter,
    http: auto::Builder<TokioExecutor>,
}

impl Connections {
    /// `per_client` says whether each client address is capped: yes where clients connect
    /// (the gateway), no between services, where one caller is one address with a pool.
    pub fn new(limits: ConnectionLimits, per_client: bool, refused: LabelledCounter) -> Self {
        let mut http = auto::Builder::new(TokioExecutor::new());
        // The head deadline is kept by the connection's watchdog ([`Activity`]), which tells
        // a slow head from an idle keep-alive; hyper's own would cut both at once.
        http.http1().header_read_timeout(None);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.http2_max_streams)
            .max_header_list_size(2 * MAX_HEADER_BYTES as u32)
            // Streams a client opens and resets at once (CVE-2023-44487) and streams it makes
            // the server reset by sending garbage (CVE-2025-8671) end the connection past these.
            .max_pending_accept_reset_streams(20)
            .max_local_error_reset_streams(100)
            // A peer that no longer answers pings is gone; its streams are let go.
            .keep_alive_interval(limits.idle_timeout / 2)
            .keep_alive_timeout(limits.header_timeout);
        Self {
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            clients: per_client.then(|| Clients::new(limits.per_client)),
            refused,
            http,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.limits.max_connections.max(1) - self.slots.available_permits()
    }

    /// Serves `app` on connections from `listener` (through `tls` when given) until
    /// `shutdown`; then stops accepting, lets each connection finish the request it is
    /// serving, and closes what is still open after `drain`. Says whether every connection
    /// finished in time.
    pub async fn serve(
        &self,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        app: Router,
        shutdown: CancellationToken,
        drain: Duration,
    ) -> bool {
        let tracker = TaskTracker::new();
        let kill = CancellationToken::new();
        loop {
            let (tcp, peer) = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(%error, "failed to accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Some(admitted) = self.admit(peer) else {
                continue;
            };
            let connection = Connection {
                admitted,
                peer,
                app: app.clone(),
                http: self.http.clone(),
                limits: self.limits,
                shutdown: shutdown.clone(),
                kill: kill.clone(),
            };
            let tls = tls.clone();
            tracker.spawn(connection.run(tcp, tls));
        }
        drop(listener);
        tracker.close();
        let drained = tokio::time::timeout(drain, tracker.wait()).await.is_ok();
        kill.cancel();
        tracker.wait().await;
        drained
    }

    /// A place for a connection from `peer`, or `None` (counted) when it is refused.
    fn admit(&self, peer: SocketAddr) -> Option<Admitted> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            self.refused.inc("reason", "server_connections");
            return None;
        };
        let client = match &self.clients {
            None => None,
            Some(clients) => match clients.connect(peer.ip()) {
                Some(client) => Some(client),
                None => {
                    self.refused.inc("reason", "client_connections");
                    tracing::debug!(%peer, "refused a connection: the client holds its share");
                    return None;
                }
            },
        };
        Some(Admitted {
            _slot: slot,
            client,
        })
    }
}

/// What an admitted connection holds until it closes.
struct Admitted {
    _slot: tokio::sync::OwnedSemaphorePermit,
    client: Option<ClientConnection>,
}

/// One accepted connection, served on its own task until it closes or is closed.
struct Connection {
    admitted: Admitted,
    peer: SocketAddr,
    app: Router,
    http: auto::Builder<TokioExecutor>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    kill: CancellationToken,
}

impl Connection {
    async fn run(self, tcp: TcpStream, tls: Option<TlsAcceptor>) {
        let _ = tcp.set_nodelay(true);
        match tls {
            None => self.serve(tcp, None).await,
            Some(acceptor) => {
                let peer = self.peer;
                match tokio::time::timeout(self.limits.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        // Only a server that asks for client certificates (the services'
                        // mutual TLS) gets any; the caller's name rides on each request.
                        let name = crate::serving::internal_tls::peer_name(
                            stream.get_ref().1.peer_certificates(),
                            &crate::identity::options::PARTIES,
                        );
                        self.serve(stream, name).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            }
        }
    }

    async fn serve<I>(self, io: I, name: Option<crate::serving::internal_tls::PeerName>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Self {
            admitted,
            peer,
            app,
            http,
            limits,
            shutdown,
            kill,
        } = self;
        let activity = Activity::new();
        let share = admitted.client.as_ref().map(ClientConnection::share);
        let service = hyper::service::service_fn({
            let activity = activity.clone();
            move |mut request: http::Request<hyper::body::Incoming>| {
                let busy = activity.begin();
                request.extensions_mut().insert(ConnectInfo(peer));
                if let Some(name) = &name {
                    request.extensions_mut().insert(name.clone());
                }
                if let Some(share) = &share {
                    request.extensions_mut().insert(share.clone());
                }
                let answer = app.clone().oneshot(request.map(Body::new));
                async move {
                    let response = answer.await;
                    drop(busy);
                    response
                }
            }
        });
        let connection = http.serve_connection(TokioIo::new(activity.watch(io)), service);
        tokio::pin!(connection);
        // After a graceful close is asked for, the connection gets this long to finish.
        let give_up = tokio::time::sleep(Duration::MAX / 4);
        tokio::pin!(give_up);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    break;
                }
                () = shutdown.cancelled(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                expiry = activity.expired(limits.header_timeout, limits.idle_timeout), if !closing => {
                    match expiry {
                        Expiry::SlowHead => {
                            tracing::debug!(%peer, "dropping a connection whose request head is late");
                            break;
                        }
                        Expiry::Idle => {
                            tracing::debug!(%peer, "closing an idle connection");
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                            give_up.as_mut().reset(Instant::now() + limits.header_timeout);
                        }
                    }
                }
                () = &mut give_up => break,
                () = kill.cancelled() => break,
            }
        }
        drop(admitted);
    }
}
