//! The operations' path templates, read from the generated spec so they
//! cannot drift from the routes. They give the `Allow` header of 405
//! answers (RFC 9110 requires it), the names of path parameters, which
//! poem-openapi's route patterns call by position (`:param0`), and the
//! operation a request is for, which labels its metrics.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::Value;

/// Every path template of the spec.
pub struct Routes(Vec<Template>);

/// A path template (`/api/products/{id}`) split into segments, the
/// methods it allows, and each method's operationId.
struct Template {
    segments: Vec<String>,
    allow: HeaderValue,
    operations: Vec<(String, String)>,
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

impl Routes {
    pub fn from_spec(spec: &Value) -> Self {
        let paths = spec["paths"].as_object().into_iter().flatten();
        let routes = paths
            .filter_map(|(template, operations)| {
                let operations: Vec<(String, String)> = operations
                    .as_object()?
                    .iter()
                    .map(|(method, operation)| {
                        let id = operation["operationId"].as_str().unwrap_or(method);
                        (method.to_uppercase(), id.to_owned())
                    })
                    .collect();
                let methods: Vec<&str> = operations.iter().map(|(m, _)| m.as_str()).collect();
                let value = HeaderValue::from_str(&methods.join(", ")).ok()?;
                Some(Template {
                    segments: segments(template).map(str::to_owned).collect(),
                    allow: value,
                    operations,
                })
            })
            .collect();
        Self(routes)
    }

    /// The template `path` matches, with what it allows. In `path`, a
    /// segment matches a template's `{parameter}` when `is_variable` says
    /// it may.
    fn find(&self, path: &[&str], is_variable: impl Fn(&str) -> bool) -> Option<&Template> {
        self.0.iter().find(|template| {
            template.segments.len() == path.len()
                && template.segments.iter().zip(path).all(|(t, p)| {
                    (t.starts_with('{') && t.ends_with('}') && is_variable(p)) || t == p
                })
        })
    }

    /// The `Allow` value for a request path, if it names an operation.
    pub fn allowed_methods(&self, path: &str) -> Option<&HeaderValue> {
        let path: Vec<&str> = segments(path).collect();
        self.find(&path, |_| true).map(|template| &template.allow)
    }

    /// The operationId of `method` on `path`, if an operation serves it.
    pub fn operation(&self, method: &str, path: &str) -> Option<&str> {
        let path: Vec<&str> = segments(path).collect();
        self.find(&path, |_| true)?
            .operations
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, id)| id.as_str())
    }

    /// The spec's name for the path parameter that the route `pattern`
    /// (`/api/products/:param0`) calls `param` (`param0`).
    pub fn parameter_name(&self, pattern: &str, param: &str) -> Option<&str> {
        let pattern: Vec<&str> = segments(pattern).collect();
        let position = pattern
            .iter()
            .position(|s| s.strip_prefix(':') == Some(param))?;
        let template = self.find(&pattern, |s| s.starts_with(':'))?;
        template.segments[position]
            .strip_prefix('{')?
            .strip_suffix('}')
    }

    /// Middleware body: adds `Allow` to a 405.
    pub async fn add_to_405<E: Endpoint>(&self, next: &E, req: Request) -> poem::Result<Response> {
        let path = req.uri().path().to_owned();
        let mut response = next.call(req).await?.into_response();
        if response.status() == StatusCode::METHOD_NOT_ALLOWED
            && let Some(allowed) = self.allowed_methods(&path)
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

    fn routes() -> Routes {
        Routes::from_spec(&serde_json::json!({"paths": {
            "/api/products": {"get": {"operationId": "list"}, "post": {"operationId": "create"}},
            "/api/products/{id}": {"get": {"operationId": "get"}, "delete": {}},
            "/api/shops/{shop}/items/{item}": {"get": {}},
        }}))
    }

    #[test]
    fn templates_match_concrete_paths() {
        let routes = routes();
        assert_eq!(
            routes.allowed_methods("/api/products").unwrap(),
            "GET, POST"
        );
        assert_eq!(
            routes.allowed_methods("/api/products/42").unwrap(),
            "DELETE, GET"
        );
        assert!(routes.allowed_methods("/api/products/42/x").is_none());
        assert!(routes.allowed_methods("/nope").is_none());
    }

    #[test]
    fn requests_are_named_by_their_operation() {
        let routes = routes();
        assert_eq!(routes.operation("POST", "/api/products"), Some("create"));
        assert_eq!(routes.operation("GET", "/api/products/42"), Some("get"));
        assert_eq!(routes.operation("PUT", "/api/products/42"), None);
        assert_eq!(routes.operation("GET", "/api/nope"), None);
    }

    #[test]
    fn positional_parameters_get_the_spec_names() {
        let routes = routes();
        let name = |pattern, param| routes.parameter_name(pattern, param);
        assert_eq!(name("/api/products/:param0", "param0"), Some("id"));
        let two = "/api/shops/:param0/items/:param1";
        assert_eq!(name(two, "param0"), Some("shop"));
        assert_eq!(name(two, "param1"), Some("item"));
        assert_eq!(name(two, "param2"), None);
        assert_eq!(name("/api/products", "param0"), None);
        // A literal segment never stands for a parameter.
        assert_eq!(name("/api/:param0/42", "param0"), None);
    }
}
