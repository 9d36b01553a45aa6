//! JSON request bodies that name the field at fault.
//!
//! poem-openapi's `Json<T>` reports a wrong type or a missing field
//! without saying which field it was. [`JsonBody`] parses the object one
//! field at a time instead, so every rejection is a 400 problem with
//! `field` set. A request type is declared once, with [`request_body!`]:
//! the one field list gives both its `Object` schema (the spec) and its
//! parser, so a field cannot be in one and not the other.
//!
//! A key the type does not name is ignored, as the spec allows (its
//! schemas do not forbid other properties, and poem-openapi cannot write
//! `additionalProperties: false`); the API's description says so. It
//! never reaches the domain: only declared fields are read.
//!
//! It is also stricter than `Json<T>`: a body labelled with a charset
//! other than UTF-8 gets 415 instead of being read as UTF-8 anyway, and
//! an object that names a key twice gets 400 instead of the last value
//! silently winning (other parsers let the first one win, so a proxy or
//! a log could see a different request than the service does).

use std::cell::RefCell;
use std::fmt;
use std::time::Duration;

use poem::http::StatusCode;
use poem::{Request, RequestBody};
use poem_openapi::error::ContentTypeError;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{MaybeUndefined, ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::MAX_BODY_BYTES;
use super::problem::{Problem, kind};

/// A request object built field by field from JSON; implemented by
/// [`request_body!`].
pub trait FromFields: Type + Sized {
    /// How many of them it must have at least (an edit must change
    /// something); the schema says so as `minProperties`.
    const MIN_KEYS: usize = 0;

    fn from_fields(fields: &mut Fields) -> Result<Self, Problem>;
}

/// Declares a JSON request body once: a struct whose fields each name
/// how they are read, as one of [`Fields`]' methods (`required`,
/// `optional`, `unless_absent`, `clearable`). It derives the `Object`
/// schema and [`FromFields`] from that one list; `min_keys = N` makes at
/// least N keys required.
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(min_keys = $min:literal)? {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident: $ty:ty => $how:ident,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::Object)]
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }

        impl $crate::api::body::FromFields for $name {
            $(const MIN_KEYS: usize = $min;)?

            fn from_fields(
                fields: &mut $crate::api::body::Fields,
            ) -> Result<Self, $crate::api::problem::Problem> {
                Ok(Self {
                    $($field: fields.$how(stringify!($field))?,)*
                })
            }
        }
    };
}
pub(crate) use request_body;

/// The members of a JSON object, taken out one by one.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// A field that must be present and not null.
    pub fn required<T: ParseFromJSON>(&mut self, name: &str) -> Result<T, Problem> {
        match self.0.remove(name) {
            None => Err(Problem::invalid(name, format!("`{name}` is required"))),
            Some(Value::Null) => Err(Problem::invalid(name, format!("`{name}` must not be null"))),
            Some(value) => parse(name, value),
        }
    }

    /// A field that may be absent or null.
    pub fn optional<T: ParseFromJSON>(&mut self, name: &str) -> Result<Option<T>, Problem> {
        match self.0.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse(name, value).map(Some),
        }
    }

    /// A field that may be absent but, when present, not null: an edit's
    /// field left out is kept as it is; an optional field whose schema is
    /// not nullable.
    pub fn unless_absent<T: ParseFromJSON>(&mut self, name: &str) -> Result<Option<T>, Problem> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Err(Problem::invalid(
                name,
                format!("`{name}` must not be null; leave it out instead"),
            )),
            Some(value) => parse(name, value).map(Some),
        }
    }

    /// A field of an edit that may be absent (keep it) or null (clear
    /// it).
    pub fn clearable<T: ParseFromJSON>(
        &mut self,
        name: &str,
    ) -> Result<MaybeUndefined<T>, Problem> {
        match self.0.remove(name) {
            None => Ok(MaybeUndefined::Undefined),
            Some(Value::Null) => Ok(MaybeUndefined::Null),
            Some(value) => parse(name, value).map(MaybeUndefined::Value),
        }
    }
}

fn parse<T: ParseFromJSON>(name: &str, value: Value) -> Result<T, Problem> {
    T::parse_from_json(Some(value)).map_err(|err| {
        // poem-openapi prefixes the reason with the type's name; the
        // client only needs the field's.
        let message = err.into_message();
        let prefix = format!("failed to parse \"{}\": ", T::name());
        let reason = message.strip_prefix(&prefix).unwrap_or(&message);
        Problem::invalid(name, format!("`{name}` {reason}"))
    })
}

