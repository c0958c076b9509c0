//! HTTP/1.1 as a client on a raw socket sees it: a keep-alive connection stays usable after
//! any answer whose request body could be read, and an answer that leaves the body unread
//! says `Connection: close` (a server that closes without saying so makes the client's next
//! request on that connection fail); and a request without exactly one plain `Host` is
//! refused, as RFC 9112 asks.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use testkit::LAPTOP;
use testkit::TestApp;

/// The status and the headers (names in lower case) of one answer, read off a raw socket.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(own, _)| own == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Sends one HTTP/1.1 request with a body of `body_len` bytes on a fresh connection and
/// reads the head of the answer.
async fn exchange(gateway: &str, request_line: &str, extra: &str, body_len: usize) -> Head {
    let head = format!(
        "{request_line}\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {body_len}\r\n{extra}\r\n"
    );
    raw(gateway, &head, body_len).await
}

/// Sends `head` as written, then `body_len` bytes, on a fresh connection, and reads the
/// answer (with no body if the request was HEAD).
async fn raw(gateway: &str, head: &str, body_len: usize) -> Head {
    let addr = gateway.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("the gateway accepts");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    // The server may answer, and stop reading, before the whole body is sent.
    let _ = stream.write_all(&vec![b' '; body_len]).await;
    read_answer(&mut stream, !head.starts_with("HEAD ")).await
}

/// `method path` with nothing but a `Host`, on a fresh connection.
async fn bare(gateway: &str, method: &str, path: &str) -> Head {
    let head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    raw(gateway, &head, 0).await
}

fn parse_head(read: &[u8]) -> Head {
    let text = String::from_utf8_lossy(read);
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Head { status, headers }
}

/// Reads one whole answer (head, and if it has one, a body of `Content-Length` bytes) off
/// `stream`.
async fn read_answer(stream: &mut TcpStream, has_body: bool) -> Head {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let head_end = loop {
        if let Some(at) = read.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .expect("the answer is readable");
        assert!(n > 0, "the connection closed without an answer");
        read.extend_from_slice(&buf[..n]);
    };
    let head = parse_head(&read[..head_end]);
    let length: usize = head
        .header("content-length")
        .and_then(|length| length.parse().ok())
        .filter(|_| has_body)
        .unwrap_or(0);
    while read.len() < head_end + length {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("the body within 10 s")
            .expect("the body is readable");
        assert!(n > 0, "the connection closed within the body");
        read.extend_from_slice(&buf[..n]);
    }
    head
}

#[tokio::test]
async fn a_connection_stays_usable_after_any_answer_that_reads_the_body() {
    let app = TestApp::spawn().await;
    let addr = app.gateway.trim_start_matches("http://");
    // Refused at the door, at routing, by method, and by a handler: the body is read all
    // the same, and the next request on the same connection is answered.
    for (request_line, status) in [
        ("POST /api/v1/orders HTTP/1.1", 401),
        ("POST /no-such-route HTTP/1.1", 404),
        ("POST /hello HTTP/1.1", 405),
        ("POST /echo HTTP/1.1", 400),
    ] {
        let mut stream = TcpStream::connect(addr).await.expect("the gateway accepts");
        let body_len = 100 * 1024;
        let head = format!(
            "{request_line}\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {body_len}\r\n\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .expect("the head is sent");
        stream
            .write_all(&vec![b' '; body_len])
            .await
            .expect("the whole body is read");
        let first = read_answer(&mut stream, true).await;
        assert_eq!(first.status, status, "{request_line}");
        assert_eq!(first.header("connection"), None, "{request_line}");
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("the connection takes a second request");
        let second = read_answer(&mut stream, true).await;
        assert_eq!(second.status, 200, "the request after {request_line}");
    }
}

/// The gateway relays a service's answer with the length the service gave it: chunked
/// answers cost the gateway extra writes and every client extra parsing (issue 14).
#[tokio::test]
async fn a_proxied_answer_keeps_its_length() {
    let app = TestApp::spawn().await;
    for (path, status) in [
        (format!("/api/v1/products/{LAPTOP}"), 200),
        ("/api/v1/products/999999".to_owned(), 404),
        ("/api/v1/products?limit=2".to_owned(), 200),
    ] {
        let answer = bare(&app.gateway, "GET", &path).await;
        assert_eq!(answer.status, status, "{path}");
        assert_eq!(answer.header("transfer-encoding"), None, "{path}");
        let length: usize = answer
            .header("content-length")
            .and_then(|length| length.parse().ok())
            .unwrap_or_else(|| panic!("{path}: no content-length"));
        assert!(length > 0, "{path}");
    }
    // HEAD: no body, and the length GET would have given, not the empty body's.
    let path = format!("/api/v1/products/{LAPTOP}");
    let get = bare(&app.gateway, "GET", &path).await;
    let head = bare(&app.gateway, "HEAD", &path).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), get.header("content-length"));
}

#[tokio::test]
async fn a_body_too_large_to_read_is_answered_with_connection_close() {
    let app = TestApp::spawn().await;
    // The client sends all of it, as a client that does not wait for `100 Continue` does;
    // the answer must reach it whole, not be overtaken by a reset of the connection.
    for _ in 0..20 {
        let too_large = exchange(&app.gateway, "POST /echo HTTP/1.1", "", 2 * 1024 * 1024).await;
        assert_eq!(too_large.status, 413);
        assert_eq!(too_large.header("connection"), Some("close"));
    }
}

#[tokio::test]
async fn an_http11_request_needs_exactly_one_plain_host() {
    let app = TestApp::spawn().await;
    for (what, hosts) in [
        ("no Host", ""),
        ("two Hosts", "Host: localhost\r\nHost: evil.example\r\n"),
        ("a Host with user information", "Host: user@localhost\r\n"),
        ("a Host that is no authority", "Host: local host\r\n"),
    ] {
        let head = raw(
            &app.gateway,
            &format!("GET /hello HTTP/1.1\r\n{hosts}\r\n"),
            0,
        )
        .await;
        assert_eq!(head.status, 400, "{what}");
    }
    let control = raw(
        &app.gateway,
        "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n",
        0,
    )
    .await;
    assert_eq!(control.status, 200);
}
