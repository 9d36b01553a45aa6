//! The HTTP/1.1 server loop: accepts connections, holds each to the limits
//! a proxy would, and hands requests to the poem endpoint.
//!
//! The service is reached directly too (`scripts/dev.sh`, a bare VM, a
//! pod), so it cannot rely on nginx to cut off slow clients:
//! - a connection is closed when a request's head does not arrive within
//!   the header-read timeout of its first byte, or when it sits idle
//!   between requests longer than the keep-alive timeout;
//! - at most `max_connections` are served at once (below the
//!   file-descriptor limit); further clients wait in the listen backlog;
//! - accept errors are logged and retried with a backoff instead of
//!   spinning;
//! - on shutdown, connections without a request in a handler close at
//!   once (a half-sent request does not hold it up); the others finish
//!   their response, for at most the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, Request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::body::BodyReadTimeout;
use crate::config::HttpConfig;

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
/// for at most `grace`.
pub async fn serve(
    listener: TcpListener,
    endpoint: BoxEndpoint<'static>,
    http: HttpConfig,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let endpoint = Arc::new(endpoint);
    let limits = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => continue,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                backoff = Duration::from_millis(10);
                let local = stream.local_addr().unwrap_or(remote);
                let connection = Connection {
                    endpoint: endpoint.clone(),
                    limits: limits.clone(),
                    local,
                    remote,
                };
                let stopping = stopping.clone();
                connections.spawn(async move {
                    connection.serve(stream, stopping).await;
                    drop(slot);
                });
            }
            Err(err) => {
                // Out of descriptors or memory, or a connection reset
                // before it was accepted: say so and pause, rather than
                // retry at full speed.
                tracing::warn!(
                    error = %err,
                    retry_in_ms = backoff.as_millis() as u64,
                    "accepting a connection failed"
                );
                drop(slot);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
        }
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

struct Connection {
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Arc<HttpConfig>,
    local: SocketAddr,
    remote: SocketAddr,
}

impl Connection {
    async fn serve(self, stream: TcpStream, mut stopping: watch::Receiver<bool>) {
        let activity = Arc::new(Activity::new());
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
            // The watchdog below times the head from its first byte;
            // hyper's own timer would also count the idle time before it.
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
                    if activity.deadline(&self.limits).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(remote = %self.remote, "closing a slow or idle connection");
                        return;
                    }
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

/// What a connection is doing, as its watchdog needs to know: a request
/// in a handler, a request head arriving, or nothing.
struct Activity {
    in_flight: AtomicUsize,
    /// Bytes of a new request have arrived and no handler has it yet.
    reading_head: AtomicBool,
    /// When the current phase (idle, or reading a head) began, in
    /// milliseconds since `origin`.
    since_ms: AtomicU64,
    origin: Instant,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            reading_head: AtomicBool::new(false),
            since_ms: AtomicU64::new(0),
            origin: Instant::now(),
            changed: Notify::new(),
        }
    }

    fn mark_phase(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.since_ms.store(ms, Ordering::Release);
        self.changed.notify_one();
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// When the connection should be closed unless something happens, or
    /// `None` while a handler has a request.
    fn deadline(&self, limits: &HttpConfig) -> Option<Instant> {
        if self.busy() {
            return None;
        }
        let since = self.origin + Duration::from_millis(self.since_ms.load(Ordering::Acquire));
        Some(if self.reading_head.load(Ordering::Acquire) {
            since + limits.header_read_timeout
        } else {
            since + limits.keep_alive_timeout
        })
    }

    fn bytes_arrived(&self) {
        if !self.busy() && !self.reading_head.swap(true, Ordering::AcqRel) {
            self.mark_phase();
        }
    }

    fn request_started(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.reading_head.store(false, Ordering::Release);
        self.changed.notify_one();
        Busy(self.clone())
    }
}

/// Held while a handler has a request; dropping it starts the idle time.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.mark_phase();
    }
}

/// A socket that tells its [`Activity`] when request bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
