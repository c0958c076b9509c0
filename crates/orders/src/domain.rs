//! Orders and the rules of placing one, free of I/O.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAX_ITEMS: usize = 50;
pub const MAX_QUANTITY: i64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Cancelled,
    Failed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
        }
    }
}

/// A status the database holds that this version does not know: written by a newer
/// version, or by hand. Reading it is an error (logged, answered with an opaque 500), never
/// a guess, since a wrong guess could confirm, cancel or settle the wrong order.
#[derive(Debug, thiserror::Error)]
#[error("unknown order status {0:?}")]
pub struct UnknownStatus(pub String);

impl TryFrom<&str> for OrderStatus {
    type Error = UnknownStatus;

    fn try_from(stored: &str) -> Result<Self, Self::Error> {
        [
            Self::Pending,
            Self::Confirmed,
            Self::Cancelled,
            Self::Failed,
        ]
        .into_iter()
        .find(|status| status.as_str() == stored)
        .ok_or_else(|| UnknownStatus(stored.to_owned()))
    }
}

impl TryFrom<String> for OrderStatus {
    type Error = UnknownStatus;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::try_from(stored.as_str())
    }
}

/// One line of an order: a product and how many units of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: i64,
    pub quantity: i64,
}

impl OrderLine {
    pub fn new(product_id: i64, quantity: i64) -> Self {
        Self {
            product_id,
            quantity,
        }
    }
}

/// A validated order: a positive user id and 1 to [`MAX_ITEMS`] distinct products, sorted
/// by product id, each with 1 to [`MAX_QUANTITY`] units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub user_id: i64,
    pub lines: Vec<OrderLine>,
}

impl NewOrder {
    pub fn parse(user_id: i64, lines: &[OrderLine]) -> Result<Self, String> {
        if user_id <= 0 {
            return Err("user_id must be positive".to_owned());
        }
        if lines.is_empty() || lines.len() > MAX_ITEMS {
            return Err(format!("an order holds 1 to {MAX_ITEMS} items"));
        }
        let mut sorted = lines.to_vec();
        sorted.sort_unstable();
        if let Some(pair) = sorted
            .windows(2)
            .find(|pair| pair[0].product_id == pair[1].product_id)
        {
            return Err(format!(
                "product {} is listed twice; put the total quantity in one item",
                pair[0].product_id
            ));
        }
        for line in &sorted {
            if line.product_id <= 0 {
                return Err("product_id must be positive".to_owned());
            }
            if !(1..=MAX_QUANTITY).contains(&line.quantity) {
                return Err(format!("quantity must be between 1 and {MAX_QUANTITY}"));
            }
        }
        Ok(Self {
            user_id,
            lines: sorted,
        })
    }

    /// Identifies the request's meaning, not its spelling: the same order with items in
    /// another order or other white space has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.user_id.to_be_bytes());
        for line in &self.lines {
            hasher.update(line.product_id.to_be_bytes());
            hasher.update(line.quantity.to_be_bytes());
        }
        kit::hex::encode(&hasher.finalize())
    }
}

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters. The IETF draft sends it
/// as a structured-field string (`"abc"`); a bare token is accepted too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let key = trimmed
            .strip_prefix('"')
            .and_then(|k| k.strip_suffix('"'))
            .unwrap_or(trimmed);
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned());
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How long a key is remembered: at least the 24 hours the draft recommends.
pub const KEY_RETENTION_SECONDS: i64 = 24 * 60 * 60;

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: i64, quantity: i64) -> OrderLine {
        OrderLine::new(product_id, quantity)
    }

    #[test]
    fn orders_are_validated_and_sorted() {
        let order = NewOrder::parse(1, &[line(102, 1), line(101, 3)]);
        assert_eq!(order.map(|o| o.lines), Ok(vec![line(101, 3), line(102, 1)]));
        assert!(NewOrder::parse(0, &[line(1, 1)]).is_err());
        assert!(NewOrder::parse(1, &[]).is_err());
        assert!(NewOrder::parse(1, &[line(1, 1), line(1, 1)]).is_err());
        assert!(NewOrder::parse(1, &[line(1, -1)]).is_err());
        assert!(NewOrder::parse(1, &[line(1, MAX_QUANTITY + 1)]).is_err());
        assert!(NewOrder::parse(1, &[line(0, 1)]).is_err());
    }

    #[test]
    fn fingerprints_ignore_item_order_but_not_content() {
        let a = NewOrder::parse(1, &[line(102, 1), line(101, 3)]).map(|o| o.fingerprint());
        let b = NewOrder::parse(1, &[line(101, 3), line(102, 1)]).map(|o| o.fingerprint());
        let c = NewOrder::parse(1, &[line(101, 3), line(102, 2)]).map(|o| o.fingerprint());
        let d = NewOrder::parse(2, &[line(101, 3), line(102, 1)]).map(|o| o.fingerprint());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn stored_statuses_round_trip_and_unknown_ones_are_errors() {
        for status in [
            OrderStatus::Pending,
            OrderStatus::Confirmed,
            OrderStatus::Cancelled,
            OrderStatus::Failed,
        ] {
            assert_eq!(OrderStatus::try_from(status.as_str()).ok(), Some(status));
        }
        assert!(OrderStatus::try_from("shipped").is_err());
        assert!(OrderStatus::try_from("").is_err());
    }

    #[test]
    fn idempotency_keys_accept_sf_strings_and_tokens() {
        assert_eq!(
            IdempotencyKey::parse("\"8e03978e\"").map(|k| k.0),
            Ok("8e03978e".to_owned())
        );
        assert_eq!(
            IdempotencyKey::parse("abc-1").map(|k| k.0),
            Ok("abc-1".to_owned())
        );
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("\"\"").is_err());
        assert!(IdempotencyKey::parse("a b").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
