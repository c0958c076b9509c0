//! The pages, one module per part of the shop. Each handler asks the API, turns its answer
//! into a view of plain strings and numbers, and renders a template that escapes them all.

use serde::Deserialize;

pub mod account;
pub mod admin;
pub mod cart;
pub mod catalogue;
pub mod checkout;
pub mod language;
pub mod orders;
pub mod product;
pub mod sign;

/// A product as the API lists it; only what the pages show.
#[derive(Debug, Clone, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub price_cents: i64,
    pub stock: i64,
}

/// Cents as money, such as `$1,299.00`.
pub fn money(currency: &str, cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let units = (cents / 100).to_string();
    let mut grouped = String::with_capacity(units.len() + units.len() / 3);
    for (index, digit) in units.chars().enumerate() {
        if index > 0 && (units.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{currency}{grouped}.{:02}", cents % 100)
}

/// The date and time of an RFC 3339 stamp, to the minute, as `2026-12-01 09:30`.
pub fn when(stamp: &str) -> String {
    stamp
        .get(..16)
        .map_or_else(|| stamp.to_owned(), |minute| minute.replacen('T', " ", 1))
}

/// The form token every state-changing form carries.
#[derive(Debug, Deserialize)]
pub struct Token {
    #[serde(default)]
    pub form_token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_like_money() {
        assert_eq!(money("$", 0), "$0.00");
        assert_eq!(money("$", 5), "$0.05");
        assert_eq!(money("$", 129_900), "$1,299.00");
        assert_eq!(money("$", 100_000_000), "$1,000,000.00");
        assert_eq!(money("$", -250), "-$2.50");
    }

    #[test]
    fn stamps_are_shown_to_the_minute() {
        assert_eq!(when("2026-12-01T09:30:15Z"), "2026-12-01 09:30");
        assert_eq!(when("short"), "short");
    }
}
