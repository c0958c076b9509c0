//! Browser sessions: the cookie that carries them and the rules that end them.
//!
//! The cookie holds a random 256-bit token; the gateway's database holds its digest, the
//! account, and the client it was issued to. A session ends at logout, after
//! [`SessionPolicy::idle`] without use, after [`SessionPolicy::lifetime`] in any case, and
//! at once when it is presented by another client than the one that logged in: a cookie
//! copied into another browser is worth nothing, and its theft is logged.

use std::net::IpAddr;
use std::time::Duration;

use http::HeaderMap;
use http::header::USER_AGENT;

use crate::store::SessionRow;

/// The `__Host-` prefix makes browsers refuse the cookie unless it is `Secure`, has
/// `Path=/` and no `Domain`: no subdomain and no plain-HTTP page can set or shadow it.
pub const COOKIE_NAME: &str = "__Host-msa_session";

#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// A session unused this long is over.
    pub idle: Duration,
    /// No session lives longer, however busy.
    pub lifetime: Duration,
}

impl SessionPolicy {
    fn idle_seconds(&self) -> i64 {
        i64::try_from(self.idle.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn lifetime_seconds(&self) -> i64 {
        i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX)
    }

    /// Sessions last seen before this moment have timed out.
    pub fn idle_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.idle_seconds())
    }

    /// When a session last seen at `last_seen_at` times out.
    pub fn idle_expiry(&self, last_seen_at: i64) -> i64 {
        last_seen_at.saturating_add(self.idle_seconds())
    }

    /// How stale `last_seen_at` may get before it is written again: rarely enough to spare
    /// the database a write per request, often enough to keep the idle timeout honest.
    fn touch_after(&self) -> i64 {
        (self.idle_seconds() / 10).clamp(1, 60)
    }
}

/// The client a request comes from, as the gateway sees it.
#[derive(Debug, Clone)]
pub struct ClientFingerprint {
    pub user_agent_hash: String,
    pub network: String,
}

impl ClientFingerprint {
    pub fn of(headers: &HeaderMap, ip: IpAddr) -> Self {
        let user_agent = headers
            .get(USER_AGENT)
            .map(|value| value.as_bytes())
            .unwrap_or_default();
        Self {
            user_agent_hash: crate::access::secret::digest(&String::from_utf8_lossy(user_agent)),
            network: network_of(ip),
        }
    }
}

/// The network a client address belongs to: its /24 (IPv4) or /64 (IPv6). A client keeps
/// it while its own address changes within a home or office network.
pub fn network_of(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// What to do with a presented session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid; `touch` says whether to record this use.
    Valid { touch: bool },
    /// Over by time: deleted without fuss.
    Expired,
    /// Presented by another client: ended, and logged as a security event.
    Replayed { what_changed: &'static str },
    /// Ended earlier because another client presented it; whoever presents it now is told.
    EndedAsReplayed,
}

/// The `ended_reason` of a session ended because another client presented its cookie.
pub const REPLAYED: &str = "replayed";

pub fn judge(
    session: &SessionRow,
    client: &ClientFingerprint,
    now: i64,
    policy: &SessionPolicy,
) -> Verdict {
    if now >= session.expires_at || now >= policy.idle_expiry(session.last_seen_at) {
        return Verdict::Expired;
    }
    if session.ended_reason.is_some() {
        return Verdict::EndedAsReplayed;
    }
    if session.user_agent_hash != client.user_agent_hash {
        return Verdict::Replayed {
            what_changed: "user agent",
        };
    }
    if session.network != client.network {
        return Verdict::Replayed {
            what_changed: "network",
        };
    }
    Verdict::Valid {
        touch: now - session.last_seen_at >= policy.touch_after(),
    }
}

/// The session token in the request's cookies, if any.
pub fn token_from(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers).filter(|value| !value.is_empty() && value.len() <= 64)
}

/// Whether the request carries the session cookie at all, whatever its value.
pub fn cookie_presented(headers: &HeaderMap) -> bool {
    cookie_value(headers).is_some()
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    kit::serving::cookies::value(headers, COOKIE_NAME)
}

