//! Products, prices, stock and reservations: the rules, free of I/O.

/// The largest price accepted, in cents (one million): anything above is a typo or an attack.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;
/// The largest stock a product may hold.
pub const MAX_STOCK: i64 = 1_000_000;
/// The most units of one product in one order.
pub const MAX_QUANTITY: i64 = 1_000;
/// The most distinct products in one order.
pub const MAX_ITEMS: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Counted as sent, as the dictionary counts it; the spaces around it are dropped.
        let name = raw.trim();
        match (raw.chars().count(), name.chars().count()) {
            (_, 0) => Err("name must not be empty".to_owned()),
            (n, _) if n > 200 => Err("name must be at most 200 characters".to_owned()),
            _ if name.chars().any(char::is_control) => {
                Err("name must not contain control characters".to_owned())
            }
            _ => Ok(Self(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > 2000 {
            return Err("description must be at most 2000 characters".to_owned());
        }
        Ok(Self(raw.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in cents: positive and below [`MAX_PRICE_CENTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(i64);

impl Price {
    pub fn parse(cents: i64) -> Result<Self, String> {
        if (1..=MAX_PRICE_CENTS).contains(&cents) {
            Ok(Self(cents))
        } else {
            Err(format!(
                "price_cents must be between 1 and {MAX_PRICE_CENTS}"
            ))
        }
    }

    pub fn cents(self) -> i64 {
        self.0
    }
}

/// Units on the shelf: zero up to [`MAX_STOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stock(i64);

impl Stock {
    pub fn parse(units: i64) -> Result<Self, String> {
        if (0..=MAX_STOCK).contains(&units) {
            Ok(Self(units))
        } else {
            Err(format!("stock must be between 0 and {MAX_STOCK}"))
        }
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

/// A product as created or replaced in full.
#[derive(Debug, Clone)]
pub struct ProductDraft {
    pub name: ProductName,
    pub description: Description,
    pub price: Price,
    pub stock: Stock,
}

/// A partial change; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<Price>,
    pub stock: Option<Stock>,
}

/// The orderings a product list may ask for; anything else is refused, so no input ever
/// reaches an ORDER BY clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    IdAsc,
    IdDesc,
    NameAsc,
    NameDesc,
    PriceAsc,
    PriceDesc,
}

impl Sort {
    pub const ACCEPTED: &str = "id, -id, name, -name, price, -price";

    pub fn parse(raw: &str) -> Result<Self, String> {
        Ok(match raw {
            "id" => Self::IdAsc,
            "-id" => Self::IdDesc,
            "name" => Self::NameAsc,
            "-name" => Self::NameDesc,
            "price" => Self::PriceAsc,
            "-price" => Self::PriceDesc,
            _ => return Err(format!("sort must be one of: {}", Self::ACCEPTED)),
        })
    }
}

/// One line of an order to hold stock for: a product and how many units of it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub product_id: i64,
    pub quantity: i64,
}

/// A reservation request after validation: distinct products in ascending id order, each
/// with a quantity in range. Ascending order makes concurrent reservations lock rows in the
/// same order on databases with row locks, so they cannot deadlock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRequest {
    pub order_id: i64,
    pub lines: Vec<OrderLine>,
}

impl ReservationRequest {
    pub fn parse(order_id: i64, lines: &[OrderLine]) -> Result<Self, String> {
        if order_id <= 0 {
            return Err("order_id must be positive".to_owned());
        }
        if lines.is_empty() || lines.len() > MAX_ITEMS {
            return Err(format!("an order holds 1 to {MAX_ITEMS} items"));
        }
        let mut sorted = lines.to_vec();
        sorted.sort_unstable();
        for window in sorted.windows(2) {
            if window[0].product_id == window[1].product_id {
                return Err(format!("product {} is listed twice", window[0].product_id));
            }
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
            order_id,
            lines: sorted,
        })
    }
}

/// Where one reserved line stands: its units are off the shelf for the order, or were
/// given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Held,
    Released,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Released => "released",
        }
    }
}

