//! The `Allow` header of 405 answers (RFC 9110 requires it), taken from
//! the operations in the generated spec, so it cannot drift from the
//! routes.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::Value;

/// Path templates (`/api/products/{id}`) and the methods each allows.
pub struct AllowedMethods(Vec<(Vec<String>, HeaderValue)>);

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl AllowedMethods {
    pub fn from_spec(spec: &Value) -> Self {
        let paths = spec["paths"].as_object().into_iter().flatten();
        let routes = paths
            .filter_map(|(template, operations)| {
                let methods: Vec<String> = operations
                    .as_object()?
                    .keys()
                    .map(|method| method.to_uppercase())
                    .collect();
                let value = HeaderValue::from_str(&methods.join(", ")).ok()?;
                Some((segments(template).map(str::to_owned).collect(), value))
            })
            .collect();
        Self(routes)
    }

    /// The `Allow` value for a request path, if it names an operation.
    pub fn for_path(&self, path: &str) -> Option<&HeaderValue> {
        let wanted: Vec<&str> = segments(path).collect();
        self.0.iter().find_map(|(template, methods)| {
            let matches = template.len() == wanted.len()
                && template
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| (t.starts_with('{') && t.ends_with('}')) || t == w);
            matches.then_some(methods)
        })
    }

    /// Middleware body: adds `Allow` to a 405.
    pub async fn add_to_405<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut response = next.call(req).await?.into_response();
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allowed) = self.for_path(&path)
        {
            response
                .headers_mut()
                .insert(header::ALLOW, allowed.clone());
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_concrete_paths() {
        let spec = serde_json::json!({"paths": {
            "/api/products": {"get": {}, "post": {}},
            "/api/products/{id}": {"get": {}, "delete": {}},
        }});
        let allowed = AllowedMethods::from_spec(&spec);
        assert_eq!(allowed.for_path("/api/products").unwrap(), "GET, POST");
        assert_eq!(allowed.for_path("/api/products/42").unwrap(), "DELETE, GET");
        assert!(allowed.for_path("/api/products/42/x").is_none());
        assert!(allowed.for_path("/nope").is_none());
    }
}
