//! How the domain's validated values look in the spec and on the wire.
//!
//! Each value type gets a schema carrying its documented limits, and a
//! JSON parser that accepts only a JSON string (or number, for prices) and
//! otherwise defers to the type's own `parse`, so the rule is written once
//! in `domain::values` and the spec only describes it.

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON};
use serde_json::Value;

use crate::domain::devices::DeviceToken;
use crate::domain::price::Price;
use crate::domain::values::{
    DESCRIPTION_PATTERN, Description, EMAIL_PATTERN, Email, LoginName, NewPassword,
    PRODUCT_NAME_PATTERN, Password, ProductName, USERNAME_PATTERN, Username,
};

/// The parts of a schema that differ between the value types.
struct Shape {
    min: usize,
    max: usize,
    pattern: Option<&'static str>,
    format: Option<&'static str>,
    description: &'static str,
    example: Option<&'static str>,
}

fn string_schema(shape: Shape) -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        format: shape.format,
        description: Some(shape.description),
        min_length: Some(shape.min),
        max_length: Some(shape.max),
        pattern: shape.pattern.map(str::to_owned),
        example: shape.example.map(|e| Value::String(e.to_owned())),
        ..MetaSchema::new("string")
    }))
}

fn expect_string(value: Option<Value>) -> Result<String, String> {
    match value {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(format!("must be a string, not {}", json_kind(&other))),
        None => Err("is required".to_owned()),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Implements poem-openapi's [`Type`] for a type that stands for one
/// value described by `$schema` (a [`MetaSchemaRef`]): the value types
/// here, the parameter types in `params` and the edit body in
/// `products`. A schema given by reference comes with the function that
/// registers it.
macro_rules! value_type {
    ($ty:ty, $name:literal, required = $required:literal, $schema:expr
        $(, register = $register:expr)?) => {
        impl ::poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = $required;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> ::std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn schema_ref() -> ::poem_openapi::registry::MetaSchemaRef {
                $schema
            }

            $(
                fn register(registry: &mut ::poem_openapi::registry::Registry) {
                    let register: fn(&mut ::poem_openapi::registry::Registry) = $register;
                    register(registry);
                }
            )?

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }
    };
}
pub(super) use value_type;

/// Implements poem-openapi's [`Type`] for a wrapper around `Option<T>`
/// that is described by `T`'s own schema: [`Nullable`] here, and the
/// optional parameter wrapper in `params`. `$name` turns `T`'s name into
/// the wrapper's.
macro_rules! wraps_option {
    ($wrapper:ident, required = $required:literal, $name:expr) => {
        impl<T: ::poem_openapi::types::Type> ::poem_openapi::types::Type for $wrapper<T> {
            const IS_REQUIRED: bool = $required;
            type RawValueType = T::RawValueType;
            type RawElementValueType = T::RawElementValueType;

            fn name() -> ::std::borrow::Cow<'static, str> {
                let name: fn(::std::borrow::Cow<'static, str>) -> String = $name;
                name(T::name()).into()
            }

            fn schema_ref() -> ::poem_openapi::registry::MetaSchemaRef {
                T::schema_ref()
            }

            fn register(registry: &mut ::poem_openapi::registry::Registry) {
                T::register(registry);
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                self.0
                    .as_ref()
                    .and_then(::poem_openapi::types::Type::as_raw_value)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                match &self.0 {
                    Some(value) => value.raw_element_iter(),
                    None => Box::new(std::iter::empty()),
                }
            }
        }
    };
}
pub(super) use wraps_option;

/// Implements the poem-openapi traits for a string value type.
macro_rules! string_value {
    ($ty:ty, $name:literal, $shape:expr, to_json = $to_json:expr) => {
        value_type!($ty, $name, required = true, string_schema($shape));

        impl ParseFromJSON for $ty {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                expect_string(value)
                    .and_then(<$ty>::parse)
                    .map_err(ParseError::custom)
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<Value> {
                let to_json: fn(&$ty) -> Option<Value> = $to_json;
                to_json(self)
            }
        }
    };
}

fn text(value: &str) -> Option<Value> {
    Some(Value::String(value.to_owned()))
}

string_value!(
    Username,
    "Username",
    Shape {
        min: Username::MIN,
        max: Username::MAX,
        pattern: Some(USERNAME_PATTERN),
        format: None,
        description: "3–80 characters: ASCII letters, digits, `.`, `_` and `-`. Unique regardless of case.",
        example: Some("ada_lovelace"),
    },
    to_json = |v| text(v.as_str())
);
string_value!(
    Email,
    "Email",
    Shape {
        min: Email::MIN,
        max: Email::MAX,
        pattern: Some(EMAIL_PATTERN),
        format: Some("email"),
        description: "An email address of 3–120 characters: a local part and a domain of dot-separated parts (the domain's of letters, digits and `-`), without white space or control or invisible formatting characters. Unique regardless of case.",
        example: Some("ada@example.com"),
    },
    to_json = |v| text(v.as_str())
);
string_value!(
    LoginName,
    "LoginName",
    Shape {
        min: LoginName::MIN,
        max: LoginName::MAX,
        pattern: None,
        format: None,
        description: "The account's username or its email address.",
        example: Some("ada_lovelace"),
    },
    to_json = |v| text(v.as_str())
);
// Passwords never serialise: their schemas are write-only.
string_value!(
    NewPassword,
    "NewPassword",
    Shape {
        min: NewPassword::MIN,
        max: NewPassword::MAX,
        pattern: None,
        format: Some("password"),
        description: "8–128 characters.",
        example: Some("correct horse battery staple"),
    },
    to_json = |_| None
);
string_value!(
    Password,
    "Password",
    Shape {
        min: Password::MIN,
        max: Password::MAX,
        pattern: None,
        format: Some("password"),
        description: "The account's password.",
        example: Some("correct horse battery staple"),
    },
    to_json = |_| None
);
string_value!(
    DeviceToken,
    "DeviceToken",
    Shape {
        min: 1,
        max: DeviceToken::MAX,
        pattern: Some(DeviceToken::PATTERN),
        format: None,
        description: "The `device_token` an earlier login (or the signup) of this account answered on this device. While the account's failure budget is spent by others, it lets this device's logins through.",
        example: None,
    },
    to_json = |v| text(v.as_str())
);
string_value!(
    ProductName,
    "ProductName",
    Shape {
        min: ProductName::MIN,
        max: ProductName::MAX,
        pattern: Some(PRODUCT_NAME_PATTERN),
        format: None,
        description: "1–512 characters without control characters (tabs and line breaks aside), at least one of them neither white space nor invisible (zero-width or filler characters).",
        example: Some("Espresso cup ☕"),
    },
    to_json = |v| text(v.as_str())
);
string_value!(
    Description,
    "Description",
    Shape {
        min: 0,
        max: Description::MAX,
        pattern: Some(DESCRIPTION_PATTERN),
        format: None,
        description: "At most 10,000 characters; no control characters but tabs and line breaks.",
        example: Some("Porcelain, 90 ml, dishwasher safe."),
    },
    to_json = |v| text(v.as_str())
);

value_type!(
    Price,
    "Price",
    required = true,
    MetaSchemaRef::Inline(Box::new(MetaSchema {
        format: Some("double"),
        description: Some(
            "A price from 0 to 9999999999.99 with at most two decimal places, kept exactly.",
        ),
        minimum: Some(0.0),
        maximum: Some(Price::MAX),
        example: Some(serde_json::json!(19.99)),
        ..MetaSchema::new("number")
    }))
);

impl ParseFromJSON for Price {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let parsed = match value {
            Some(Value::Number(number)) => match (number.as_u64(), number.as_f64()) {
                (Some(whole), _) => Price::parse_decimal(&whole.to_string()),
                (None, Some(float)) => Price::from_f64(float),
                (None, None) => Err(crate::domain::price::PriceError::NotANumber),
            },
            Some(other) => {
                return Err(ParseError::custom(format!(
                    "must be a number, not {}",
                    json_kind(&other)
                )));
            }
            None => return Err(ParseError::custom("is required")),
        };
        parsed.map_err(|err| ParseError::custom(err.to_string()))
    }
}

impl ToJSON for Price {
    fn to_json(&self) -> Option<Value> {
        serde_json::Number::from_f64(self.as_f64()).map(Value::Number)
    }
}

impl serde::Serialize for Price {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

/// A response field that is always present but may be `null`, so
/// generated clients type it `T | null` rather than "maybe absent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nullable<T>(pub Option<T>);

impl<T: serde::Serialize> serde::Serialize for Nullable<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

wraps_option!(Nullable, required = true, |name| format!("nullable_{name}"));

impl<T: ParseFromJSON> ParseFromJSON for Nullable<T> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            None | Some(Value::Null) => Ok(Self(None)),
            value => T::parse_from_json(value)
                .map(|v| Self(Some(v)))
                .map_err(ParseError::propagate),
        }
    }
}

impl<T: ToJSON> ToJSON for Nullable<T> {
    fn to_json(&self) -> Option<Value> {
        Some(
            self.0
                .as_ref()
                .and_then(ToJSON::to_json)
                .unwrap_or(Value::Null),
        )
    }
}
