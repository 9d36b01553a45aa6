//! The HTTP layer: poem-openapi operations, one file per tag, assembled
//! into one `OpenApiService`. Handlers only translate HTTP into calls on
//! `domain::Services` and back; the spec and Swagger UI are generated from
//! these operations.

pub mod admin;
pub mod auth;
pub mod body;
mod caching;
mod conditional;
mod cors;
mod fields;
mod forwarded;
pub mod health;
mod json;
mod list_params;
mod params;
pub mod problem;
pub mod products;
mod routes;
pub mod security;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{LicenseObject, OpenApiService, ServerObject, Tags};

use crate::config::HttpConfig;
use crate::domain::Services;
use crate::metric_names as names;
use crate::telemetry;

/// JSON bodies above this size get 413; the largest valid body (a
/// product with a 10,000-character description) is well below it.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and tokens
    Auth,
    /// The product catalog
    Products,
    /// Probes for orchestrators and load balancers
    Health,
    /// Accounts and the audit trail, for admins
    Admin,
}

type Apis = (
    auth::AuthApi,
    list_params::Expanded<products::ProductsApi>,
    health::HealthApi,
    admin::AdminApi,
);

/// The OpenAPI service: every operation, and the spec built from them.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            list_params::Expanded(products::ProductsApi),
            health::HealthApi,
            admin::AdminApi,
        ),
        "Catalog API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Accounts with JWT authentication and a product catalog. \
         Sign up or log in to get tokens, then press Authorize and paste the \
         access token (for `refreshTokens`, the refresh token). Every error \
         is `application/problem+json` (RFC 9457). A request body's keys that \
         its schema does not name are ignored: they change nothing.",
    )
    .license(LicenseObject::new("MIT").url("https://spdx.org/licenses/MIT.html"))
    // Relative: the service that serves this spec, wherever it runs.
    .server(ServerObject::new("/").description("This service"))
}

/// The spec as pretty JSON, exactly as committed in `openapi/openapi.json`.
pub fn spec_json() -> String {
    service().spec()
}

/// The whole route tree with its middleware. `http` says whose word on
/// the client's address is taken, and how long a 429 is held.
pub fn app(
    services: Services,
    cors_allowed_origins: &[String],
    http: &HttpConfig,
) -> impl Endpoint<Output = poem::Response> + 'static {
    let api = service();
    let spec: serde_json::Value =
        serde_json::from_str(&api.spec()).expect("the generated spec is JSON");
    let known = Arc::new(routes::Routes::from_spec(&spec));
    let routes = Route::new()
        .nest("/api/docs", api.swagger_ui())
        .at("/api/openapi.json", api.spec_endpoint())
        .at("/api/openapi.yaml", api.spec_endpoint_yaml())
        .nest("/", api);
    let cors = cors::Cors::new(cors_allowed_origins, known.clone());
    let trusted_proxies = Arc::new(http.trusted_proxies.clone());
    let throttle_delay = http.throttle_delay;
    let cache_policy = caching::CachePolicy::new(http.cache_max_age, http.cache_stale_if_error);
    routes
        .around(move |next, req| {
            let cors = cors.clone();
            async move {
                match &cors {
                    Some(cors) => cors.serve(next.as_ref(), req).await,
                    None => next.call(req).await.map(poem::IntoResponse::into_response),
                }
            }
        })
        .around({
            let budget = services.request_budget();
            move |next, req| async move { budget.scope(next.call(req)).await }
        })
        .data(services)
        .catch_all_error({
            let known = known.clone();
            move |err| {
                let known = known.clone();
                async move { problem::from_poem_error(err, &known) }
            }
        })
        .around(|next, req| async move {
            match params::unreadable_header(&req) {
                Some(problem) => Ok(poem::IntoResponse::into_response(problem)),
                None => next.call(req).await.map(poem::IntoResponse::into_response),
            }
        })
        .around({
            let known = known.clone();
            move |next, req| {
                let known = known.clone();
                async move { known.add_to_405(next.as_ref(), req).await }
            }
        })
        // Each layer deepens the endpoint's type, which release builds
        // must lay out: the headers every answer gets are set here, with
        // the metrics, rather than in a layer of their own.
        .around(move |next, req| {
            let known = known.clone();
            async move {
                let docs = req.uri().path().starts_with("/api/docs");
                let mut response = observe(&known, next.as_ref(), req).await?;
                caching::no_store_unless_stated(&mut response);
                baseline_security_headers(&mut response, docs);
                Ok(response)
            }
        })
        .around(telemetry::serve_with_request_id)
        .around(move |next, mut req| {
            let peer = forwarded::peer_of(req.remote_addr());
            let client = forwarded::client_of(peer, req.headers(), &trusted_proxies);
            req.set_data(client);
            req.set_data(cache_policy);
            async move {
                let response = next.call(req).await?;
                // A client told to slow down waits for its answer, so one
                // that ignores Retry-After cannot loop on cheap refusals
                // and take the CPU from everyone else.
                if response.status() == poem::http::StatusCode::TOO_MANY_REQUESTS {
                    tokio::time::sleep(throttle_delay).await;
                }
                Ok(response)
            }
        })
}

