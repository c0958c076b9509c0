//! Integers in request bodies as JSON means them: `3` and `3.0` are the same number, and
//! JSON Schema's `integer` (which the API dictionary states) takes both. serde refuses
//! `3.0` for an `i64`; these take it, and still refuse `3.5` or a number out of range.
//! Use with `#[serde(deserialize_with = "...")]`.

use serde::{Deserialize, Deserializer, de::Error};

/// An `i64` written as an integer or as a float without a fraction.
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    whole(serde_json::Number::deserialize(deserializer)?)
}

/// The same, for an optional field; `null` is `None`.
pub fn optional_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(whole)
        .transpose()
}

fn whole<E: Error>(number: serde_json::Number) -> Result<i64, E> {
    if let Some(integer) = number.as_i64() {
        return Ok(integer);
    }
    // 2^63 is exact as a float; anything from it up does not fit.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    match number.as_f64() {
        Some(float) if float.fract() == 0.0 && (-LIMIT..LIMIT).contains(&float) => Ok(float as i64),
        _ => Err(E::custom("expected a whole number that fits in 64 bits")),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Line {
        #[serde(deserialize_with = "super::integer")]
        quantity: i64,
        #[serde(default, deserialize_with = "super::optional_integer")]
        stock: Option<i64>,
    }

    fn parse(json: &str) -> Option<Line> {
        serde_json::from_str(json).ok()
    }

    #[test]
    fn whole_floats_are_integers_and_fractions_are_not() {
        assert_eq!(
            parse(r#"{"quantity": 3.0, "stock": 7.0}"#),
            Some(Line {
                quantity: 3,
                stock: Some(7)
            })
        );
        assert_eq!(
            parse(r#"{"quantity": -2}"#),
            Some(Line {
                quantity: -2,
                stock: None
            })
        );
        assert_eq!(
            parse(r#"{"quantity": 1, "stock": null}"#).map(|l| l.stock),
            Some(None)
        );
        assert_eq!(parse(r#"{"quantity": 3.5}"#), None);
        assert_eq!(parse(r#"{"quantity": 1e300}"#), None);
        assert_eq!(parse(r#"{"quantity": 18446744073709551615}"#), None);
        assert_eq!(parse(r#"{"quantity": "3"}"#), None);
    }
}
