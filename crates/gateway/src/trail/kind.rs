//! The types of security events, as stored, counted and filtered by.

use serde::Serialize;
use utoipa::ToSchema;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[schema(as = SecurityEventType)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A login with a wrong password, or for no account.
    LoginFailed,
    /// Logins from an address or for an account slowed down after repeated failures.
    LoginThrottled,
    /// A session cookie presented by another client; the session is ended.
    SessionReplayed,
    /// Sessions ended by their user: signed out everywhere, or a password changed.
    SessionsRevoked,
    /// An API key created.
    ApiKeyCreated,
    /// An API key used for the first time.
    ApiKeyFirstUsed,
    /// An API key revoked by its owner.
    ApiKeyRevoked,
    /// An unknown or revoked API key presented.
    ApiKeyRefused,
    /// A deleted or demoted account's sessions and keys revoked (de-provisioning).
    AccessRevoked,
    /// An identity token a service refused (replayed, forged, expired, made for another
    /// request, or shown without a client certificate), as the service reports it.
    TokenRefused,
    /// A client over its rate limit.
    RateLimited,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::LoginFailed,
        Kind::LoginThrottled,
        Kind::SessionReplayed,
        Kind::SessionsRevoked,
        Kind::ApiKeyCreated,
        Kind::ApiKeyFirstUsed,
        Kind::ApiKeyRevoked,
        Kind::ApiKeyRefused,
        Kind::AccessRevoked,
        Kind::TokenRefused,
        Kind::RateLimited,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::LoginFailed => "login-failed",
            Kind::LoginThrottled => "login-throttled",
            Kind::SessionReplayed => "session-replayed",
            Kind::SessionsRevoked => "sessions-revoked",
            Kind::ApiKeyCreated => "api-key-created",
            Kind::ApiKeyFirstUsed => "api-key-first-used",
            Kind::ApiKeyRevoked => "api-key-revoked",
            Kind::ApiKeyRefused => "api-key-refused",
            Kind::AccessRevoked => "access-revoked",
            Kind::TokenRefused => "token-refused",
            Kind::RateLimited => "rate-limited",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_back_as_its_name_and_serializes_as_it() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::from(kind.as_str()))
            );
        }
        assert_eq!(Kind::parse("login_failed"), None);
    }
}
