//! The cart: product ids and quantities in a cookie of the browser's, nothing else. It is
//! the visitor's to change, so it is only ever a wish: prices and totals come from
//! product-service each time a page shows them, and order-service charges its own.

/// The cart cookie.
pub const CART_COOKIE: &str = "__Host-msa_cart";
/// How long a cart is kept: a month.
pub const CART_MAX_AGE: u64 = 30 * 24 * 3600;
/// At most this many distinct products, as order-service takes in one order.
pub const MAX_LINES: usize = 50;
/// At most this many of one product.
pub const MAX_QUANTITY: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub product_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    pub lines: Vec<Line>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartError {
    Quantity,
    Full,
}

impl Cart {
    /// The cart in a cookie value such as `101x2.102x1`; anything malformed is dropped,
    /// line by line, rather than trusted or refused.
    pub fn parse(text: &str) -> Self {
        let mut cart = Self::default();
        for entry in text.split('.').take(MAX_LINES) {
            let Some((id, quantity)) = entry.split_once('x') else {
                continue;
            };
            let (Ok(product_id), Ok(quantity)) = (id.parse::<i64>(), quantity.parse::<i64>())
            else {
                continue;
            };
            if product_id > 0 && (1..=MAX_QUANTITY).contains(&quantity) {
                let _ = cart.set(product_id, quantity);
            }
        }
        cart
    }

    pub fn to_cookie_value(&self) -> String {
        self.lines
            .iter()
            .map(|line| format!("{}x{}", line.product_id, line.quantity))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Adds `quantity` of a product, up to [`MAX_QUANTITY`] in all.
    pub fn add(&mut self, product_id: i64, quantity: i64) -> Result<(), CartError> {
        if !(1..=MAX_QUANTITY).contains(&quantity) || product_id <= 0 {
            return Err(CartError::Quantity);
        }
        let already = self.quantity_of(product_id);
        self.set(product_id, (already + quantity).min(MAX_QUANTITY))
    }

    /// Sets the quantity of a product; 0 removes it.
    pub fn set(&mut self, product_id: i64, quantity: i64) -> Result<(), CartError> {
        if !(0..=MAX_QUANTITY).contains(&quantity) || product_id <= 0 {
            return Err(CartError::Quantity);
        }
        let full = self.lines.len() >= MAX_LINES;
        match self
            .lines
            .iter_mut()
            .find(|line| line.product_id == product_id)
        {
            Some(line) => line.quantity = quantity,
            None if quantity == 0 => {}
            None if full => return Err(CartError::Full),
            None => self.lines.push(Line {
                product_id,
                quantity,
            }),
        }
        self.lines.retain(|line| line.quantity > 0);
        Ok(())
    }

    pub fn quantity_of(&self, product_id: i64) -> i64 {
        self.lines
            .iter()
            .find(|line| line.product_id == product_id)
            .map_or(0, |line| line.quantity)
    }

    /// How many items, all lines together.
    pub fn count(&self) -> i64 {
        self.lines.iter().map(|line| line.quantity).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cart_survives_its_cookie() {
        let mut cart = Cart::default();
        assert_eq!(cart.add(101, 2), Ok(()));
        assert_eq!(cart.add(102, 1), Ok(()));
        assert_eq!(cart.add(101, 1), Ok(()));
        assert_eq!(cart.to_cookie_value(), "101x3.102x1");
        assert_eq!(Cart::parse(&cart.to_cookie_value()), cart);
        assert_eq!(cart.count(), 4);
    }

    #[test]
    fn a_tampered_cookie_keeps_only_what_is_well_formed() {
        let cart = Cart::parse("101x2.102x-5.abc.103x0.104x999.-1x1.105x1x2.106x1");
        assert_eq!(cart.to_cookie_value(), "101x2.106x1");
    }

    #[test]
    fn quantities_stay_in_bounds() {
        let mut cart = Cart::default();
        assert_eq!(cart.add(101, -1), Err(CartError::Quantity));
        assert_eq!(cart.add(101, 0), Err(CartError::Quantity));
        assert_eq!(cart.add(101, 101), Err(CartError::Quantity));
        assert_eq!(cart.add(101, 90), Ok(()));
        assert_eq!(cart.add(101, 90), Ok(()));
        assert_eq!(cart.quantity_of(101), MAX_QUANTITY);
        assert_eq!(cart.set(101, 0), Ok(()));
        assert!(cart.is_empty());
    }

    #[test]
    fn a_cart_has_at_most_fifty_lines() {
        let mut cart = Cart::default();
        for id in 1..=50 {
            assert_eq!(cart.add(id, 1), Ok(()));
        }
        assert_eq!(cart.add(51, 1), Err(CartError::Full));
        assert_eq!(cart.add(50, 1), Ok(()));
    }
}
