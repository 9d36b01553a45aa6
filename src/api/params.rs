//! Path and query parameters that parse strictly and explain a rejection
//! the way body fields do (`limit must be between 1 and 100`), instead of
//! in poem-openapi's words (`failed to parse "integer(uint32)"`).
//!
//! Each type documents its own limits in the spec and accepts one
//! canonical spelling only. [`Once`] makes any of them optional and
//! refuses it given twice, since proxies and frameworks disagree about
//! which of two values wins.

use poem::Request;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult, Type};

use crate::domain::admin::MAX_PREFIX_CHARS;
use crate::domain::audit;
use crate::domain::catalog::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Sort};
use crate::domain::consistency;
use crate::domain::price::{Price, PriceError};
use crate::domain::search::{MAX_QUERY_CHARS, SearchTerms};
use crate::domain::values::{USERNAME_PATTERN, Username};

use super::fields::{value_type, wraps_option};
use super::problem::Problem;

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

/// An optional parameter that may be given at most once: absent is
/// `None`; two values are refused. The one wrapper every optional
/// parameter here goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once<T>(pub Option<T>);

wraps_option!(Once, required = false, |name| name.into_owned());

impl<T: ParseFromParameter> ParseFromParameter for Once<T> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        T::parse_from_parameter(value)
            .map(|value| Self(Some(value)))
            .map_err(ParseError::propagate)
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

/// An id in a path, in the one spelling a `Location` header gives it;
/// `noun` names what it identifies in the refusal.
fn path_id<T: Type>(value: &str, noun: &str) -> Result<i64, ParseError<T>> {
    canonical_positive(value)
        .and_then(|id| i64::try_from(id).ok())
        .ok_or_else(|| {
            ParseError::custom(format!(
                "must be a {noun} id: a positive whole number in plain digits, \
                 without a sign or leading zeros"
            ))
        })
}

impl ParseFromParameter for ProductId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        path_id::<Self>(value, "product").map(Self)
    }
}

/// Items per page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(pub u32);

value_type!(
    PageSize,
    "PageSize",
    required = true,
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
}

/// Where a page starts: the `next_cursor` of the page before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor(pub String);

/// No cursor the service hands out comes near this length (the longest,
/// for the name sort, carries a 512-character name).
const MAX_CURSOR_CHARS: usize = 4000;

value_type!(
    PageCursor,
    "PageCursor",
    required = true,
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
        Ok(Self(value.to_owned()))
    }
}

/// The order of a product listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductSort(pub Sort);

value_type!(
    ProductSort,
    "ProductSort",
    required = true,
    // A named enum, so generated clients share one type for it.
    MetaSchemaRef::Reference("ProductSort".into()),
    register = |registry| {
        registry.create_schema::<ProductSort, _>("ProductSort".into(), |_| MetaSchema {
            description: Some(
                "The order of a listing: a field, with `-` for descending. Ties are broken by \
                 id in the same direction.",
            ),
            enum_items: Sort::ALL
                .iter()
                .map(|sort| serde_json::Value::from(sort.name()))
                .collect(),
            default: Some(Sort::NewestFirst.name().into()),
            ..MetaSchema::new("string")
        });
    }
);

impl ParseFromParameter for ProductSort {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Sort::from_name(value).map(Self).ok_or_else(|| {
            let names: Vec<&str> = Sort::ALL.iter().map(|sort| sort.name()).collect();
            ParseError::custom(format!("must be one of {}", names.join(", ")))
        })
    }
}

/// Words to search names and descriptions for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery(pub SearchTerms);