/// The Content-Security-Policy of Swagger UI at `/api/docs`: one
/// self-contained page with inline script and style that calls only this
/// origin, and is never framed. The bundled nginx sends the same (a test
/// holds them equal).
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The security headers the service sets itself, so that a deployment
/// without the bundled nginx keeps them: `nosniff` on every answer, and
/// for the docs page a CSP that forbids framing.
fn baseline_security_headers(response: &mut poem::Response, docs: bool) {
    use poem::http::{HeaderValue, header};
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if docs {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CONTENT_SECURITY_POLICY),
        );
    }
}

/// Records a request's metrics: in flight while it runs, then counted and
/// timed by operation and status class. A request no operation serves is
/// `unmatched`, so arbitrary paths cannot grow the label set.
async fn observe<E: Endpoint>(
    known: &routes::Routes,
    next: &E,
    req: poem::Request,
) -> poem::Result<poem::Response> {
    let operation = known
        .operation(req.method().as_str(), req.uri().path())
        .unwrap_or("unmatched")
        .to_owned();
    let in_flight = InFlight::start();
    let started = std::time::Instant::now();
    let result = next.call(req).await.map(poem::IntoResponse::into_response);
    drop(in_flight);
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.status(),
    };
    let class = match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    let labels = [("operation", operation), ("status", class.to_owned())];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_REQUEST_DURATION, &labels)
        .record(started.elapsed().as_secs_f64());
    result
}

/// One request in `catalog_http_requests_in_flight`, until dropped (also
/// when the client goes away mid-request and the handler is cancelled).
struct InFlight(metrics::Gauge);

impl InFlight {
    fn start() -> Self {
        let gauge = metrics::gauge!(names::HTTP_REQUESTS_IN_FLIGHT);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::MAX_BODY_BYTES;
    use crate::config::default_of;
    use crate::domain::catalog::IDEMPOTENCY_TTL_HOURS;
    use crate::domain::price::Price;
    use crate::domain::values::{Email, NewPassword, ProductName, Username};

    /// Every description in the spec, with where it is.
    fn descriptions(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let here = format!("{at}/{key}");
                    match (key.as_str(), child) {
                        ("description", Value::String(text)) => {
                            found.push((here, text.replace('\n', " ")));
                        }
                        _ => descriptions(child, &here, found),
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    descriptions(child, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }

    /// The numbers the spec's prose states are the constants the code
    /// checks (doc comments cannot be generated, so they are checked).
    /// Each phrase is formatted from its constant and must appear where
    /// it belongs; a number changed in the code and not in the docs fails
    /// here.
    #[test]
    fn the_numbers_the_spec_states_are_the_constants() {
        let spec: Value = serde_json::from_str(&super::spec_json()).unwrap();
        let mut found = Vec::new();
        descriptions(&spec, "", &mut found);
        let days = |key| default_of(key).parse::<u64>().unwrap() / 86_400;
        let minutes = |key| default_of(key).parse::<u64>().unwrap() / 60;
        let expected = [
            (
                "/components/schemas/SignupRequest/properties/username",
                format!("{}–{} characters", Username::MIN, Username::MAX),
            ),
            (
                "/components/schemas/SignupRequest/properties/email",
                format!("{}–{} characters", Email::MIN, Email::MAX),
            ),
            (
                "/components/schemas/SignupRequest/properties/password",
                format!("{}–{} characters", NewPassword::MIN, NewPassword::MAX),
            ),
            (
                "/components/schemas/CreateProductRequest/properties/name",
                format!("{}–{} characters", ProductName::MIN, ProductName::MAX),
            ),
            (
                "/components/schemas/CreateProductRequest/properties/price",
                format!("from 0 to {:.2}", Price::MAX),
            ),
            ("/paths/", format!("over {} KiB", MAX_BODY_BYTES / 1024)),
            (
                "/paths/~1api~1products/post",
                format!("within {IDEMPOTENCY_TTL_HOURS} hours"),
            ),
            (
                "/paths/~1api~1products/post/parameters",
                format!("kept for {IDEMPOTENCY_TTL_HOURS} hours"),
            ),
            (
                "/components/schemas/LoginResult",
                format!("Valid for {} days", days("LOGIN_DEVICE_TTL_SECS")),
            ),
            (
                "/components/securitySchemes",
                format!("A {}-minute access token", minutes("ACCESS_TOKEN_TTL_SECS")),
            ),
        ];
        for (place, phrase) in &expected {
            let place = place.replace("~1", "/");
            let hits = found
                .iter()
                .filter(|(at, text)| at.starts_with(&place) && text.contains(phrase.as_str()))
                .count();
            assert!(hits > 0, "no description under {place} says {phrase:?}");
        }
        // Every "N hours", "N KiB" or "N–M characters" the spec states is
        // one of the phrases above.
        let stated = regex::Regex::new(r"\d[\d,]*(–\d+)? (hours|KiB|characters|days)").unwrap();
        for (at, text) in &found {
            for hit in stated.find_iter(text) {
                assert!(
                    expected
                        .iter()
                        .any(|(_, phrase)| phrase.contains(hit.as_str())),
                    "{at} states {:?}, which no check ties to a constant",
                    hit.as_str()
                );
            }
        }
    }
}
