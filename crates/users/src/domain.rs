//! Users and the rules their fields obey. Raw input becomes these types at the edge;
//! a value of one of them is proof that it was checked.

use std::fmt;

/// An email address in its one normal form (`kit::identity::email`): trimmed, NFKC,
/// lower-cased, with lookalike tricks refused, so that uniqueness, login and the gateway's
/// throttling all see one identity per person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        kit::identity::email::normal_form(raw)
            .map(Self)
            .map_err(|error| error.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("name must not be empty".to_owned());
        }
        // Counted as sent, as the dictionary counts it; the spaces around it are dropped.
        if raw.chars().count() > 100 {
            return Err("name must be at most 100 characters".to_owned());
        }
        if name.chars().any(char::is_control) {
            return Err("name must not contain control characters".to_owned());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as chosen by its owner. Never trimmed or truncated: every character counts.
/// `Debug` is redacted so it cannot reach a log line by accident.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    /// Far above any passphrase a person types; bounds the work of hashing hostile input
    /// (at most 1 KiB of UTF-8).
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(format!(
                "password must have at least {} characters",
                Self::MIN_CHARS
            ));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "password must be at most {} characters",
                Self::MAX_CHARS
            ));
        }
        if is_common(&raw) {
            return Err(
                "this password is among the most common ones and is guessed first; choose another"
                    .to_owned(),
            );
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The most common passwords (see the file's header), loaded once.
fn is_common(password: &str) -> bool {
    static COMMON: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
        std::sync::LazyLock::new(|| {
            include_str!("../data/common-passwords.txt")
                .lines()
                .filter(|line| !line.starts_with('#'))
                .collect()
        });
    COMMON.contains(password.to_lowercase().as_str())
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// What a user may do. Stored as text; anything unknown is read as the least privilege.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }

    pub fn from_stored(value: &str) -> Self {
        match value {
            "admin" => Self::Admin,
            _ => Self::Customer,
        }
    }
}

/// A validated registration.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub name: UserName,
    pub password: Password,
}

/// A validated partial update; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub name: Option<UserName>,
    pub role: Option<Role>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").map(|e| e.0),
            Ok("alice@example.com".to_owned())
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@.example.com",
            "alice@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn names_are_bounded() {
        assert!(UserName::parse("Alice").is_ok());
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"x".repeat(101)).is_err());
        assert!(UserName::parse("a\u{0}b").is_err());
        assert_eq!(
            UserName::parse(&"é".repeat(100)).map(|n| n.0.chars().count()),
            Ok(100)
        );
    }

    #[test]
    fn passwords_are_counted_in_characters_and_never_trimmed() {
        assert!(Password::parse("short".to_owned()).is_err());
        assert!(Password::parse("ééééééé".to_owned()).is_err());
        assert!(Password::parse("éééééééé".to_owned()).is_ok());
        let spaced = Password::parse("  eight  ".to_owned()).map(|p| p.0);
        assert_eq!(spaced.as_deref(), Ok("  eight  "));
        assert!(Password::parse("x".repeat(64)).is_ok());
        assert!(Password::parse("x".repeat(1025)).is_err());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "12345678",
            "PassWord1",
            "iloveyou",
            "Qwertyuiop",
        ] {
            assert!(
                Password::parse(common.to_owned()).is_err(),
                "{common} was accepted"
            );
        }
        assert!(Password::parse("plain old words here".to_owned()).is_ok());
    }

    #[test]
    fn password_debug_is_redacted() {
        let password = Password::parse("correct horse".to_owned()).map(|p| format!("{p:?}"));
        assert_eq!(password.as_deref(), Ok("Password([redacted])"));
    }
}
