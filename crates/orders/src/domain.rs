//! Orders and the rules of placing one, free of I/O.

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

    pub fn from_stored(value: &str) -> Self {
        match value {
            "confirmed" => Self::Confirmed,
            "cancelled" => Self::Cancelled,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// A validated order: a positive user id and 1 to [`MAX_ITEMS`] distinct products, sorted
/// by product id, each with 1 to [`MAX_QUANTITY`] units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub user_id: i64,
    pub items: Vec<(i64, i64)>,
}

impl NewOrder {
    pub fn parse(user_id: i64, items: &[(i64, i64)]) -> Result<Self, String> {
        if user_id <= 0 {
            return Err("user_id must be positive".to_owned());
        }
        if items.is_empty() || items.len() > MAX_ITEMS {
            return Err(format!("an order holds 1 to {MAX_ITEMS} items"));
        }
        let mut sorted = items.to_vec();
        sorted.sort_unstable();
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(format!(
                "product {} is listed twice; put the total quantity in one item",
                pair[0].0
            ));
        }
        for &(product_id, quantity) in &sorted {
            if product_id <= 0 {
                return Err("product_id must be positive".to_owned());
            }
            if !(1..=MAX_QUANTITY).contains(&quantity) {
                return Err(format!("quantity must be between 1 and {MAX_QUANTITY}"));
            }
        }
        Ok(Self {
            user_id,
            items: sorted,
        })
    }

    /// Identifies the request's meaning, not its spelling: the same order with items in
    /// another order or other white space has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.user_id.to_be_bytes());
        for (product_id, quantity) in &self.items {
            hasher.update(product_id.to_be_bytes());
            hasher.update(quantity.to_be_bytes());
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

    #[test]
    fn orders_are_validated_and_sorted() {
        let order = NewOrder::parse(1, &[(102, 1), (101, 3)]);
        assert_eq!(order.map(|o| o.items), Ok(vec![(101, 3), (102, 1)]));
        assert!(NewOrder::parse(0, &[(1, 1)]).is_err());
        assert!(NewOrder::parse(1, &[]).is_err());
        assert!(NewOrder::parse(1, &[(1, 1), (1, 1)]).is_err());
        assert!(NewOrder::parse(1, &[(1, -1)]).is_err());
        assert!(NewOrder::parse(1, &[(1, MAX_QUANTITY + 1)]).is_err());
        assert!(NewOrder::parse(1, &[(0, 1)]).is_err());
    }

    #[test]
    fn fingerprints_ignore_item_order_but_not_content() {
        let a = NewOrder::parse(1, &[(102, 1), (101, 3)]).map(|o| o.fingerprint());
        let b = NewOrder::parse(1, &[(101, 3), (102, 1)]).map(|o| o.fingerprint());
        let c = NewOrder::parse(1, &[(101, 3), (102, 2)]).map(|o| o.fingerprint());
        let d = NewOrder::parse(2, &[(101, 3), (102, 1)]).map(|o| o.fingerprint());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
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