/// `Set-Cookie` for a new session. `SameSite=Strict` keeps the cookie off every request
/// another site triggers, which is the CSRF defence for unsafe methods.
pub fn set_cookie(token: &str, policy: &SessionPolicy) -> String {
    format!(
        "{COOKIE_NAME}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        policy.lifetime_seconds()
    )
}

/// `Set-Cookie` that makes the browser forget the session.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use http::header::COOKIE;

    use super::*;

    const POLICY: SessionPolicy = SessionPolicy {
        idle: Duration::from_secs(1800),
        lifetime: Duration::from_secs(12 * 3600),
    };

    fn session(created_at: i64, last_seen_at: i64) -> SessionRow {
        SessionRow {
            id: 1,
            user_id: 1,
            role: "customer".to_owned(),
            user_agent_hash: "ua".to_owned(),
            network: "10.0.0.0/24".to_owned(),
            created_at,
            last_seen_at,
            expires_at: created_at + POLICY.lifetime_seconds(),
            ended_reason: None,
        }
    }

    fn client(ua: &str, network: &str) -> ClientFingerprint {
        ClientFingerprint {
            user_agent_hash: ua.to_owned(),
            network: network.to_owned(),
        }
    }

    #[test]
    fn a_session_in_use_stays_valid_until_its_lifetime_ends() {
        let same = client("ua", "10.0.0.0/24");
        assert_eq!(
            judge(&session(0, 0), &same, 60, &POLICY),
            Verdict::Valid { touch: true }
        );
        assert_eq!(
            judge(&session(0, 100), &same, 110, &POLICY),
            Verdict::Valid { touch: false }
        );
        let busy = session(0, 12 * 3600 - 1);
        assert_eq!(judge(&busy, &same, 12 * 3600, &POLICY), Verdict::Expired);
    }

    #[test]
    fn an_idle_session_expires() {
        let same = client("ua", "10.0.0.0/24");
        assert!(matches!(
            judge(&session(0, 0), &same, 1799, &POLICY),
            Verdict::Valid { .. }
        ));
        assert_eq!(
            judge(&session(0, 0), &same, 1800, &POLICY),
            Verdict::Expired
        );
    }

    #[test]
    fn another_client_is_a_replay() {
        assert_eq!(
            judge(&session(0, 0), &client("other", "10.0.0.0/24"), 1, &POLICY),
            Verdict::Replayed {
                what_changed: "user agent"
            }
        );
        assert_eq!(
            judge(&session(0, 0), &client("ua", "192.0.2.0/24"), 1, &POLICY),
            Verdict::Replayed {
                what_changed: "network"
            }
        );
    }

    #[test]
    fn a_session_ended_as_replayed_stays_ended_for_its_own_client() {
        let ended = SessionRow {
            ended_reason: Some(REPLAYED.to_owned()),
            ..session(0, 0)
        };
        assert_eq!(
            judge(&ended, &client("ua", "10.0.0.0/24"), 1, &POLICY),
            Verdict::EndedAsReplayed
        );
        assert_eq!(
            judge(&ended, &client("ua", "10.0.0.0/24"), 1800, &POLICY),
            Verdict::Expired
        );
    }

    #[test]
    fn networks_are_prefixes() {
        assert_eq!(
            network_of("203.0.113.77".parse().unwrap_or(IpAddr::from([0; 4]))),
            "203.0.113.0/24"
        );
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(network_of(v6), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:198.51.100.9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(network_of(mapped), "198.51.100.0/24");
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "theme=dark".parse().expect("valid header"));
        headers.append(
            COOKIE,
            format!("a=1; {COOKIE_NAME}=secret; b=2")
                .parse()
                .expect("valid header"),
        );
        assert_eq!(token_from(&headers), Some("secret"));
        assert_eq!(token_from(&HeaderMap::new()), None);
    }

    #[test]
    fn the_cookie_has_every_protective_attribute() {
        let cookie = set_cookie("t", &POLICY);
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
        }
        assert!(cookie.starts_with("__Host-"));
        assert!(!cookie.contains("Domain"));
    }
}