value_type!(
    SearchQuery,
    "SearchQuery",
    required = true,
    inline(MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_QUERY_CHARS),
        example: Some("porcelain mug".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for SearchQuery {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        SearchTerms::parse(value)
            .map(Self)
            .map_err(ParseError::custom)
    }
}

/// A price bound in a query: a decimal such as `10` or `19.99`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceBound(pub Price);

value_type!(
    PriceBound,
    "PriceBound",
    required = true,
    inline(MetaSchema {
        format: Some("double"),
        minimum: Some(0.0),
        maximum: Some(Price::MAX),
        example: Some(serde_json::json!(19.99)),
        ..MetaSchema::new("number")
    })
);

impl ParseFromParameter for PriceBound {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Price::parse_decimal(value)
            .map(Self)
            .map_err(|err| match err {
                PriceError::NotANumber => {
                    ParseError::custom("must be a plain decimal number such as 10 or 19.99")
                }
                other => ParseError::custom(other.to_string()),
            })
    }
}

/// A username to keep the products of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerName(pub Username);

value_type!(
    OwnerName,
    "OwnerName",
    required = true,
    inline(MetaSchema {
        min_length: Some(Username::MIN),
        max_length: Some(Username::MAX),
        pattern: Some(USERNAME_PATTERN.into()),
        example: Some("alice".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for OwnerName {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Username::parse(value.to_owned())
            .map(Self)
            .map_err(|reason| ParseError::custom(format!("is not a username: it {reason}")))
    }
}

/// A user id in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserId(pub i64);

value_type!(
    UserId,
    "UserId",
    required = true,
    inline(MetaSchema {
        format: Some("int64"),
        minimum: Some(1.0),
        ..MetaSchema::new("integer")
    })
);

impl ParseFromParameter for UserId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        path_id::<Self>(value, "user").map(Self)
    }
}

/// The start of a username or an email, in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrefix(pub String);

/// What [`UserPrefix`] accepts, for the spec and the parser alike: no
/// control or invisible formatting characters.
const USER_PREFIX_PATTERN: &str =
    r"^[^\u0000-\u001F\u007F-\u009F\u00AD\u200B-\u200F\u202A-\u202E\u2060-\u206F\uFEFF]+$";

static USER_PREFIX_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(USER_PREFIX_PATTERN).expect("valid regex"));

