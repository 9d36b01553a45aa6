//! Cross-origin requests (the Fetch standard's CORS protocol) for the
//! origins `CORS_ALLOWED_ORIGINS` names.
//!
//! - A request from an allowed origin gets `Access-Control-Allow-Origin`
//!   and the headers a browser may read; from any other origin it is
//!   served as it is, without them: the browser, not the server, keeps
//!   the answer from the page.
//! - A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an
//!   allowed origin is answered with the methods the path really serves,
//!   as the spec lists them, and the request headers the API reads.
//! - Every answer says `Vary: Origin`, since whether it carries the allow
//!   header depends on that header: a shared cache must not hand one
//!   origin's answer to another.

use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::routes::Routes;

/// Request headers a page may send.
const ALLOWED_HEADERS: &str = "authorization, content-type, x-request-id, if-match, if-none-match, idempotency-key, \
     catalog-consistency";
/// Response headers a page may read.
const EXPOSED_HEADERS: &str = "location, x-request-id, www-authenticate, etag, idempotent-replayed, retry-after, \
     catalog-consistency";
/// How long a browser may keep a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE_SECS: u32 = 600;

/// The origins allowed, and the routes whose methods a preflight names.
#[derive(Clone)]
pub struct Cors {
    origins: Arc<Vec<String>>,
    routes: Arc<Routes>,
}

impl Cors {
    /// `None` when no origin is allowed: then nothing here runs.
    pub fn new(origins: &[String], routes: Arc<Routes>) -> Option<Self> {
        (!origins.is_empty()).then(|| Self {
            origins: Arc::new(origins.to_vec()),
            routes,
        })
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        origin
            .to_str()
            .is_ok_and(|origin| self.origins.iter().any(|allowed| allowed == origin))
    }

    /// Serves `request` through `next` with the CORS headers it is due.
    pub async fn serve<E: Endpoint>(&self, next: &E, request: Request) -> poem::Result<Response> {
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .filter(|origin| self.allows(origin))
            .cloned();
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let mut response = match (&origin, preflight) {
            (Some(origin), true) => self.preflight(&request, origin.clone()),
            _ => {
                let mut response = next.call(request).await?.into_response();
                if let Some(origin) = origin {
                    let headers = response.headers_mut();
                    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                    headers.insert(
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static(EXPOSED_HEADERS),
                    );
                }
                response
            }
        };
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("Origin"));
        Ok(response)
    }

    /// The answer to an allowed origin's preflight: the path's methods,
    /// or none for a path no operation serves.
    fn preflight(&self, request: &Request, origin: HeaderValue) -> Response {
        let methods = self.routes.allowed_methods(request.uri().path()).cloned();
        let mut response = Response::builder()
            .status(StatusCode::NO_CONTENT)
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin)
            .header(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            )
            .header(header::ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE_SECS)
            .finish();
        if let Some(methods) = methods {
            response
                .headers_mut()
                .insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        response
    }
}
