//! Entity tags and conditional requests (RFC 9110 §8.8.3, §13): the one
//! place that knows their syntax.
//!
//! A product's tag is strong, `"<id>.<version>"`, so a tag copied from
//! another product never matches. `If-Match` compares strongly: only the
//! strong tag of the current version passes (the bundled nginx leaves
//! these responses uncompressed, so their tags reach clients strong).
//! `If-None-Match` compares weakly. The domain only ever sees version
//! numbers, as [`Expected`].

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult};

use sha2::{Digest, Sha256};

use crate::domain::catalog::{Excluded, Expected, Page, Product};
use crate::domain::error::{Error, Failures, Kind, VersionCondition};

use super::fields::value_type;

/// The weak entity tag of a page: a digest of the ids and versions of
/// its items and of where the next page starts, so it changes when an
/// item on it is edited, leaves it or joins it. Weak, because the same
/// items may be rendered otherwise (another build, another encoding).
pub fn page_tag(page: &Page) -> String {
    let mut digest = Sha256::new();
    for item in &page.items {
        digest.update(format!("{}.{};", item.id, item.version));
    }
    digest.update(page.next_cursor.as_deref().unwrap_or("end"));
    let hex: String = digest.finalize()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("W/\"{hex}\"")
}

/// Whether `If-None-Match` names `current` by weak comparison: the
/// client's copy is current.
pub fn none_match(if_none_match: &ConditionHeader, current: &str) -> bool {
    let Some(current) = EntityTag::parse(current) else {
        return false;
    };
    match &if_none_match.0 {
        None => false,
        Some(Tags::Any) => true,
        Some(Tags::List(tags)) => tags.iter().any(|tag| tag.opaque == current.opaque),
    }
}

/// The strong entity tag of a product's current version.
pub fn product_tag(product: &Product) -> String {
    format!("\"{}.{}\"", product.id, product.version)
}

/// What a user's tags name it by: never a product's id, so a product's
/// tag cannot pass for a user's.
fn user_key(id: i64) -> String {
    format!("u{id}")
}

/// The strong entity tag of a user's current version, `"u<id>.<version>"`.
pub fn user_tag(id: i64, version: i32) -> String {
    format!("\"{}.{version}\"", user_key(id))
}

/// One entity tag as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    /// Between the quotes.
    pub opaque: String,
}

impl EntityTag {
    /// `"…"` or `W/"…"` around visible ASCII other than `"` (RFC 9110,
    /// which also allows bytes above 0x7F; no tag this service makes has
    /// them).
    fn parse(text: &str) -> Option<Self> {
        let (weak, quoted) = match text.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let opaque = quoted.strip_prefix('"')?.strip_suffix('"')?;
        let visible = opaque
            .bytes()
            .all(|b| b == b'!' || (b'#'..=b'~').contains(&b));
        visible.then(|| Self {
            weak,
            opaque: opaque.to_owned(),
        })
    }

    /// The version of the resource `key` this tag names, if it names
    /// one (`key` is a product's id, or `u` and a user's id).
    fn version_of(&self, key: &str) -> Option<i32> {
        let (tag_key, version) = self.opaque.split_once('.')?;
        (tag_key == key).then_some(())?;
        version.parse().ok()
    }
}

/// The value of `If-Match` or `If-None-Match`: `*`, or a list of entity
/// tags. Several header fields are one list, as RFC 9110 reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    Any,
    List(Vec<EntityTag>),
}

impl Tags {
    /// The versions of product `id` these tags name: all of them under
    /// weak comparison, only the strong tags under strong comparison.
    fn versions(&self, key: &str, strong: bool) -> Vec<i32> {
        match self {
            Self::Any => Vec::new(),
            Self::List(tags) => tags
                .iter()
                .filter(|tag| !(strong && tag.weak))
                .filter_map(|tag| tag.version_of(key))
                .collect(),
        }
    }
}

/// A request's conditions on a product's version.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    pub if_match: Option<Tags>,
    pub if_none_match: Option<Tags>,
}

impl Preconditions {
    /// What [`Self::for_read`] may fail with.
    pub const READ_FAILURES: Failures = &[Kind::PreconditionFailed];