value_type!(
    UserPrefix,
    "UserPrefix",
    required = true,
    inline(MetaSchema {
        min_length: Some(1),
        max_length: Some(MAX_PREFIX_CHARS),
        pattern: Some(USER_PREFIX_PATTERN.into()),
        example: Some("ali".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for UserPrefix {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_PREFIX_CHARS {
            return Err(ParseError::custom(format!(
                "must be 1–{MAX_PREFIX_CHARS} characters"
            )));
        }
        if !USER_PREFIX_RE.is_match(value) {
            return Err(ParseError::custom(
                "must not contain control or invisible formatting characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }
}

/// Who did something, as audit events name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor(pub String);

value_type!(
    AuditActor,
    "AuditActor",
    required = true,
    inline(MetaSchema {
        pattern: Some(audit::ACTOR_PATTERN.into()),
        example: Some("user:1".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for AuditActor {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if audit::is_actor(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ParseError::custom(
                "must be `user:<id>` or `cli:<name>`, as an event's `actor` is",
            ))
        }
    }
}

/// What something was done to, as audit events name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget(pub String);

value_type!(
    AuditTarget,
    "AuditTarget",
    required = true,
    inline(MetaSchema {
        pattern: Some(audit::TARGET_PATTERN.into()),
        example: Some("user:2".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for AuditTarget {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if audit::is_target(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(ParseError::custom(
                "must be `user:<id>` or `product:<id>`, as an event's `target` is",
            ))
        }
    }
}

/// The header parameters the operations read. poem-openapi passes over a
/// value that is not visible ASCII as if the header were absent, which
/// would make a conditional or keyed request an ordinary one; such a
/// request is refused instead, by [`unreadable_header`].
const READ_HEADERS: [&str; 3] = ["If-Match", "If-None-Match", "Idempotency-Key"];

/// A 400 problem for a request that sends one of [`READ_HEADERS`] with a
/// value that is not visible ASCII.
pub fn unreadable_header(request: &Request) -> Option<Problem> {
    READ_HEADERS.into_iter().find_map(|name| {
        let unreadable = request
            .headers()
            .get_all(name)
            .iter()
            .any(|value| value.to_str().is_err());
        unreadable
            .then(|| Problem::invalid(name, format!("`{name}` must be visible ASCII characters")))
    })
}

/// `Idempotency-Key`: makes a create safe to retry. 1–255 visible ASCII
/// characters, kept for
/// [`IDEMPOTENCY_TTL_HOURS`](crate::domain::catalog::IDEMPOTENCY_TTL_HOURS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKeyHeader(pub String);

impl IdempotencyKeyHeader {
    pub const MAX: usize = 255;

    /// The key's bytes, as the domain takes it.
    pub fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

value_type!(
    IdempotencyKeyHeader,
    "IdempotencyKey",
    required = true,
    inline(MetaSchema {
        min_length: Some(1),
        max_length: Some(IdempotencyKeyHeader::MAX),
        pattern: Some("^[!-~]+$".into()),
        example: Some("8e0f6ad2-4b8e-4f32-9c55-2f8d2d5f4a61".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for IdempotencyKeyHeader {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        let visible = value.bytes().all(|b| b.is_ascii_graphic());
        if value.is_empty() || value.len() > Self::MAX || !visible {
            return Err(ParseError::custom(format!(
                "must be 1 to {} visible ASCII characters, such as a UUID",
                Self::MAX
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

/// A consistency token from a write's `Catalog-Consistency` answer.
/// Only its shape is checked here; one that does not verify (another
/// cluster's) is not an error, just read from the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyHeader(String);

impl ConsistencyHeader {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

value_type!(
    ConsistencyHeader,
    "ConsistencyToken",
    required = true,
    inline(MetaSchema {
        min_length: Some(24),
        max_length: Some(consistency::MAX_TOKEN_CHARS),
        pattern: Some("^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{22}$".into()),
        example: Some("MC0xLTQy.TSjqJ-zYk2ZLUYkGkLSkNw".into()),
        ..MetaSchema::new("string")
    })
);

impl ParseFromParameter for ConsistencyHeader {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        if !consistency::well_formed(value) {
            return Err(ParseError::custom(
                "must be a consistency token exactly as a write's Catalog-Consistency header gave it",
            ));
        }
        Ok(Self(value.to_owned()))
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
    fn page_sizes_stay_in_range() {
        assert_eq!(
            PageSize::parse_from_parameter("100").unwrap(),
            PageSize(100)
        );
        for bad in ["0", "101", "+5", "05", "abc", "4294967296"] {
            assert!(PageSize::parse_from_parameter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_optional_parameter_is_absent_or_given_once() {
        let none: [&str; 0] = [];
        assert_eq!(
            Once::<ProductSort>::parse_from_parameters(none).unwrap().0,
            None
        );
        assert_eq!(
            Once::<ProductSort>::parse_from_parameters(["-price"])
                .unwrap()
                .0,
            Some(ProductSort(Sort::DearestFirst))
        );
        for bad in [&["price desc"][..], &["PRICE"], &["price", "name"]] {
            assert!(
                Once::<ProductSort>::parse_from_parameters(bad.iter()).is_err(),
                "{bad:?}"
            );
        }
        assert!(Once::<PageSize>::parse_from_parameters(["5", "6"]).is_err());
    }

    #[test]
    fn price_bounds_are_exact_decimals() {
        assert_eq!(
            PriceBound::parse_from_parameter("19.99").unwrap().0.cents(),
            1999
        );
        for bad in ["-1", "1.001", "ten", "1e3", ""] {
            assert!(PriceBound::parse_from_parameter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKeyHeader::parse_from_parameter("4f1c-9b7e_ok:/=").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(
                IdempotencyKeyHeader::parse_from_parameter(bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
