//! Prometheus metrics. Every layer records through the `metrics` facade
//! (as it logs through `tracing`); this module installs the recorder that
//! keeps them and serves them as `GET /metrics` on an address of its own
//! (`METRICS_ADDR`), never through the API's port.
//!
//! Gauges that describe a state rather than count events (the pool, the
//! process, uptime) are read when Prometheus scrapes, so they cost nothing
//! in between.

use std::sync::OnceLock;
use std::time::Instant;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get, handler, web::Data};

use crate::db;

/// Histogram buckets for latencies and waits, in seconds: from 0.5 ms
/// (a page) to 10 s (a request stuck behind the database).
const SECONDS_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What `/metrics` reads: the recorder's handle and when it started.
#[derive(Clone)]
struct Exporter {
    handle: PrometheusHandle,
    started: Instant,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls, as from several
/// services in one test process, share it).
fn exporter() -> &'static Exporter {
    EXPORTER.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
            .expect("the buckets are not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(err) => {
                tracing::warn!(error = %err, "another metrics recorder is installed; /metrics shows nothing");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        describe();
        start_at_zero();
        let process = metrics_process::Collector::default();
        process.describe();
        gauge!(
            "catalog_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
            "revision" => option_env!("CATALOG_GIT_REVISION").unwrap_or("unknown"),
        )
        .set(1.0);
        Exporter {
            handle,
            started: Instant::now(),
            process,
        }
    })
}

/// Starts recording (installing the recorder if it is not yet).
pub fn init() {
    exporter();
}

/// The `/metrics` endpoint, reading the pool's state from `pool`.
pub fn endpoint(pool: db::Pool) -> impl Endpoint<Output = Response> + 'static {
    Route::new().at("/metrics", get(render)).data(pool)
}

#[handler]
fn render(pool: Data<&db::Pool>) -> Response {
    let exporter = exporter();
    let status = pool.status();
    gauge!("catalog_db_pool_max_connections").set(status.max_size as f64);
    gauge!("catalog_db_pool_connections", "state" => "idle").set(status.available as f64);
    gauge!("catalog_db_pool_connections", "state" => "in_use")
        .set(status.size.saturating_sub(status.available) as f64);
    gauge!("catalog_uptime_seconds").set(exporter.started.elapsed().as_secs_f64());
    exporter.process.collect();
    exporter.handle.run_upkeep();
    exporter
        .handle
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .with_status(StatusCode::OK)
        .into_response()
}

/// Publishes every event counter at 0 from the start, so a first event is
/// an increase Prometheus can see (`increase()` of a series that appears
/// at 1 is 0) and dashboards show 0 rather than "no data".
fn start_at_zero() {
    for name in [
        "catalog_signups_total",
        "catalog_refresh_rotations_total",
        "catalog_refresh_reuse_detected_total",
        "catalog_db_acquire_timeouts_total",
    ] {
        counter!(name).absolute(0);
    }
    for outcome in ["success", "bad_credentials", "throttled"] {
        counter!("catalog_logins_total", "outcome" => outcome).absolute(0);
    }
    for by in ["logout", "logout_all"] {
        counter!("catalog_sessions_ended_total", "by" => by).absolute(0);
    }
    for kind in ["unavailable", "query"] {
        counter!("catalog_db_query_errors_total", "kind" => kind).absolute(0);
    }
    gauge!("catalog_http_requests_in_flight").set(0.0);
    gauge!("catalog_password_hash_slots_in_use").set(0.0);
}

/// The HELP lines of every metric the service records.
fn describe() {
    describe_counter!(
        "catalog_http_requests_total",
        "HTTP requests answered, by operation (operationId, `unmatched` for no route) and status class."
    );
    describe_histogram!(
        "catalog_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by operation and status class."
    );
    describe_gauge!(
        "catalog_http_requests_in_flight",
        "HTTP requests being handled now."
    );
    describe_gauge!(
        "catalog_db_pool_max_connections",
        "The most database connections this process opens (DATABASE_POOL_SIZE)."
    );
    describe_gauge!(
        "catalog_db_pool_connections",
        "Open database connections, by state: in_use or idle."
    );
    describe_histogram!(
        "catalog_db_acquire_duration_seconds",
        Unit::Seconds,
        "Time a request waited for a database connection."
    );
    describe_counter!(
        "catalog_db_acquire_timeouts_total",
        "Requests that got no database connection within DATABASE_ACQUIRE_TIMEOUT_SECS (answered 503)."
    );
    describe_counter!(
        "catalog_db_deadline_exceeded_total",
        "Requests cut off by DATABASE_STATEMENT_TIMEOUT_SECS (answered 503)."
    );
    describe_counter!(
        "catalog_db_connections_discarded_total",
        "Database connections closed instead of pooled, because the work using them was cut off."
    );
    describe_gauge!(
        "catalog_connections_open",
        "Client connections being served now, by listener: api or metrics."
    );
    describe_counter!(
        "catalog_connections_refused_total",
        "Client connections closed at once, by listener and reason: client_limit (the address held MAX_CONNECTIONS_PER_CLIENT)."
    );
    describe_counter!(
        "catalog_connections_evicted_total",
        "Idle client connections closed to admit a new one at MAX_CONNECTIONS, by listener."
    );
    describe_counter!(
        "catalog_throttle_refusals_total",
        "429s of the login and signup throttle, by the limit that refused: account_and_client, account, device, client or signups."
    );
    describe_counter!(
        "catalog_db_query_errors_total",
        "Database statements that failed, by kind: unavailable (retryable) or query."
    );
    describe_counter!(
        "catalog_logins_total",
        "Login attempts, by outcome: success, bad_credentials or throttled."
    );
    describe_counter!("catalog_signups_total", "Accounts created by signup.");
    describe_histogram!(
        "catalog_password_hash_queue_seconds",
        Unit::Seconds,
        "Time a password check or hash waited for an Argon2 slot."
    );
    describe_histogram!(
        "catalog_password_hash_seconds",
        Unit::Seconds,
        "Time one Argon2 run took."
    );
    describe_gauge!(
        "catalog_password_hash_slots_in_use",
        "Argon2 slots (one per core) busy now."
    );
    describe_counter!(
        "catalog_refresh_rotations_total",
        "Refresh tokens exchanged for a new pair."
    );
    describe_counter!(
        "catalog_refresh_reuse_detected_total",
        "Refresh tokens presented a second time: a leaked token; its session was revoked."
    );
    describe_counter!(
        "catalog_sessions_ended_total",
        "Sessions ended, by how: logout or logout_all."
    );
    describe_gauge!(
        "catalog_ready",
        "1 when the last readiness check (/readyz) reached the database, 0 when it did not."
    );
    describe_gauge!(
        "catalog_uptime_seconds",
        Unit::Seconds,
        "Seconds since the process started recording."
    );
    describe_gauge!(
        "catalog_build_info",
        "Always 1; the version and git revision as labels."
    );
}
