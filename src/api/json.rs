//! JSON response bodies written by serde straight into bytes.
//!
//! poem-openapi's `Json<T>` first turns a response into a
//! `serde_json::Value` tree (a map and a string per key of every item)
//! and only then into bytes; for a page of products that was a quarter
//! of the service's CPU per request. [`SerdeJson`] writes the bytes
//! directly. Its schema is still `T`'s own `Object` schema, so the spec is
//! unchanged; a test holds both renderings of every type it carries equal.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::Serialize;

#[derive(Debug)]
pub struct SerdeJson<T>(pub T);

impl<T: Type> Payload for SerdeJson<T> {
    const CONTENT_TYPE: &'static str = Json::<T>::CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + Serialize + Send> IntoResponse for SerdeJson<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .content_type(Self::CONTENT_TYPE)
                .body(body),
            Err(err) => {
                tracing::error!(error = %err, "a response could not be serialized");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

/// Timestamps as poem-openapi writes them (`+00:00`, not serde's `Z`),
/// so both renderings agree.
pub fn rfc3339<S: serde::Serializer>(
    time: &chrono::DateTime<chrono::Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&time.to_rfc3339())
}
