//! What each client address holds of a server: its open connections and its requests in
//! flight, each capped, so that one address cannot take what all others share.
//!
//! An IPv6 client is counted by its /64: one subscriber is given a whole /64 and can
//! rotate through its addresses at will, so counting by /128 would cap nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::observing::metrics::LabelledCounter;
use crate::problem::Problem;

/// The unit a client is counted by: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            // An IPv4 client seen through a dual-stack socket is that IPv4 client.
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => write!(f, "{ip}/64"),
        }
    }
}

/// The caps of one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerClient {
    pub connections: usize,
    pub requests: usize,
    /// Bytes of request bodies being received at once.
    pub body_bytes: usize,
}

/// What one client address holds now.
#[derive(Debug, Default)]
struct Holding {
    connections: AtomicUsize,
    requests: AtomicUsize,
    body_bytes: AtomicUsize,
}

/// The table of client addresses that hold a connection, and their caps.
#[derive(Clone)]
pub struct Clients {
    caps: PerClient,
    table: Arc<Mutex<HashMap<ClientKey, Arc<Holding>>>>,
}

impl Clients {
    pub fn new(caps: PerClient) -> Self {
        Self {
            caps,
            table: Arc::default(),
        }
    }

    /// A connection from `ip`, or `None` when that client already holds as many as it may.
    pub fn connect(&self, ip: IpAddr) -> Option<ClientConnection> {
        let key = ClientKey::of(ip);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let holding = table.entry(key).or_default().clone();
        // Counted under the table's lock, so that the last connection's entry is removed
        // exactly when the count reaches zero.
        if holding.connections.load(Ordering::Relaxed) >= self.caps.connections {
            return None;
        }
        holding.connections.fetch_add(1, Ordering::Relaxed);
        Some(ClientConnection {
            clients: self.clone(),
            key,
            holding,
        })
    }

    /// How many client addresses hold a connection now.
    pub fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One open connection of a client; closing it (dropping this) gives its place back.
pub struct ClientConnection {
    clients: Clients,
    key: ClientKey,
    holding: Arc<Holding>,
}

impl ClientConnection {
    pub fn key(&self) -> ClientKey {
        self.key
    }

    /// What a request on this connection carries, for [`limit_requests`] to count.
    pub fn share(&self) -> ClientShare {
        ClientShare {
            holding: self.holding.clone(),
            cap: self.clients.caps.requests,
            body_cap: self.clients.caps.body_bytes,
        }
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut table = self
            .clients
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.holding.connections.fetch_sub(1, Ordering::Relaxed) == 1 {
            table.remove(&self.key);
        }
    }
}

/// A request extension: the requests in flight of the client that sent it, and their cap.
#[derive(Clone)]
pub struct ClientShare {
    holding: Arc<Holding>,
    cap: usize,
    body_cap: usize,
}

impl ClientShare {
    /// Room for `bytes` more of this client's request bodies in memory, or `None` when it
    /// already holds its share.
    pub fn reserve_body(&self, bytes: usize) -> Option<BodyShare> {
        let before = self.holding.body_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.body_cap {
            self.holding.body_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return None;
        }
        Some(BodyShare {
            holding: self.holding.clone(),
            bytes,
        })
    }
}

/// Body bytes reserved for one request of a client; given back when dropped.
pub struct BodyShare {
    holding: Arc<Holding>,
    bytes: usize,
}

impl Drop for BodyShare {
    fn drop(&mut self) {
        self.holding
            .body_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A request counted among its client's; done when dropped.
struct InFlight(Arc<Holding>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Refuses a request with 429 when its client already has as many in flight as it may,
/// counting from the end of its headers: a client that sends its body slowly holds its own
/// share, not everyone's. Requests that came without a [`ClientShare`] (a server without
/// per-client caps) pass.
pub async fn limit_requests<F: Future<Output = Response>>(
    refused: &LabelledCounter,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response {
    let Some(share) = request.extensions().get::<ClientShare>().cloned() else {
        return next(request).await;
    };
    if share.holding.requests.fetch_add(1, Ordering::Relaxed) >= share.cap {
        share.holding.requests.fetch_sub(1, Ordering::Relaxed);
        refused.inc("reason", "client_requests");
        return Problem::typed(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests at once",
            "This client has as many requests in flight as it may; wait for one to finish.",
        )
        .retry_after(1)
        .into_response();
    }
    let in_flight = InFlight(share.holding);
    let response = next(request).await;
    drop(in_flight);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_64() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("an address");
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("an address");
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert_eq!(ClientKey::of(one), ClientKey::of(other));
        assert_ne!(ClientKey::of(one), ClientKey::of(elsewhere));
        assert_eq!(ClientKey::of(one).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("an address");
        assert_eq!(ClientKey::of(mapped).to_string(), "192.0.2.7");
    }

    #[test]
    fn a_client_holds_at_most_its_connections_and_gives_them_back() {
        let clients = Clients::new(PerClient {
            connections: 2,
            requests: 1,
            body_bytes: 1000,
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("an address");
        let first = clients.connect(ip).expect("a first connection");
        let second = clients.connect(ip).expect("a second connection");
        assert!(clients.connect(ip).is_none(), "a third is refused");
        assert!(
            clients
                .connect("192.0.2.2".parse().expect("an address"))
                .is_some(),
            "another client is not"
        );
        drop(first);
        let third = clients.connect(ip).expect("a place was given back");
        drop((second, third));
        assert!(clients.is_empty(), "no entry outlives its connections");
    }

    #[test]
    fn a_client_holds_at_most_its_share_of_body_bytes() {
        let clients = Clients::new(PerClient {
            connections: 2,
            requests: 2,
            body_bytes: 1000,
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("an address");
        let (one, two) = (
            clients.connect(ip).expect("one"),
            clients.connect(ip).expect("two"),
        );
        let first = one.share().reserve_body(600).expect("room for 600");
        assert!(
            two.share().reserve_body(600).is_none(),
            "1200 is over the share"
        );
        let second = two.share().reserve_body(400).expect("room for 400 more");
        drop(first);
        assert!(one.share().reserve_body(600).is_some(), "given back");
        drop(second);
    }
}