    pub fn new(if_match: ConditionHeader, if_none_match: ConditionHeader) -> Self {
        Self {
            if_match: if_match.0,
            if_none_match: if_none_match.0,
        }
    }

    /// What a write to product `id` expects: `If-Match` by strong
    /// comparison, `If-None-Match` by weak comparison (`*` there means
    /// "only if there is no product", which an existing one fails).
    pub fn for_write(&self, id: i64) -> Expected {
        self.for_key(&id.to_string())
    }

    /// What a change to user `id` expects, as [`Self::for_write`].
    pub fn for_user(&self, id: i64) -> Expected {
        self.for_key(&user_key(id))
    }

    fn for_key(&self, key: &str) -> Expected {
        Expected {
            one_of: match &self.if_match {
                None | Some(Tags::Any) => None,
                Some(tags) => Some(tags.versions(key, true)),
            },
            none_of: match &self.if_none_match {
                None => Excluded::Nothing,
                Some(Tags::Any) => Excluded::Every,
                Some(tags) => Excluded::These(tags.versions(key, false)),
            },
        }
    }

    /// How a read of `product` answers: 412 when `If-Match` names
    /// another version, "not modified" when `If-None-Match` names this
    /// one, in RFC 9110 §13.2.2's order.
    pub fn for_read(&self, product: &Product) -> Result<Freshness, Error> {
        let write = self.for_write(product.id);
        let must = Expected {
            one_of: write.one_of,
            none_of: Excluded::Nothing,
        };
        must.check(product.version)?;
        let not_modified = Expected {
            one_of: None,
            none_of: write.none_of,
        }
        .check(product.version);
        match not_modified {
            Ok(()) => Ok(Freshness::Changed),
            Err(Error::PreconditionFailed(VersionCondition::NoneOf)) => Ok(Freshness::NotModified),
            Err(other) => Err(other),
        }
    }
}

/// Whether a read sends the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Send it: the client has no copy of this version.
    Changed,
    /// 304: the client's copy is current.
    NotModified,
}

/// The header parameter `If-Match` or `If-None-Match`; `None` when
/// absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionHeader(pub Option<Tags>);

value_type!(
    ConditionHeader,
    "EntityTags",
    required = false,
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        description: Some("`*`, or entity tags as the `ETag` header gives them, comma-separated."),
        example: Some("\"42.3\"".into()),
        pattern: Some(ENTITY_TAGS_PATTERN.into()),
        ..MetaSchema::new("string")
    }))
);

/// The spec's statement of what [`ConditionHeader`] accepts.
const ENTITY_TAGS_PATTERN: &str = r#"^\s*(\*|(W/)?"[!#-~]*"(\s*,\s*(W/)?"[!#-~]*")*)\s*$"#;