/// How long a body may take to arrive once a handler reads it; the
/// server puts it on each request. A client trickling its body gets 408
/// instead of holding the handler (and its connection) forever.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// Without a server to say otherwise (as in unit tests).
const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        Json::<T>::check_content_type(content_type)
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// The body's schema, with what the `Object` derive cannot say: how many
/// keys it needs at least.
fn register_body<T: FromFields>(registry: &mut Registry) {
    T::register(registry);
    if T::MIN_KEYS > 0
        && let Some(schema) = registry.schemas.get_mut(T::name().as_ref())
    {
        schema.min_properties = Some(T::MIN_KEYS);
    }
}

impl<T: FromFields> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let timeout = request
            .data::<BodyReadTimeout>()
            .map_or(DEFAULT_BODY_READ_TIMEOUT, |t| t.0);
        let read = body.take()?.into_bytes_limit(MAX_BODY_BYTES);
        let bytes = tokio::time::timeout(timeout, read).await.map_err(|_| {
            Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                kind::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} seconds",
                    timeout.as_secs()
                ),
            )
            .with_field("body")
        })??;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::invalid("body", "a JSON object is required").into());
        }
        let value = parse_json(&bytes)?;
        let Value::Object(map) = value else {
            return Err(Problem::invalid("body", "the body must be a JSON object").into());
        };
        Ok(Self(T::from_fields(&mut Fields(map))?))
    }
}

impl<'a, T: FromFields> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_body::<T>(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if !is_utf8(content_type) => Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                kind::UNSUPPORTED_MEDIA_TYPE,
                format!("`Content-Type: {content_type}` is not supported; send JSON in UTF-8"),
            )
            .with_field("Content-Type")
            .into()),
            Some(content_type) if Self::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into()),
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// Whether a content type's `charset`, if it names one, is UTF-8.
fn is_utf8(content_type: &str) -> bool {
    content_type
        .split(';')
        .skip(1)
        .all(|param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                let value = value.trim().trim_matches('"');
                value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
            }
            _ => true,
        })
}

/// Parses a JSON body, refusing an object that names a key twice.
fn parse_json(bytes: &[u8]) -> Result<Value, Problem> {
    let duplicate = RefCell::new(None);
    let mut parser = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueKeys {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut parser)
    .and_then(|value| parser.end().map(|()| value));
    parsed.map_err(|err| match duplicate.into_inner() {
        Some(path) => Problem::invalid(&path, format!("`{path}` is given more than once")),
        None => Problem::invalid("body", format!("the body is not valid JSON: {err}")),
    })
}

/// Builds a JSON value like serde_json's own, but fails on the first key
/// that an object names twice and records where it was.
struct UniqueKeys<'a> {
    /// Where this value sits in the body, as `key.key[index]`.
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl UniqueKeys<'_> {
    fn child(&self, step: &str) -> Self {
        let path = match (self.path.is_empty(), step.starts_with('[')) {
            (true, _) | (false, true) => format!("{}{step}", self.path),
            (false, false) => format!("{}.{step}", self.path),
        };
        UniqueKeys {
            path,
            duplicate: self.duplicate,
        }
    }
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(&format!("[{}]", items.len())))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if object.contains_key(&key) {
                let message = format!("`{}` is given more than once", child.path);
                *self.duplicate.borrow_mut() = Some(child.path);
                return Err(de::Error::custom(message));
            }
            let value = map.next_value_seed(child)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_a_key_given_twice_is_refused_naming_it() {
        let refused = |body: &str| parse_json(body.as_bytes()).unwrap_err().to_string();
        let ok = parse_json(br#"{"a": [1, {"b": null}], "c": {"d": 1.5}}"#).unwrap();
        assert_eq!(ok["a"][1]["b"], Value::Null);
        assert!(refused(r#"{"name": "a", "name": "b"}"#).contains("`name` is given"));
        assert!(refused(r#"{"x": [{"k": 1, "k": 2}]}"#).contains("`x[0].k` is given"));
        assert!(refused(r#"{"a": 1} trailing"#).contains("not valid JSON"));
        assert!(refused(r#"{"a": 1"#).contains("not valid JSON"));
    }

    #[test]
    fn only_utf8_charsets_pass() {
        assert!(is_utf8("application/json"));
        assert!(is_utf8("application/json; charset=UTF-8"));
        assert!(is_utf8("application/json;charset=\"utf-8\""));
        assert!(!is_utf8("application/json; charset=latin1"));
        assert!(!is_utf8("application/json; charset=utf-16"));
    }
}
