//! The audit against a server that closes a keep-alive connection without saying so: the
//! lost request is sent once more on a fresh connection, answered there, and the race is
//! noted as a finding of its own instead of taken for the server refusing the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use audit::api::target::{Request, Target};
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

/// Reads one request head (these requests have no body); `false` at the end of input.
async fn read_head(stream: &mut TcpStream) -> bool {
    let mut read = Vec::new();
    let mut buf = [0u8; 1024];
    while !read.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// A server whose first connection answers one request, then reads the next and closes
/// without an answer; every later connection answers everything.
async fn silent_closer() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::spawn(async move {
                let mut answered = 0;
                while read_head(&mut stream).await {
                    if first && answered == 1 {
                        return;
                    }
                    if stream.write_all(ANSWER).await.is_err() {
                        return;
                    }
                    answered += 1;
                }
            });
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test]
async fn a_request_lost_to_a_silently_closed_connection_is_retried_and_reported() {
    let (base, connections) = silent_closer().await;
    let target = Target::new(&base, None, Duration::from_secs(5)).expect("a target");
    let first = target.send(Request::new(Method::GET, "/one")).await;
    assert_eq!(first.status_code(), 200);
    let second = target.send(Request::new(Method::GET, "/two")).await;
    assert_eq!(second.status_code(), 200, "answered on a fresh connection");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    let races = target.observations().keep_alive_races;
    assert_eq!(races.len(), 1, "{races:?}");
    assert!(races[0].contains("GET /two"), "{races:?}");
}

#[tokio::test]
async fn a_server_that_keeps_its_connections_shows_no_race() {
    let (base, _) = silent_closer().await;
    let target = Target::new(&base, None, Duration::from_secs(5)).expect("a target");
    // One request per connection never meets the silent close of the first's second.
    let only = target.send(Request::new(Method::GET, "/one")).await;
    assert_eq!(only.status_code(), 200);
    assert!(target.observations().keep_alive_races.is_empty());
}

#[tokio::test]
async fn a_lost_request_too_large_to_read_is_not_taken_for_a_race() {
    let (base, connections) = silent_closer().await;
    let target = Target::new(&base, None, Duration::from_secs(5)).expect("a target");
    let first = target.send(Request::new(Method::GET, "/one")).await;
    assert_eq!(first.status_code(), 200);
    // Servers refuse what they will not read by closing, and the refusal can be lost on
    // any connection: that is the oversized-input check's business, not keep-alive's.
    let large = format!("/two?q={}", "A".repeat(20 * 1024));
    let second = target.send(Request::new(Method::GET, large)).await;
    assert_eq!(second.status_code(), 200, "answered on a fresh connection");
    assert_eq!(connections.load(Ordering::SeqCst), 2, "it was lost once");
    let races = target.observations().keep_alive_races;
    assert!(races.is_empty(), "{races:?}");
}
