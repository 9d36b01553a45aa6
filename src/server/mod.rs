//! The HTTP/1.1 server loop: accepts connections, holds each to the limits
//! a proxy would, and hands requests to the poem endpoint.
//!
//! The service is reached directly too (`scripts/dev.sh`, a bare VM, a
//! pod), so it cannot rely on nginx to cut off slow clients:
//! - a new connection must deliver its first request's head within the
//!   header-read timeout of its accept, so a socket that sends nothing
//!   holds a slot no longer than a slow head may; a later head must arrive
//!   within that timeout of its first byte, and a connection idle between
//!   requests longer than the keep-alive timeout is closed;
//! - one client address holds at most `max_connections_per_client`
//!   connections (trusted proxies aside); further ones are closed at once;
//! - at most `max_connections` are served at once (below the
//!   file-descriptor limit). At the cap, the connection silent or idle the
//!   longest is closed to admit a new one, as nginx reuses its idle
//!   keep-alive connections when it runs short; when none is idle, new
//!   clients wait in the listen backlog;
//! - accept errors are logged and retried with a backoff instead of
//!   spinning;
//! - on shutdown, connections without a request in a handler close at
//!   once (a half-sent request does not hold it up); the others finish
//!   their response, for at most the grace period.

mod activity;
mod registry;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Request};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::body::BodyReadTimeout;
use crate::client::Client;
use crate::config::HttpConfig;
use crate::metric_names as names;
use activity::{Activity, Watched};
use registry::Registry;

/// Descriptors kept free beside client connections: the database pool,
/// the listener, logs and some slack.
const RESERVED_FDS: u64 = 64;

/// The longest pause between attempts after accept fails.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How many client connections fit under the open-file limit, after
/// raising its soft value to the hard one. `reserved` descriptors are
/// left for everything else.
pub fn connection_cap(wanted: usize, reserved: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the open-file limit");
            return wanted;
        }
    };
    let room = limit.saturating_sub(RESERVED_FDS + reserved as u64).max(1);
    let cap = wanted.min(usize::try_from(room).unwrap_or(usize::MAX));
    if cap < wanted {
        tracing::warn!(
            wanted,
            cap,
            open_file_limit = limit,
            "MAX_CONNECTIONS lowered to fit the open-file limit"
        );
    }
    cap
}

/// Serves `endpoint` on `listener` until `shutdown` resolves, then drains
/// for at most `grace`. `name` labels its connection metrics (`api`,
/// `metrics`).
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    http: HttpConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    // Published at 0, so a first event is an increase Prometheus sees.
    let refused = metrics::counter!(
        names::CONNECTIONS_REFUSED,
        "listener" => name,
        "reason" => names::label::refused::CLIENT_LIMIT
    );
    let evicted = metrics::counter!(names::CONNECTIONS_EVICTED, "listener" => name);
    refused.increment(0);
    evicted.increment(0);
    for timeout in names::label::timed_out::ALL {
        metrics::counter!(names::CONNECTIONS_TIMED_OUT, "listener" => name, "timeout" => timeout)
            .increment(0);
    }
    let endpoint = Arc::new(endpoint);
    let limits = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Registry::new(limits.max_connections_per_client, name);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of descriptors or memory, or a connection reset
                // before it was accepted: say so and pause, rather than
                // retry at full speed.
                tracing::warn!(
                    error = %err,
                    retry_in_ms = backoff.as_millis() as u64,
                    "accepting a connection failed"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let client = Client::new(remote.ip());
        // A trusted proxy carries many clients: it is not limited as one.
        let counted = (!limits.trusted_proxies.contains(remote.ip())).then(|| client.key());
        let activity = Arc::new(Activity::new(registry.went_idle.clone()));
        let Some(registration) = registry.admit(counted) else {
            refused.increment(1);
            tracing::debug!(%client, "connection refused: the client holds its limit");
            continue;
        };
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = make_room(&slots, &registry, &evicted) => slot,
        };
        registration.track(activity.clone());
        let local = stream.local_addr().unwrap_or(remote);
        let connection = Connection {
            endpoint: endpoint.clone(),
            limits: limits.clone(),
            activity,
            local,
            remote,
            listener: name,
        };
        let stopping = stopping.clone();
        connections.spawn(async move {
            connection.serve(stream, stopping).await;
            drop(registration);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = connections.len(),
            "grace period over; closing the remaining connections"
        );
        connections.shutdown().await;
    }
}

/// A slot for one more connection: a free one, or one that closing the
/// longest-idle connection frees. While every connection is doing
/// something, waits until one ends or falls idle.
async fn make_room(
    slots: &Arc<Semaphore>,
    registry: &Registry,
    evicted: &metrics::Counter,
) -> OwnedSemaphorePermit {
    if let Ok(slot) = slots.clone().try_acquire_owned() {
        return slot;
    }
    loop {
        if registry.evict_longest_idle() {
            evicted.increment(1);
            return acquire(slots).await;
        }
        tokio::select! {
            slot = acquire(slots) => return slot,
            () = registry.went_idle.notified() => {}
        }
    }
}

async fn acquire(slots: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed")
}

struct Connection {
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Arc<HttpConfig>,
    activity: Arc<Activity>,
    local: SocketAddr,
    remote: SocketAddr,
    /// The listener's name, for the metrics.
    listener: &'static str,
}

impl Connection {
    async fn serve(self, stream: TcpStream, mut stopping: watch::Receiver<bool>) {
        let activity = self.activity.clone();
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = service_fn({
            let activity = activity.clone();
            let (endpoint, local, remote) = (self.endpoint.clone(), self.local, self.remote);
            let body_timeout = self.limits.header_read_timeout;
            move |request: hyper::Request<Incoming>| {
                let busy = activity.request_started();
                let endpoint = endpoint.clone();
                async move {
                    let mut request = Request::from((
                        request,
                        LocalAddr(local.into()),
                        RemoteAddr(remote.into()),
                        Scheme::HTTP,
                    ));
                    request.set_data(BodyReadTimeout(body_timeout));
                    let response = endpoint.get_response(request).await;
                    drop(busy);
                    Ok::<_, Infallible>(hyper::Response::from(response))
                }
            }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            // The watchdog below times heads as described above; hyper's
            // own timer would count from other moments.
            .header_read_timeout(None)
            .serve_connection(io, service);
        tokio::pin!(connection);
        loop {
            let deadline = activity.deadline(&self.limits);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, remote = %self.remote, "connection ended with an error");
                    }
                    return;
                }
                () = activity.changed.notified() => {}
                () = sleep_until(deadline) => {
                    if activity.deadline(&self.limits).is_none_or(|d| d > Instant::now()) {
                        continue;
                    }
                    if activity.evicted() {
                        tracing::debug!(remote = %self.remote, "closing an idle connection to make room");
                        // It may still be writing its last response.
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(self.limits.header_read_timeout, connection).await;
                    } else {
                        let timeout = activity.timeout_label();
                        metrics::counter!(
                            names::CONNECTIONS_TIMED_OUT,
                            "listener" => self.listener,
                            "timeout" => timeout
                        )
                        .increment(1);
                        tracing::debug!(remote = %self.remote, timeout, "closing a slow or idle connection");
                    }
                    return;
                }
                _ = stopping.changed() => {
                    if !activity.busy() {
                        return;
                    }
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                    return;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
