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
use crate::metric_names as names;

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
            names::BUILD_INFO,
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
    gauge!(names::DB_POOL_MAX_CONNECTIONS).set(status.max_size as f64);
    gauge!(names::DB_POOL_CONNECTIONS, "state" => names::label::pool_state::IDLE)
        .set(status.available as f64);
    gauge!(names::DB_POOL_CONNECTIONS, "state" => names::label::pool_state::IN_USE)
        .set(status.size.saturating_sub(status.available) as f64);
    gauge!(names::UPTIME).set(exporter.started.elapsed().as_secs_f64());
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
        names::SIGNUPS,
        names::REFRESH_ROTATIONS,
        names::REFRESH_REUSE_DETECTED,
        names::DB_ACQUIRE_TIMEOUTS,
    ] {
        counter!(name).absolute(0);
    }
    for outcome in names::label::outcome::ALL {
        counter!(names::LOGINS, "outcome" => outcome).absolute(0);
    }
    for by in names::label::ended_by::ALL {
        counter!(names::SESSIONS_ENDED, "by" => by).absolute(0);
    }
    for action in names::label::admin_action::ALL {
        counter!(names::ADMIN_ACTIONS, "action" => action).absolute(0);
    }
    for kind in names::label::query_error::ALL {
        counter!(names::DB_QUERY_ERRORS, "kind" => kind).absolute(0);
    }
    gauge!(names::HTTP_REQUESTS_IN_FLIGHT).set(0.0);
    gauge!(names::PASSWORD_HASH_SLOTS_IN_USE).set(0.0);
}

/// The HELP lines of every metric the service records.
fn describe() {
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests answered, by operation (operationId, `unmatched` for no route) and status class."
    );
    describe_histogram!(
        names::HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by operation and status class."
    );
    describe_gauge!(
        names::HTTP_REQUESTS_IN_FLIGHT,
        "HTTP requests being handled now."
    );
    describe_gauge!(
        names::DB_POOL_MAX_CONNECTIONS,
        "The most database connections this process opens (DATABASE_POOL_SIZE)."
    );
    describe_gauge!(
        names::DB_POOL_CONNECTIONS,
        "Open database connections, by state: in_use or idle."
    );
    describe_histogram!(
        names::DB_ACQUIRE_DURATION,
        Unit::Seconds,
        "Time a request waited for a database connection."
    );
    describe_counter!(
        names::DB_ACQUIRE_TIMEOUTS,
        "Requests that got no database connection within DATABASE_ACQUIRE_TIMEOUT_SECS (answered 503)."
    );
    describe_counter!(
        names::DB_DEADLINE_EXCEEDED,
        "Requests cut off by DATABASE_STATEMENT_TIMEOUT_SECS (answered 503)."
    );
    describe_counter!(
        names::DB_CONNECTIONS_DISCARDED,
        "Database connections closed instead of pooled, because the work using them was cut off."
    );
    describe_gauge!(
        names::CONNECTIONS_OPEN,
        "Client connections being served now, by listener: api or metrics."
    );
    describe_counter!(
        names::CONNECTIONS_REFUSED,
        "Client connections closed at once, by listener and reason: client_limit (the address held MAX_CONNECTIONS_PER_CLIENT)."
    );
    describe_counter!(
        names::CONNECTIONS_EVICTED,
        "Idle client connections closed to admit a new one at MAX_CONNECTIONS, by listener."
    );
    describe_counter!(
        names::THROTTLE_REFUSALS,
        "429s of the login and signup throttle, by the limit that refused: account_and_client, account, device, client or signups."
    );
    describe_counter!(
        names::DB_QUERY_ERRORS,
        "Database statements that failed, by kind: unavailable (retryable) or query."
    );
    describe_counter!(
        names::DB_READS,
        "Public product reads, by the database that served them: primary or replica."
    );
    describe_counter!(
        names::DB_READ_FALLBACKS,
        "Public product reads a replica could have served that went to the primary, by reason."
    );
    describe_counter!(
        names::DB_CAUSAL_WAITS,
        "Reads with a consistency token that waited for a replica: applied, or timed_out (then read from the primary)."
    );
    describe_histogram!(
        names::DB_CAUSAL_WAIT_DURATION,
        Unit::Seconds,
        "Time reads with a consistency token waited for a replica to apply it."
    );
    describe_gauge!(
        names::DB_REPLICAS,
        "Read replicas configured, by state: healthy or unhealthy."
    );
    describe_gauge!(
        names::DB_REPLICA_HEALTHY,
        "1 while the replica in the `replica` label serves reads, 0 while it is skipped."
    );
    describe_gauge!(
        names::DB_REPLICA_LAG,
        "How far behind its primary each replica is, as its status says (time stopped, when replication is)."
    );
    describe_gauge!(
        names::DB_REPLICA_POOL_CONNECTIONS,
        "Each replica's pooled connections, by state: in_use or idle (updated every second)."
    );
    describe_counter!(
        names::DB_REPLICA_OUTAGES,
        "Times every read replica was unhealthy at once (reads all went to the primary)."
    );
    describe_counter!(
        names::LOGINS,
        "Login attempts, by outcome: success, bad_credentials, throttled or disabled (the password was right)."
    );
    describe_counter!(names::SIGNUPS, "Accounts created by signup.");
    describe_histogram!(
        names::PASSWORD_HASH_QUEUE,
        Unit::Seconds,
        "Time a password check or hash waited for an Argon2 slot."
    );
    describe_histogram!(
        names::PASSWORD_HASH,
        Unit::Seconds,
        "Time one Argon2 run took."
    );
    describe_gauge!(
        names::PASSWORD_HASH_SLOTS_IN_USE,
        "Argon2 slots (one per core) busy now."
    );
    describe_counter!(
        names::REFRESH_ROTATIONS,
        "Refresh tokens exchanged for a new pair."
    );
    describe_counter!(
        names::REFRESH_REUSE_DETECTED,
        "Refresh tokens presented a second time: a leaked token; its session was revoked."
    );
    describe_counter!(
        names::ADMIN_ACTIONS,
        "Admin actions, each also an audit event, by action: user.update, user.logout_all, \
         user.set_password, product.edit, product.delete."
    );
    describe_counter!(
        names::SESSIONS_ENDED,
        "Sessions ended, by how: logout or logout_all."
    );
    describe_counter!(
        names::CONNECTIONS_TIMED_OUT,
        "Client connections closed by a timeout: `header` (a head, or the first byte after the accept, came too slowly) or `keep_alive` (idle too long)."
    );
    describe_counter!(
        names::LIST_TIME_LIMIT,
        "List reads the database stopped at DATABASE_READ_TIMEOUT_SECS, by the shape of their plan."
    );
    describe_counter!(
        names::LIST_SCAN_REFUSED,
        "List reads refused with 503 because every scan slot (DATABASE_SCAN_SLOTS) stayed busy."
    );
    describe_gauge!(
        names::READY,
        "1 when the last readiness check (/readyz) reached the database, 0 when it did not."
    );
    describe_gauge!(
        names::UPTIME,
        Unit::Seconds,
        "Seconds since the process started recording."
    );
    describe_gauge!(
        names::BUILD_INFO,
        "Always 1; the version and git revision as labels."
    );
}
