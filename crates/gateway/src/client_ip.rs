//! The client's address, which limits and sessions are keyed by.
//!
//! It is the address of the TCP peer, unless that peer is a proxy the operator listed as
//! trusted: then it is the right-most address in `X-Forwarded-For` that is not itself a
//! trusted proxy. A client can write anything into `X-Forwarded-For`, so entries left of
//! the last trusted hop are never believed, and without trusted proxies the header is
//! ignored entirely.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use http::HeaderMap;
use kit::ApiError;

use crate::AppState;

/// Where the request comes from: the client address, as established by [`establish`].
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// An address block such as `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = text.split_once('/').unwrap_or((text, ""));
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("`{text}` is not an address or address block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .parse()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has an invalid prefix length"))?
        };
        Ok(Self { network, prefix })
    }
}

/// The client address of a request that reached us from `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return peer.to_canonical();
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|entry| entry.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
        .to_canonical()
}

/// The first of the gateway's own steps: establishes the client address, notes it on the
/// request, and applies the per-address rate limit to everything but the probes.
pub fn establish(app: &AppState, request: &mut Request) -> Result<IpAddr, ApiError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip());
    let ip = client_address(peer, request.headers(), &app.trusted_proxies);
    let path = request.uri().path();
    if !kit::identity::UNAUTHENTICATED_PATHS.contains(&path)
        && let Err(refused) = app.limits.allow_address(ip)
    {
        app.trail.record_once_a_minute(
            crate::trail::Kind::RateLimited,
            &ip.to_string(),
            None,
            Some(ip),
            "a client address went over its rate limit",
        );
        return Err(refused);
    }
    request.extensions_mut().insert(ClientAddr(ip));
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().expect("valid header"));
        headers
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let headers = forwarded("1.2.3.4");
        assert_eq!(
            client_address(ip("203.0.113.9"), &headers, &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8".parse().expect("valid cidr")];
        // The client forged the first entry; the proxy appended the real address.
        let headers = forwarded("1.2.3.4, 203.0.113.9, 10.0.0.3");
        assert_eq!(
            client_address(ip("10.0.0.2"), &headers, &trusted),
            ip("203.0.113.9")
        );
        let garbage = forwarded("not-an-ip");
        assert_eq!(
            client_address(ip("10.0.0.2"), &garbage, &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn blocks_are_parsed_and_matched() {
        let block: Cidr = "192.168.0.0/16".parse().expect("valid cidr");
        assert!(block.contains(ip("192.168.44.1")));
        assert!(block.contains(ip("::ffff:192.168.44.1")));
        assert!(!block.contains(ip("192.169.0.1")));
        let host: Cidr = "::1".parse().expect("valid cidr");
        assert!(host.contains(ip("::1")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .is_ok_and(|all| all.contains(ip("8.8.8.8")))
        );
    }
}