/// A status the database holds that this version does not know. Reading it is an error
/// (logged, answered with an opaque 500), never a guess: a wrong guess moves stock.
#[derive(Debug, thiserror::Error)]
#[error("unknown reservation status {0:?}")]
pub struct UnknownStatus(pub String);

impl TryFrom<String> for HoldStatus {
    type Error = UnknownStatus;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        [Self::Held, Self::Released]
            .into_iter()
            .find(|status| status.as_str() == stored)
            .ok_or(UnknownStatus(stored))
    }
}

/// What is recorded for an order as a whole: every line held, all given back, or nothing
/// ever taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    Held,
    Released,
    None,
}

impl ReservationStatus {
    /// The status of an order whose lines stand as `lines` say.
    pub fn of(lines: impl IntoIterator<Item = HoldStatus>) -> Self {
        let mut lines = lines.into_iter().peekable();
        if lines.peek().is_none() {
            Self::None
        } else if lines.all(|line| line == HoldStatus::Held) {
            Self::Held
        } else {
            Self::Released
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_and_stock_are_bounded() {
        assert!(Price::parse(0).is_err());
        assert!(Price::parse(-5).is_err());
        assert!(Price::parse(MAX_PRICE_CENTS + 1).is_err());
        assert_eq!(Price::parse(999).map(Price::cents), Ok(999));
        assert!(Stock::parse(-1).is_err());
        assert!(Stock::parse(MAX_STOCK + 1).is_err());
        assert_eq!(Stock::parse(0).map(Stock::units), Ok(0));
    }

    #[test]
    fn sort_accepts_only_the_whitelist() {
        assert_eq!(Sort::parse("-price"), Ok(Sort::PriceDesc));
        for bad in ["", "price;DROP TABLE products", "stock", "PRICE", "--price"] {
            assert!(Sort::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    fn line(product_id: i64, quantity: i64) -> OrderLine {
        OrderLine {
            product_id,
            quantity,
        }
    }

    #[test]
    fn reservations_are_sorted_and_checked() {
        let request = ReservationRequest::parse(7, &[line(102, 1), line(101, 2)]);
        assert_eq!(
            request.map(|r| r.lines),
            Ok(vec![line(101, 2), line(102, 1)])
        );
        assert!(ReservationRequest::parse(7, &[]).is_err());
        assert!(ReservationRequest::parse(0, &[line(1, 1)]).is_err());
        assert!(ReservationRequest::parse(7, &[line(1, 1), line(1, 2)]).is_err());
        assert!(ReservationRequest::parse(7, &[line(1, 0)]).is_err());
        assert!(ReservationRequest::parse(7, &[line(1, MAX_QUANTITY + 1)]).is_err());
        assert!(ReservationRequest::parse(7, &[line(-1, 1)]).is_err());
        let too_many: Vec<_> = (1..=51).map(|id| line(id, 1)).collect();
        assert!(ReservationRequest::parse(7, &too_many).is_err());
    }

    #[test]
    fn an_order_is_held_only_while_every_line_is() {
        use HoldStatus::{Held, Released};
        assert_eq!(ReservationStatus::of([]), ReservationStatus::None);
        assert_eq!(ReservationStatus::of([Held, Held]), ReservationStatus::Held);
        assert_eq!(
            ReservationStatus::of([Held, Released]),
            ReservationStatus::Released
        );
        assert!(HoldStatus::try_from("held".to_owned()).is_ok());
        assert!(HoldStatus::try_from("lost".to_owned()).is_err());
    }

    #[test]
    fn names_are_bounded() {
        assert!(ProductName::parse(" ").is_err());
        assert!(ProductName::parse(&"n".repeat(201)).is_err());
        assert_eq!(
            ProductName::parse(" Laptop ").map(|n| n.0),
            Ok("Laptop".to_owned())
        );
        assert!(Description::parse(&"d".repeat(2001)).is_err());
    }
}
