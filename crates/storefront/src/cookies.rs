//! The storefront's own cookies (reading them is `kit::serving::cookies`). Every cookie the
//! storefront sets is `__Host-` prefixed where it matters (no subdomain or plain-HTTP page
//! can plant one), `HttpOnly` (no script reads it) and `SameSite=Strict`.

/// `Set-Cookie` for a cookie of ours that lives `max_age` seconds (0 deletes it).
pub fn set(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}")
}
