//! A TCP proxy that can misbehave on command, put between a service and one it calls: the
//! real service stays behind it, and tests decide when the network in between hangs.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Carries bytes both ways.
    None,
    /// Delivers requests but holds the answers back until the fault is cleared: the
    /// callee acts, the caller hears nothing (a slow or partitioned network).
    HoldAnswers,
    /// Carries nothing in either direction.
    Blackhole,
}

pub struct ChaosProxy {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
}

impl ChaosProxy {
    /// Starts a proxy on an ephemeral loopback port that forwards to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (fault, watcher) = watch::channel(Fault::None);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watcher = watcher.clone();
                tokio::spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(target).await {
                        pipe(client, upstream, watcher).await;
                    }
                });
            }
        });
        Ok(Self { addr, fault })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

async fn pipe(client: TcpStream, upstream: TcpStream, fault: watch::Receiver<Fault>) {
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let requests = copy(client_read, upstream_write, fault.clone(), |f| {
        f == Fault::Blackhole
    });
    let answers = copy(upstream_read, client_write, fault, |f| f != Fault::None);
    tokio::select! {
        () = requests => {}
        () = answers => {}
    }
}

/// Copies until either side closes, waiting before each write while `blocked` holds.
async fn copy(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut fault: watch::Receiver<Fault>,
    blocked: impl Fn(Fault) -> bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if fault.wait_for(|f| !blocked(*f)).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