impl ParseFromParameter for ConditionHeader {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse_from_parameters([value])
    }

    fn parse_from_parameters<I: IntoIterator<Item = A>, A: AsRef<str>>(
        values: I,
    ) -> ParseResult<Self> {
        let invalid =
            || ParseError::custom("must be `*` or entity tags such as \"42.3\", comma-separated");
        let values: Vec<A> = values.into_iter().collect();
        match values.as_slice() {
            [] => return Ok(Self(None)),
            [only] if only.as_ref().trim() == "*" => return Ok(Self(Some(Tags::Any))),
            _ => {}
        }
        let mut tags = Vec::new();
        for value in &values {
            for text in value.as_ref().split(',').map(str::trim) {
                if text.is_empty() {
                    continue;
                }
                tags.push(EntityTag::parse(text).ok_or_else(invalid)?);
            }
        }
        if tags.is_empty() {
            return Err(invalid());
        }
        Ok(Self(Some(Tags::List(tags))))
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::domain::catalog::Owner;
    use crate::domain::price::Price;

    fn header(values: &[&str]) -> ConditionHeader {
        ConditionHeader::parse_from_parameters(values.iter()).unwrap()
    }

    fn product(id: i64, version: i32) -> Product {
        let at = DateTime::from_timestamp_micros(1_795_000_000_000_000).unwrap();
        Product {
            id,
            name: "Mug".into(),
            description: None,
            price: Price::from_cents(100).unwrap(),
            owner: Owner {
                id: 1,
                username: "alice".into(),
            },
            version,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn tags_name_their_product_and_version() {
        assert_eq!(product_tag(&product(7, 3)), "\"7.3\"");
        let tag = |text| EntityTag::parse(text).unwrap();
        assert_eq!(tag("\"7.3\"").version_of("7"), Some(3));
        assert_eq!(tag("W/\"7.3\"").version_of("7"), Some(3));
        for other in ["\"8.3\"", "\"7\"", "\"7.x\"", "\"\"", "\"u7.3\""] {
            assert_eq!(tag(other).version_of("7"), None, "{other}");
        }
        // A user's tag names the user, never the product with its id.
        assert_eq!(user_tag(7, 3), "\"u7.3\"");
        let expected = Preconditions::new(header(&["\"u7.3\""]), ConditionHeader(None));
        assert_eq!(expected.for_user(7).one_of, Some(vec![3]));
        assert_eq!(expected.for_write(7).one_of, Some(vec![]));
        for bad in ["7.3", "\"7.3", "w/\"7.3\"", "\"a\"b\"", "*"] {
            assert_eq!(EntityTag::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn if_match_compares_strongly_and_if_none_match_weakly() {
        let conditions = |if_match: &[&str], if_none_match: &[&str]| Preconditions {
            if_match: header(if_match).0,
            if_none_match: header(if_none_match).0,
        };
        let weak = conditions(&["W/\"7.3\""], &[]).for_write(7);
        assert_eq!(
            weak.one_of,
            Some(vec![]),
            "a weak tag never passes If-Match"
        );
        let strong = conditions(&["\"7.2\", \"7.3\""], &[]).for_write(7);
        assert_eq!(strong.one_of, Some(vec![2, 3]));
        let none = conditions(&[], &["W/\"7.3\"", "\"8.4\""]).for_write(7);
        assert_eq!(none.none_of, Excluded::These(vec![3]));
        assert_eq!(
            conditions(&[], &["*"]).for_write(7).none_of,
            Excluded::Every
        );
        assert_eq!(conditions(&["*"], &[]).for_write(7), Expected::default());
    }

    #[test]
    fn a_read_fails_before_it_is_not_modified() {
        let read = |if_match: &[&str], if_none_match: &[&str]| {
            Preconditions {
                if_match: header(if_match).0,
                if_none_match: header(if_none_match).0,
            }
            .for_read(&product(7, 3))
            .map_err(|err| err.to_string())
        };
        assert_eq!(read(&[], &[]), Ok(Freshness::Changed));
        assert_eq!(read(&[], &["W/\"7.3\""]), Ok(Freshness::NotModified));
        assert_eq!(read(&[], &["*"]), Ok(Freshness::NotModified));
        assert_eq!(read(&["\"7.3\""], &["\"7.2\""]), Ok(Freshness::Changed));
        assert!(read(&["\"7.2\""], &["\"7.3\""]).is_err());
        assert!(read(&["W/\"7.3\""], &[]).is_err());
    }

    #[test]
    fn lists_combine_across_fields() {
        let tags = header(&["\"1.2\", W/\"1.3\"", "\"1.4\""]).0.unwrap();
        let Tags::List(tags) = tags else {
            panic!("a list")
        };
        assert_eq!(tags.len(), 3);
        assert!(tags[1].weak);
        assert_eq!(header(&["*"]).0, Some(Tags::Any));
        assert_eq!(header(&[]).0, None);
        for bad in ["1.2", "\"1.2", "\"a\"b\""] {
            assert!(
                ConditionHeader::parse_from_parameters([bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_pattern_says_what_the_parser_accepts() {
        let pattern = regex::Regex::new(ENTITY_TAGS_PATTERN).unwrap();
        for value in [
            "*",
            " * ",
            "\"1.2\"",
            "W/\"1.2\"",
            "\"1.2\", W/\"x\" ,\"\"",
            " \"é\" ",
            "\"a b\"",
            "\"a\"b\"",
            "1.2",
            "\"1.2",
            "*, \"1.2\"",
            "w/\"1\"",
            "",
            ",",
        ] {
            assert_eq!(
                pattern.is_match(value),
                ConditionHeader::parse_from_parameters([value]).is_ok(),
                "{value:?}"
            );
        }
    }
}
