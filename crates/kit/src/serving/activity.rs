//! What a connection's client is doing, as its deadlines need to know it: serving a
//! request, sending the head of the next one, or nothing.
//!
//! HTTP/1.1 tells an idle keep-alive connection from a slow request head only by whether
//! bytes have arrived since the last answer (nginx's `keepalive_timeout` against its
//! `client_header_timeout`); hyper's own header timer cannot, so the connection's reads
//! are watched here, and the connection is closed without losing its last answer
//! ([`linger`]). An HTTP/2 connection has no head between requests (pings and window
//! updates arrive at any time), so for it only the idle deadline counts.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The first bytes of every HTTP/2 connection (RFC 9113, 3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// What a connection's deadlines ask of it next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// It sent no complete request head in time: it is dropped at once.
    SlowHead,
    /// Nothing was asked of it for the idle timeout: it is closed gracefully.
    Idle,
}

#[derive(Debug)]
struct Marks {
    /// When the connection last started or finished serving a request (or was opened).
    since: Instant,
    /// When the first byte since then arrived, while no request was being served.
    head_started: Option<Instant>,
    /// Whether a request has been served: before the first, the head deadline runs from
    /// the connection's start, as it does for nginx.
    served: bool,
}

/// One connection's activity, shared by its reader, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    busy: AtomicUsize,
    http2: AtomicBool,
    sniffed: AtomicBool,
    marks: Mutex<Marks>,
}

/// A request being served on a connection; done when dropped.
pub struct Busy(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            busy: AtomicUsize::new(0),
            http2: AtomicBool::new(false),
            sniffed: AtomicBool::new(false),
            marks: Mutex::new(Marks {
                since: Instant::now(),
                head_started: None,
                served: false,
            }),
        })
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request's head is complete and it is being served.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::Relaxed);
        let mut marks = self.marks();
        marks.since = Instant::now();
        marks.head_started = None;
        marks.served = true;
        drop(marks);
        Busy(self.clone())
    }

    fn end(&self) {
        let mut marks = self.marks();
        marks.since = Instant::now();
        marks.head_started = None;
        drop(marks);
        self.busy.fetch_sub(1, Ordering::Relaxed);
    }

    /// Bytes arrived: the first of a connection tell its protocol, and on HTTP/1 between
    /// requests they start the next head.
    fn heard(&self, bytes: &[u8]) {
        if !self.sniffed.swap(true, Ordering::Relaxed) {
            let http2 = bytes.len() >= 3
                && HTTP2_PREFACE.starts_with(&bytes[..bytes.len().min(HTTP2_PREFACE.len())]);
            self.http2.store(http2, Ordering::Relaxed);
        }
        if self.busy.load(Ordering::Relaxed) == 0 && !self.http2.load(Ordering::Relaxed) {
            let mut marks = self.marks();
            marks.head_started.get_or_insert_with(Instant::now);
        }
    }

    /// When the connection's deadline falls now, and what it is; `None` while a request is
    /// served (its own deadlines bound it).
    fn deadline(&self, head: Duration, idle: Duration) -> Option<(Instant, Expiry)> {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let marks = self.marks();
        let http2 = self.http2.load(Ordering::Relaxed);
        Some(match (marks.head_started, marks.served, http2) {
            (_, _, true) => (marks.since + idle, Expiry::Idle),
            (Some(started), _, false) => (started + head, Expiry::SlowHead),
            (None, false, false) => (marks.since + head, Expiry::SlowHead),
            (None, true, false) => (marks.since + idle, Expiry::Idle),
        })
    }

    /// Ends when the connection's deadline passes: its head took longer than `head`, or it
    /// has been idle for `idle`.
    pub async fn expired(&self, head: Duration, idle: Duration) -> Expiry {
        loop {
            match self.deadline(head, idle) {
                // Looked at again once the request has had as long again to finish.
                None => tokio::time::sleep(head.min(idle)).await,
                Some((at, expiry)) if at <= Instant::now() => return expiry,
                Some((at, _)) => tokio::time::sleep_until(at).await,
            }
        }
    }

    /// `io`, with its reads noted here.
    pub fn watch<I: Transport>(self: &Arc<Self>, io: I) -> Watched<I> {
        Watched {
            io: Some(io),
            activity: self.clone(),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// What a connection runs on: TCP, or TLS over TCP.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> Transport for I {}

/// How long a closed connection goes on reading what its client still sends.
const LINGER: Duration = Duration::from_secs(2);
/// How much it reads, at most, meanwhile.
const LINGER_BYTES: usize = 4 * 1024 * 1024;

/// A connection's transport, whose reads its [`Activity`] hears. When the server is done
/// with it, it closes it the way nginx's lingering close does (see [`linger`]).
pub struct Watched<I: Transport> {
    io: Option<I>,
    activity: Arc<Activity>,
}

impl<I: Transport> Watched<I> {
    fn io(&mut self) -> Pin<&mut I> {
        Pin::new(
            self.io
                .as_mut()
                .expect("BUG: the transport is taken only when it is dropped"),
        )
    }
}

impl<I: Transport> Drop for Watched<I> {
    fn drop(&mut self) {
        if let (Some(io), Ok(runtime)) = (self.io.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(linger(io));
        }
    }
}

/// Closes `io` without losing the last answer. A server that closes a socket with unread
/// data in it (the rest of a body too large to read, say) makes the kernel reset the
/// connection, and the reset can overtake the answer still on its way: the client sees
/// the connection fail instead of the 413. So the server says it is done (FIN, or TLS
/// close_notify), then reads and drops what still comes, until the client closes too or
/// [`LINGER`] passes.
async fn linger<I: Transport>(mut io: I) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(LINGER, async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut buf = vec![0u8; 16 * 1024];
        let mut read = 0;
        while read < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
    })
    .await;
}

impl<I: Transport> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = self.io().poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.heard(&buf.filled()[before..]);
        }
        polled
    }
}

impl<I: Transport> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.io().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io().poll_flush(cx)
    }

    // The lingering close says the connection is done, once, and then reads what is left;
    // hyper's own shutdown would be followed by the drop, and the drop by a reset.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.io().poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.io().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(I::is_write_vectored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    fn kind(activity: &Activity) -> Option<Expiry> {
        activity.deadline(HEAD, IDLE).map(|(_, expiry)| expiry)
    }

    #[test]
    fn http1_waits_for_a_head_then_idles_between_requests() {
        let activity = Activity::new();
        assert_eq!(kind(&activity), Some(Expiry::SlowHead), "the first head");
        activity.heard(b"GET / HTTP/1.1\r\n");
        let busy = activity.begin();
        assert_eq!(kind(&activity), None, "a request is served");
        drop(busy);
        assert_eq!(kind(&activity), Some(Expiry::Idle), "a keep-alive");
        activity.heard(b"G");
        assert_eq!(kind(&activity), Some(Expiry::SlowHead), "the next head");
    }

    #[test]
    fn http2_only_idles() {
        let activity = Activity::new();
        activity.heard(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(kind(&activity), Some(Expiry::Idle));
        activity.heard(b"\x00\x00\x08\x06");
        assert_eq!(kind(&activity), Some(Expiry::Idle), "a ping is no head");
    }
}
