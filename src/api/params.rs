//! Path and query parameters that parse strictly and explain a rejection
//! the way body fields do (`limit must be between 1 and 100`), instead of
//! in poem-openapi's words (`failed to parse "integer(uint32)"`).
//!
//! Each type documents its own limits in the spec, accepts one canonical
//! spelling only and refuses a parameter given twice, since proxies and
//! frameworks disagree about which of two values wins.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};

use crate::domain::catalog::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

use super::fields::value_type;

fn inline(schema: MetaSchema) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(schema))
}

/// The one value of a parameter, or `None` when it is absent.
fn single<T: Type, A: AsRef<str>>(
    values: impl IntoIterator<Item = A>,
) -> Result<Option<A>, ParseError<T>> {
    let mut values = values.into_iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ParseError::custom("must be given only once"));
    }
    Ok(first)
}

/// Decimal digits without a sign or leading zeros, as the id appears in a
/// `Location` header; `+1` and `01` are not other names for 1.
fn canonical_positive(text: &str) -> Option<u64> {
    let digits = text.bytes().all(|b| b.is_ascii_digit());
    if !digits || text.is_empty() || text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// A product id in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductId(pub i64);

value_type!(
    ProductId,
    "ProductId",
    required = true,
    inline(MetaSchema {
        format: Some("int64"),
        minimum: Some(1.0),
        ..MetaSchema::new("integer")
    })
);

impl ParseFromParameter for ProductId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        canonical_positive(value)
            .and_then(|id| i64::try_from(id).ok())
            .map(Self)
            .ok_or_else(|| {
                ParseError::custom(
                    "must be a product id: a positive whole number in plain digits, \
                     without a sign or leading zeros",
                )
            })
    }
}

/// Items per page: absent means the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(pub u32);

value_type!(
    PageSize,
    "PageSize",
    required = false,
    inline(MetaSchema {
        format: Some("int32"),
        minimum: Some(1.0),
        maximum: Some(f64::from(MAX_PAGE_SIZE)),
        default: Some(DEFAULT_PAGE_SIZE.into()),
        ..MetaSchema::new("integer")
    })
);

impl ParseFromParameter for PageSize {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        canonical_positive(value)
            .filter(|n| *n <= u64::from(MAX_PAGE_SIZE))
            .and_then(|n| u32::try_from(n).ok())
            .map(Self)
            .ok_or_else(|| {
                ParseError::custom(format!(
                    "must be a whole number between 1 and {MAX_PAGE_SIZE}"
                ))
            })
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        values: I,
    ) -> ParseResult<Self> {
        match single::<Self, A>(values)? {
            Some(value) => Self::parse_from_parameter(value.as_ref()),
            None => Ok(Self(DEFAULT_PAGE_SIZE)),
        }
    }
}

/// Where a page starts: the `next_cursor` of the page before, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(pub Option<String>);

/// No cursor the service hands out comes near this length.
const MAX_CURSOR_CHARS: usize = 200;

value_type!(
    PageCursor,
    "PageCursor",
    required = false,
    inline(MetaSchema {
        max_length: Some(MAX_CURSOR_CHARS),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for PageCursor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if value.chars().count() > MAX_CURSOR_CHARS {
            return Err(ParseError::custom(
                "is not a cursor this service handed out; pass a page's `next_cursor` as it is",
            ));
        }
        Ok(Self(Some(value.to_owned())))
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        values: I,
    ) -> ParseResult<Self> {
        match single::<Self, A>(values)? {
            Some(value) => Self::parse_from_parameter(value.as_ref()),
            None => Ok(Self(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_positive_digits() {
        assert_eq!(
            ProductId::parse_from_parameter("42").unwrap(),
            ProductId(42)
        );
        let max = i64::MAX.to_string();
        assert_eq!(ProductId::parse_from_parameter(&max).unwrap().0, i64::MAX);
        for bad in [
            "+1",
            "01",
            "0",
            "-1",
            "1.0",
            " 1",
            "1e3",
            "",
            "9223372036854775808",
            "١",
        ] {
            assert!(ProductId::parse_from_parameter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_sizes_default_and_stay_in_range() {
        let none: [&str; 0] = [];
        assert_eq!(PageSize::parse_from_parameters(none).unwrap(), PageSize(20));
        assert_eq!(
            PageSize::parse_from_parameters(["100"]).unwrap(),
            PageSize(100)
        );
        for bad in ["0", "101", "+5", "05", "abc", "4294967296"] {
            assert!(PageSize::parse_from_parameters([bad]).is_err(), "{bad}");
        }
        assert!(PageSize::parse_from_parameters(["5", "6"]).is_err());
    }
}
