//! A TCP proxy that can misbehave on command, put between a service and one it calls: the
//! real service stays behind it, and tests decide when the network in between hangs. It
//! also keeps what a sniffer on that link would hear.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

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

/// The most a proxy keeps of what it heard; a test needs the first requests, not a flood.
pub const HEARD_BYTES: usize = 4 * 1024 * 1024;

pub struct ChaosProxy {
    addr: SocketAddr,
    fault: watch::Sender<Fault>,
    heard: Arc<Mutex<Vec<u8>>>,
}

impl ChaosProxy {
    /// Starts a proxy on an ephemeral loopback port that forwards to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (fault, watcher) = watch::channel(Fault::None);
        let heard = Arc::new(Mutex::new(Vec::new()));
        let tap = heard.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let watcher = watcher.clone();
                let tap = tap.clone();
                tokio::spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(target).await {
                        pipe(client, upstream, watcher, tap).await;
                    }
                });
            }
        });
        Ok(Self { addr, fault, heard })
    }

    /// The bytes carried towards the target so far (up to [`HEARD_BYTES`]), as a sniffer on
    /// the link would have heard them.
    pub fn heard(&self) -> Vec<u8> {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

async fn pipe(
    client: TcpStream,
    upstream: TcpStream,
    fault: watch::Receiver<Fault>,
    heard: Arc<Mutex<Vec<u8>>>,
) {
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let requests = copy(
        client_read,
        upstream_write,
        fault.clone(),
        |f| f == Fault::Blackhole,
        Some(heard),
    );
    let answers = copy(
        upstream_read,
        client_write,
        fault,
        |f| f != Fault::None,
        None,
    );
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
    heard: Option<Arc<Mutex<Vec<u8>>>>,
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
        if let Some(heard) = &heard {
            let mut heard = heard.lock().unwrap_or_else(PoisonError::into_inner);
            let room = HEARD_BYTES.saturating_sub(heard.len());
            heard.extend_from_slice(&buf[..n.min(room)]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
