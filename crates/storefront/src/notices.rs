//! What a page tells the visitor: a notice after something went well (named in the query,
//! from a fixed list, so no text of the visitor's is ever reflected), or why something
//! failed, from the API's problem.

use http::StatusCode;

use crate::api::Failure;
use crate::i18n::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    SignedUp,
    SignedOut,
    SignedOutEverywhere,
    UsedElsewhere,
    AddedToCart,
    OrderPlaced,
    OrderInProgress,
    OrderCancelled,
    PasswordChanged,
    Saved,
}

impl Notice {
    const ALL: [(Self, &'static str); 10] = [
        (Self::SignedUp, "signed-up"),
        (Self::SignedOut, "signed-out"),
        (Self::SignedOutEverywhere, "signed-out-everywhere"),
        (Self::UsedElsewhere, "used-elsewhere"),
        (Self::AddedToCart, "added"),
        (Self::OrderPlaced, "placed"),
        (Self::OrderInProgress, "in-progress"),
        (Self::OrderCancelled, "cancelled"),
        (Self::PasswordChanged, "password-changed"),
        (Self::Saved, "saved"),
    ];

    pub fn code(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(notice, _)| *notice == self)
            .map_or("", |(_, code)| code)
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, known)| *known == code)
            .map(|(notice, _)| *notice)
    }

    pub fn text(self, t: &'static Text) -> &'static str {
        match self {
            Self::SignedUp => t.signed_up,
            Self::SignedOut => t.signed_out,
            Self::SignedOutEverywhere => t.signed_out_everywhere,
            Self::UsedElsewhere => t.session_used_elsewhere,
            Self::AddedToCart => t.added_to_cart,
            Self::OrderPlaced => t.order_placed,
            Self::OrderInProgress => t.order_in_progress,
            Self::OrderCancelled => t.order_cancelled,
            Self::PasswordChanged => t.password_changed,
            Self::Saved => t.saved,
        }
    }
}

/// The words for a failed call, in the visitor's language.
pub fn failure_text(t: &'static Text, failure: &Failure) -> &'static str {
    match (failure.status, failure.kind.as_str()) {
        (_, "out-of-stock" | "insufficient-stock") => t.out_of_stock,
        (StatusCode::UNAUTHORIZED, "invalid-credentials") => t.bad_credentials,
        (StatusCode::UNAUTHORIZED, _) => t.please_sign_in,
        (StatusCode::FORBIDDEN, _) => t.forbidden,
        (StatusCode::NOT_FOUND, _) => t.not_found,
        (StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED, _) => t.conflict,
        (StatusCode::TOO_MANY_REQUESTS, _) => t.rate_limited,
        (
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT,
            _,
        ) => t.service_down,
        (status, _) if status.is_client_error() => t.invalid_input,
        _ => t.something_wrong,
    }
}

/// `text` as a query value: everything but unreserved characters percent-encoded.
pub fn encode_query_value(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A path of this site to go back to: one that starts with a single `/`, so that no link
/// can send the visitor to another site (`//evil.example` or `/\evil.example`).
pub fn local_path(path: &str) -> &str {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(char::is_control);
    if local { path } else { "/" }
}

/// Where the sign-in page sends the visitor back to, and why they are there.
pub fn sign_in_href(back: &str, ended: bool) -> String {
    let mut href = format!("/sign-in?next={}", encode_query_value(local_path(back)));
    if ended {
        href.push_str("&done=");
        href.push_str(Notice::UsedElsewhere.code());
    }
    href
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_unknown_codes_are_nothing() {
        for (notice, code) in Notice::ALL {
            assert_eq!(Notice::parse(code), Some(notice));
            assert_eq!(notice.code(), code);
        }
        assert_eq!(Notice::parse("<script>"), None);
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path("/cart?x=1"), "/cart?x=1");
        for outside in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(outside), "/", "{outside}");
        }
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode_query_value("/?q=a b&c"), "/%3Fq%3Da%20b%26c");
    }
}
