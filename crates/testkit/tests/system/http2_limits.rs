//! HTTP/2 as a client writing raw frames sees it: a connection carries at most the
//! advertised number of concurrent streams (more are refused one by one), and a client
//! that opens and resets streams in a burst (the "rapid reset" attack, CVE-2023-44487) is
//! sent away.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use testkit::TestApp;

const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const GOAWAY: u8 = 0x7;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const REFUSED_STREAM: u32 = 0x7;
const ENHANCE_YOUR_CALM: u32 = 0xb;
const CANCEL: u32 = 0x8;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// The HPACK block of `POST /echo` to `localhost`, with no header indexed anew.
fn post_echo() -> Vec<u8> {
    let mut block = vec![0x83, 0x86, 0x04, 5];
    block.extend(b"/echo");
    block.extend([0x01, 9]);
    block.extend(b"localhost");
    block
}

struct Frame {
    kind: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    /// The error code of an RST_STREAM or GOAWAY frame.
    fn error_code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().expect("4 bytes"))
    }
}

/// Reads one frame, or `None` once the connection is closed or `deadline` passes.
async fn read_frame(stream: &mut TcpStream, deadline: Instant) -> Option<Frame> {
    let mut head = [0u8; 9];
    tokio::time::timeout_at(deadline, stream.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let mut payload = vec![0u8; len];
    tokio::time::timeout_at(deadline, stream.read_exact(&mut payload))
        .await
        .ok()?
        .ok()?;
    Some(Frame {
        kind: head[3],
        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        payload,
    })
}

/// A connection past the preface, with the server's settings acknowledged (they take
/// effect then).
async fn connected(app: &TestApp) -> TcpStream {
    let mut stream = TcpStream::connect(app.gateway.trim_start_matches("http://"))
        .await
        .expect("connects");
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    stream.write_all(&hello).await.expect("the preface");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let frame = read_frame(&mut stream, deadline)
            .await
            .expect("the server's settings");
        if frame.kind == SETTINGS && frame.payload.len() % 6 == 0 && !frame.payload.is_empty() {
            stream
                .write_all(&self::frame(SETTINGS, ACK, 0, &[]))
                .await
                .expect("an acknowledgement");
            return stream;
        }
    }
}

#[tokio::test]
async fn a_connection_carries_at_most_128_streams_at_once() {
    let app = TestApp::spawn().await;
    let mut stream = connected(&app).await;
    // 200 requests whose bodies never come: the first 128 are taken and wait for their
    // bodies, the other 72 are refused.
    let mut burst = Vec::new();
    for n in 0..200u32 {
        burst.extend(frame(HEADERS, END_HEADERS, 2 * n + 1, &post_echo()));
    }
    stream.write_all(&burst).await.expect("the burst");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut refused = Vec::new();
    while let Some(frame) = read_frame(&mut stream, deadline).await {
        assert_ne!(frame.kind, GOAWAY, "the connection was ended");
        if frame.kind == RST_STREAM && frame.error_code() == REFUSED_STREAM {
            refused.push(frame.stream);
        }
    }
    assert_eq!(refused.len(), 72, "refused streams: {refused:?}");
    assert!(
        refused.iter().all(|stream| *stream > 2 * 128),
        "only streams beyond the 128th are refused: {refused:?}"
    );
}

#[tokio::test]
async fn a_burst_of_streams_opened_and_reset_ends_the_connection() {
    let app = TestApp::spawn().await;
    let mut stream = connected(&app).await;
    let mut burst = Vec::new();
    for n in 0..1_000u32 {
        let id = 2 * n + 1;
        burst.extend(frame(HEADERS, END_HEADERS, id, &post_echo()));
        burst.extend(frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()));
    }
    // The server may close before it has read the whole burst.
    let _ = stream.write_all(&burst).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut goaway = None;
    while let Some(frame) = read_frame(&mut stream, deadline).await {
        if frame.kind == GOAWAY {
            goaway = Some(frame.error_code());
        }
    }
    assert_eq!(
        goaway,
        Some(ENHANCE_YOUR_CALM),
        "the connection is sent away for its resets"
    );
}
