//! JSON request bodies that name the field at fault.
//!
//! poem-openapi's `Json<T>` reports a wrong type or a missing field
//! without saying which field it was. [`JsonBody`] parses the object one
//! field at a time instead, so every rejection is a 400 problem with
//! `field` set. Its schema is still the request type's own `Object`
//! schema, so the spec is unchanged.

use poem::{Request, RequestBody};
use poem_openapi::error::ContentTypeError;
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::{Map, Value};

use super::MAX_BODY_BYTES;
use super::problem::Problem;

/// A request object built field by field from JSON.
pub trait FromFields: Type + Sized {
    fn from_fields(fields: &mut Fields) -> Result<Self, Problem>;
}

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

impl<T: FromFields> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(_request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes_limit(MAX_BODY_BYTES).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::invalid("body", "a JSON object is required").into());
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
            Problem::invalid("body", format!("the body is not valid JSON: {err}"))
        })?;
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
        <Self as Payload>::register(registry);
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
