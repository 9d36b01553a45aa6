//! RFC 9457 problem details: the one shape of every error response.
//!
//! [`Problem`] is both a poem-openapi payload (`application/problem+json`)
//! and a `poem::Error`, so it serves as a documented response variant and
//! as the rejection of an extractor. `From<domain::Error>` is the single
//! place a domain failure becomes an HTTP status, and [`from_poem_error`]
//! turns poem's own failures (bad parameters, missing auth, unknown routes)
//! into the same shape. Internal errors are logged with their cause chain
//! and reach the client as an opaque 500.

use poem::http::{HeaderValue, StatusCode, header};

use poem::{IntoResponse, PathPattern, Response};
use poem_openapi::Object;
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};

use super::routes::Routes;
use crate::domain;
use crate::domain::error::{Kind, VersionCondition};
use crate::telemetry::{current_request_id, error_chain};

/// Problem type URIs. They identify the kind of failure; clients may
/// switch on them.
pub mod kind {
    pub const INVALID_INPUT: &str = "urn:catalog:problem:invalid-input";
    pub const UNAUTHENTICATED: &str = "urn:catalog:problem:unauthenticated";
    pub const FORBIDDEN: &str = "urn:catalog:problem:forbidden";
    pub const ACCOUNT_DISABLED: &str = "urn:catalog:problem:account-disabled";
    pub const LAST_ADMIN: &str = "urn:catalog:problem:last-admin";
    pub const NOT_FOUND: &str = "urn:catalog:problem:not-found";
    pub const CONFLICT: &str = "urn:catalog:problem:conflict";
    pub const PRECONDITION_FAILED: &str = "urn:catalog:problem:precondition-failed";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "urn:catalog:problem:idempotency-key-reused";
    pub const METHOD_NOT_ALLOWED: &str = "urn:catalog:problem:method-not-allowed";
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "urn:catalog:problem:unsupported-media-type";
    pub const PAYLOAD_TOO_LARGE: &str = "urn:catalog:problem:payload-too-large";
    pub const REQUEST_TIMEOUT: &str = "urn:catalog:problem:request-timeout";
    pub const TOO_MANY_REQUESTS: &str = "urn:catalog:problem:too-many-requests";
    pub const WRONG_PASSWORD: &str = "urn:catalog:problem:wrong-password";
    pub const UNAVAILABLE: &str = "urn:catalog:problem:unavailable";
    pub const INTERNAL: &str = "urn:catalog:problem:internal";
}

/// An error response (RFC 9457).
#[derive(Debug, Clone, Object)]
#[oai(rename = "Problem")]
pub struct ProblemBody {
    /// A URI naming the kind of problem.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// The id of the request, as in the `X-Request-Id` header.
    pub request_id: String,
    /// For invalid input: the request field or parameter at fault.
    #[oai(skip_serializing_if_is_none)]
    pub field: Option<String>,
}

/// The `Retry-After` of a 503: about as long as a pooled connection may be
/// waited for, and long enough for a restarting database to come back.
pub const RETRY_UNAVAILABLE_SECS: u64 = 5;

#[derive(Debug, Clone)]
pub struct Problem {
    body: Box<ProblemBody>,
    /// Seconds for the `Retry-After` header of a 429 or 503.
    retry_after: Option<u64>,
    /// `Cache-Control` of a problem a shared cache may keep (a product's
    /// absence); otherwise the answer is `no-store`.
    cache_control: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        let body = Box::new(ProblemBody {
            kind: kind.to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: current_request_id(),
            field: None,
        });
        Self {
            body,
            retry_after: None,
            cache_control: None,
        }
    }

    /// 400 naming the field at fault.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, kind::INVALID_INPUT, detail).with_field(field)
    }

    /// Names the request field or parameter the problem is about.
    pub fn with_field(mut self, field: &str) -> Self {
        self.body.field = Some(field.to_owned());
        self
    }

    /// Lets caches keep this answer as `cache_control` says.
    pub fn with_cache_control(mut self, cache_control: String) -> Self {
        self.cache_control = Some(cache_control);
        self
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, kind::UNAUTHENTICATED, detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            kind::INTERNAL,
            "the server failed to handle this request; quote the request id when reporting it",
        )
    }

    pub fn status(&self) -> u16 {
        self.body.status
    }

    /// The request field or parameter at fault, if the problem names one.
    pub fn field(&self) -> Option<&str> {
        self.body.field.as_deref()
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.body.status, self.body.title, self.body.detail
        )
    }
}

impl std::error::Error for Problem {}

