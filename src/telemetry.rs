//! Logging and request ids.
//!
//! Every request gets an id: the caller's `X-Request-Id` when it is
//! well-formed, a fresh UUID otherwise. The id is echoed in the response,
//! put in every problem body, and logged once per request with the
//! client's address, method, path, status and latency.
//!
//! Domain and database functions open `debug` spans: at the default
//! `info` only the request span is recorded, so a request does not pay
//! for formatting spans nobody reads (they cost a tenth of the list's
//! throughput). `RUST_LOG=info,catalog=debug` shows them.

use std::sync::Arc;
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::client::Client;
use crate::config::LogFormat;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// Sets up the global subscriber. `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    // Colours only for a terminal, never into files or container logs.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    install(format, "info", ansi, std::io::stdout);
}

/// Logging for a command whose standard output is its answer (`catalog
/// admin …`): to standard error, warnings only unless `RUST_LOG` says
/// otherwise.
pub fn init_for_command(format: LogFormat) {
    install(format, "warn", false, std::io::stderr);
}

fn install<W>(format: LogFormat, default: &str, ansi: bool, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    // `try_init` so tests that build several apps don't fight over it.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The id of the request being served, or "" outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(|id| id.to_string()).unwrap_or_default()
}

/// Accepts ids of 1–128 visible ASCII characters from a safe set, so a
/// caller cannot inject anything into logs or headers.
fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware body: assigns the id, serves the request in its scope and
/// logs the outcome. Errors become responses here, so the log sees the
/// status the client gets.
pub async fn serve_with_request_id<E: Endpoint>(
    next: Arc<E>,
    req: Request,
) -> poem::Result<Response> {
    let id: Arc<str> = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| well_formed(value))
        .map_or_else(|| Arc::from(uuid::Uuid::new_v4().to_string()), Arc::from);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let client = req.data::<Client>().copied();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        client = client.map(tracing::field::display),
        %method,
        %path
    );
    let started = Instant::now();

    let mut response = REQUEST_ID
        .scope(id.clone(), async move {
            match next.call(req).await {
                Ok(response) => response.into_response(),
                Err(err) => err.into_response(),
            }
        })
        .instrument(span)
        .await;

    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        request_id = %id,
        client = client.map(tracing::field::display),
        %method,
        %path,
        status,
        latency_ms,
        "request"
    );
    Ok(response)
}

/// Renders an error with its whole `source()` chain, for logs only.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::well_formed;

    #[test]
    fn request_ids_are_checked() {
        assert!(well_formed("3f1c2a9e-1b2c-4d5e-8f90-123456789abc"));
        assert!(well_formed("trace.1:2_3"));
        assert!(!well_formed(""));
        assert!(!well_formed("has space"));
        assert!(!well_formed("new\nline"));
        assert!(!well_formed(&"x".repeat(129)));
    }
}
