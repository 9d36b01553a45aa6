//! Exact prices. A price travels as a JSON number but is held and stored
//! as integer cents, so 19.99 in is 19.99 out and never 19.989999….

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price {
    cents: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("must be a number from 0 to 9999999999.99")]
    OutOfRange,
    #[error("must have at most two decimal places")]
    TooPrecise,
    #[error("must be a plain decimal number")]
    NotANumber,
}

impl Price {
    pub const MAX_CENTS: i64 = 999_999_999_999;
    /// The largest price, in currency units, for documentation.
    pub const MAX: f64 = 9_999_999_999.99;

    pub fn from_cents(cents: i64) -> Result<Self, PriceError> {
        if (0..=Self::MAX_CENTS).contains(&cents) {
            Ok(Self { cents })
        } else {
            Err(PriceError::OutOfRange)
        }
    }

    pub fn cents(self) -> i64 {
        self.cents
    }

    /// Parses a decimal such as `19.99`, `20` or `0.5`, exactly.
    pub fn parse_decimal(text: &str) -> Result<Self, PriceError> {
        if let Some(magnitude) = text.strip_prefix('-') {
            // Negative zero is zero; anything else below zero is out of range.
            return if !magnitude.is_empty() && magnitude.chars().all(|c| c == '0' || c == '.') {
                Self::parse_decimal(magnitude)
            } else {
                Err(PriceError::OutOfRange)
            };
        }
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(PriceError::NotANumber);
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(PriceError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        // More than ten whole digits is over the maximum whatever they are.
        if whole.len() > 10 {
            return Err(PriceError::OutOfRange);
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| PriceError::NotANumber)?
        };
        let cents: i64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| PriceError::NotANumber)?;
        Self::from_cents(whole * 100 + cents)
    }

    /// Converts a JSON float. Rust prints an `f64` as the shortest decimal
    /// that reads back as the same value, which is the number the client
    /// wrote, so the decimal check sees `19.99` rather than its binary
    /// approximation.
    pub fn from_f64(value: f64) -> Result<Self, PriceError> {
        if !value.is_finite() {
            return Err(PriceError::NotANumber);
        }
        if !(0.0..=Self::MAX).contains(&value) && value != 0.0 {
            return Err(PriceError::OutOfRange);
        }
        Self::parse_decimal(&format!("{value}"))
    }

    /// The price in currency units, for JSON. Exact to the cent because
    /// every value below 2^53 / 100 prints back as its two-decimal form.
    pub fn as_f64(self) -> f64 {
        self.cents as f64 / 100.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        for (text, cents) in [
            ("19.99", 1999),
            ("20", 2000),
            ("0.5", 50),
            ("0", 0),
            ("0.01", 1),
        ] {
            let price = Price::parse_decimal(text).unwrap();
            assert_eq!(price.cents(), cents, "{text}");
        }
        assert_eq!(Price::from_f64(19.99).unwrap().cents(), 1999);
        assert_eq!(Price::from_f64(0.29).unwrap().cents(), 29);
        assert_eq!(Price::from_f64(1.1).unwrap().cents(), 110);
        assert_eq!(
            Price::from_cents(1999).unwrap().as_f64().to_string(),
            "19.99"
        );
        assert_eq!(Price::from_cents(1999).unwrap().to_string(), "19.99");
    }

    #[test]
    fn the_maximum_is_accepted_and_one_cent_more_is_not() {
        let max = Price::from_f64(9_999_999_999.99).unwrap();
        assert_eq!(max.cents(), Price::MAX_CENTS);
        assert_eq!(max.as_f64(), Price::MAX);
        assert_eq!(
            Price::parse_decimal("10000000000.00"),
            Err(PriceError::OutOfRange)
        );
        assert_eq!(Price::from_f64(1e11), Err(PriceError::OutOfRange));
        assert_eq!(
            Price::parse_decimal("000000000000000001.5")
                .unwrap()
                .cents(),
            150
        );
    }

    #[test]
    fn negative_and_too_precise_prices_are_rejected() {
        assert_eq!(Price::from_f64(-0.01), Err(PriceError::OutOfRange));
        assert_eq!(Price::from_f64(-0.0).unwrap().cents(), 0);
        assert_eq!(Price::from_f64(19.999), Err(PriceError::TooPrecise));
        assert_eq!(Price::from_f64(1e-7), Err(PriceError::TooPrecise));
        assert_eq!(Price::parse_decimal("1.230").unwrap().cents(), 123);
        assert_eq!(Price::from_f64(f64::NAN), Err(PriceError::NotANumber));
        assert_eq!(Price::parse_decimal("1e3"), Err(PriceError::NotANumber));
        assert_eq!(Price::parse_decimal(".5"), Err(PriceError::NotANumber));
    }
}