/// The status a domain failure answers. A `const fn`, so that
/// [`problems!`] can check each operation's documented statuses against
/// the failures its calls declare while the crate compiles.
pub const fn status_of(kind: Kind) -> u16 {
    match kind {
        Kind::Invalid => 400,
        Kind::BadCredentials | Kind::Unauthenticated => 401,
        Kind::WrongPassword | Kind::Forbidden | Kind::NotAdmin | Kind::AccountDisabled => 403,
        Kind::NotFound => 404,
        Kind::Taken | Kind::LastAdmin => 409,
        Kind::PreconditionFailed => 412,
        Kind::IdempotencyKeyReused => 422,
        Kind::Throttled => 429,
        Kind::Internal => 500,
        Kind::Unavailable => 503,
    }
}

/// Whether `statuses` holds `status`; for the compile-time check.
pub const fn documents(statuses: &[u16], status: u16) -> bool {
    let mut i = 0;
    while i < statuses.len() {
        if statuses[i] == status {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether every failure in `failures` answers a status in `statuses`.
pub const fn documents_all(statuses: &[u16], failures: &[&[Kind]]) -> bool {
    let mut i = 0;
    while i < failures.len() {
        let mut j = 0;
        while j < failures[i].len() {
            if !documents(statuses, status_of(failures[i][j])) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

impl From<domain::Error> for Problem {
    fn from(err: domain::Error) -> Self {
        use domain::Error as E;
        let status = StatusCode::from_u16(status_of(err.kind()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = err.to_string();
        match err {
            E::Invalid { field, reason } => Self::invalid(field, format!("`{field}` {reason}")),
            E::Taken { field } => Self::new(status, kind::CONFLICT, detail).with_field(field),
            E::BadCredentials | E::Unauthenticated(_) => Self::unauthenticated(detail),
            E::Throttled { retry_after_secs } => {
                let mut problem = Self::new(status, kind::TOO_MANY_REQUESTS, detail);
                problem.retry_after = Some(retry_after_secs);
                problem
            }
            E::WrongPassword => {
                Self::new(status, kind::WRONG_PASSWORD, detail).with_field("current_password")
            }
            E::NotFound => Self::new(status, kind::NOT_FOUND, detail),
            E::Forbidden | E::NotAdmin => Self::new(status, kind::FORBIDDEN, detail),
            E::AccountDisabled => Self::new(status, kind::ACCOUNT_DISABLED, detail),
            E::LastAdmin => Self::new(status, kind::LAST_ADMIN, detail),
            E::PreconditionFailed(condition) => {
                Self::new(status, kind::PRECONDITION_FAILED, detail).with_field(match condition {
                    VersionCondition::OneOf => "If-Match",
                    VersionCondition::NoneOf => "If-None-Match",
                })
            }
            E::IdempotencyKeyReused => Self::new(status, kind::IDEMPOTENCY_KEY_REUSED, detail)
                .with_field("Idempotency-Key"),
            E::Unavailable(source) => {
                if let Some(source) = source {
                    tracing::warn!(error = %error_chain(source.as_ref()), "database unavailable");
                }
                let mut problem = Self::new(status, kind::UNAVAILABLE, detail);
                problem.retry_after = Some(RETRY_UNAVAILABLE_SECS);
                problem
            }
            E::Internal(source) => {
                tracing::error!(error = %error_chain(source.as_ref()), "internal error");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.body.to_json_string();
        let mut response = Response::builder()
            .status(status)
            .content_type(<Self as Payload>::CONTENT_TYPE)
            .body(body);
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(value) = self
            .cache_control
            .and_then(|v| HeaderValue::try_from(v).ok())
        {
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
        response
    }
}

impl poem::error::ResponseError for Problem {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

impl Payload for Problem {
    const CONTENT_TYPE: &'static str = "application/problem+json";

    fn schema_ref() -> MetaSchemaRef {
        ProblemBody::schema_ref()
    }

    fn register(registry: &mut Registry) {
        ProblemBody::register(registry);
    }
}

/// Declares an operation's error responses: one variant per documented
/// status, each carrying a [`Problem`], plus the 500 and 503 every
/// operation can give. The spec lists exactly these, and
/// `From<domain::Error>` sorts a domain failure into its variant.
///
/// `failures` names what the operation's domain calls declare they may
/// fail with (`domain::error::Failures`). The crate does not compile
/// while one of those failures answers a status the list leaves out,
/// and in debug builds (every test) a failure a call did not declare
/// panics. Only in a release build does such a failure fall back to a
/// logged 500.
macro_rules! problems {
    ($(#[$meta:meta])* $vis:vis enum $name:ident for [$($failures:expr),* $(,)?] {
        $($(#[$vmeta:meta])* $status:literal => $variant:ident,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, poem_openapi::ApiResponse)]
        $vis enum $name {
            $($(#[$vmeta])* #[oai(status = $status)] $variant($crate::api::problem::Problem),)*
            /// The server failed; the body says no more than the request id.
            #[oai(status = 500)]
            Internal($crate::api::problem::Problem),
            /// The database does not answer or is saturated; try again after `Retry-After` seconds.
            #[oai(status = 503, header(name = "Retry-After", ty = "u64", description = "Seconds to wait before trying again."))]
            Unavailable($crate::api::problem::Problem),
        }

        impl $name {
            /// What this operation's domain calls may fail with.
            #[allow(dead_code)]
            pub const FAILURES: &[$crate::domain::error::Failures] = &[$($failures),*];
            /// The statuses this operation documents.
            #[allow(dead_code)]
            pub const STATUSES: &[u16] = &[$($status,)* 500, 503];
        }

        const _: () = assert!(
            $crate::api::problem::documents_all($name::STATUSES, $name::FAILURES),
            concat!(
                stringify!($name),
                " leaves out the status of a failure its domain calls declare"
            ),
        );

        impl From<$crate::domain::Error> for $name {
            fn from(err: $crate::domain::Error) -> Self {
                debug_assert!(
                    err.declared_in(&[]) || Self::FAILURES.iter().any(|failures| err.declared_in(failures)),
                    "{} met an undeclared failure: {err:?}",
                    stringify!($name),
                );
                let problem = $crate::api::problem::Problem::from(err);
                match problem.status() {
                    $($status => Self::$variant(problem),)*
                    500 => Self::Internal(problem),
                    503 => Self::Unavailable(problem),
                    other => {
                        tracing::error!(status = other, "operation returned an undocumented status");
                        Self::Internal($crate::api::problem::Problem::internal())
                    }
                }
            }
        }
    };
}
pub(crate) use problems;

/// The `catch_all_error` handler: every error that reaches the top of the
/// route tree leaves as problem+json. `routes` names path parameters.
pub fn from_poem_error(err: poem::Error, routes: &Routes) -> Response {
    // An operation's documented error (a `problems!` variant) arrives as
    // an error wrapping a finished problem+json response: pass it on.
    if err.is_from_response() {
        return err.into_response();
    }
    problem_for(err, routes).into_response()
}

/// A parameter type's own explanation, without the `failed to parse
/// "Type": ` that poem-openapi puts before it.
pub(super) fn reason(message: &str) -> &str {
    message
        .strip_prefix("failed to parse \"")
        .and_then(|rest| rest.split_once("\": "))
        .map_or(message, |(_, reason)| reason)
}

fn problem_for(err: poem::Error, routes: &Routes) -> Problem {
    if let Some(problem) = err.downcast_ref::<Problem>() {
        return problem.clone();
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return Problem::invalid(e.name, format!("`{}` {}", e.name, reason(&e.reason)));
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        // poem-openapi names path parameters by position (`param0`, …)
        // rather than as the spec does; the matched route says which.
        let name = err
            .data::<PathPattern>()
            .and_then(|pattern| routes.parameter_name(&pattern.0, e.name))
            .unwrap_or(e.name);
        return Problem::invalid(name, format!("`{name}` {}", reason(&e.reason)));
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        return Problem::invalid("body", format!("the request body is invalid: {}", e.reason));
    }
    if err.is::<AuthorizationError>() {
        return Problem::unauthenticated(
            "this operation needs a bearer token in the Authorization header",
        );
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            kind::UNSUPPORTED_MEDIA_TYPE,
            match e {
                ContentTypeError::ExpectContentType => {
                    "send the body as JSON with `Content-Type: application/json`".to_owned()
                }
                ContentTypeError::NotSupported { content_type } => format!(
                    "`Content-Type: {content_type}` is not supported; send application/json"
                ),
            },
        )
        .with_field("Content-Type");
    }
    let status = err.status();
    match status {
        StatusCode::NOT_FOUND => Problem::new(status, kind::NOT_FOUND, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            kind::METHOD_NOT_ALLOWED,
            "this method is not allowed on this resource",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            kind::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        ),
        s if s.is_server_error() => {
            tracing::error!(error = %error_chain(&err), "request failed");
            Problem::internal()
        }
        s => Problem::new(
            s,
            kind::INVALID_INPUT,
            "the request could not be understood",
        ),
    }
}
