//! What one connection is doing, as its watchdog and the connection cap
//! need to know, and the socket wrapper that reports arriving bytes.
//!
//! The phases and the deadline each one sets:
//!
//! | phase | deadline |
//! |---|---|
//! | accepted, not yet read, silent or sending its first head | accept + header-read timeout |
//! | a handler has a request | none |
//! | idle between requests | since + keep-alive timeout |
//! | sending a later head | first byte + header-read timeout |
//! | chosen to make room | now |
//!
//! So a socket that never sends a byte lives only as long as a head may
//! take. A connection that is silent or idle between requests may be
//! closed to make room for a new client when the cap is reached. A new
//! connection counts as silent only once a read has found nothing: until
//! then its first request may already be waiting in the socket, and
//! closing it would drop a request the client has sent in full.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::HttpConfig;
use crate::metric_names as names;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted; not read from yet.
    Accepted,
    /// Accepted, and a read found no byte.
    Silent,
    /// The first request's head is arriving.
    FirstHead,
    /// A handler has a request.
    Busy,
    /// Between requests; no byte of the next one yet.
    Idle,
    /// A later request's head is arriving.
    Head,
    /// Chosen to be closed to make room for a new client.
    Evicted,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// When the current phase began.
    since: Instant,
    /// Requests in handlers (HTTP/1.1 serves one at a time; counted
    /// anyway).
    in_flight: usize,
}

/// One connection's activity.
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    state: Mutex<State>,
    /// Woken when the phase changes, so the watchdog recomputes its
    /// deadline.
    pub changed: Notify,
    /// The server's: woken when any connection falls idle, which may make
    /// room for a client waiting at the cap.
    went_idle: Arc<Notify>,
}

impl Activity {
    pub fn new(went_idle: Arc<Notify>) -> Self {
        let now = Instant::now();
        Self {
            accepted: now,
            state: Mutex::new(State {
                phase: Phase::Accepted,
                since: now,
                in_flight: 0,
            }),
            changed: Notify::new(),
            went_idle,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn enter(&self, state: &mut State, phase: Phase) {
        state.phase = phase;
        state.since = Instant::now();
        self.changed.notify_one();
    }

    /// When the connection should be closed unless something happens, or
    /// `None` while a handler has a request.
    pub fn deadline(&self, limits: &HttpConfig) -> Option<Instant> {
        let state = self.state();
        match state.phase {
            Phase::Accepted | Phase::Silent | Phase::FirstHead => {
                Some(self.accepted + limits.header_read_timeout)
            }
            Phase::Busy => None,
            Phase::Idle => Some(state.since + limits.keep_alive_timeout),
            Phase::Head => Some(state.since + limits.header_read_timeout),
            Phase::Evicted => Some(state.since),
        }
    }

    pub fn busy(&self) -> bool {
        self.state().phase == Phase::Busy
    }

    pub fn evicted(&self) -> bool {
        self.state().phase == Phase::Evicted
    }

    /// Which timeout a connection that passed its deadline ran out of:
    /// the keep-alive timeout when idle, the header-read one otherwise.
    pub fn timeout_label(&self) -> &'static str {
        match self.state().phase {
            Phase::Idle => names::label::timed_out::KEEP_ALIVE,
            _ => names::label::timed_out::HEADER,
        }
    }

    /// Since when the connection has been silent or idle; `None` when it
    /// is doing something (or already evicted).
    pub fn idle_since(&self) -> Option<Instant> {
        let state = self.state();
        matches!(state.phase, Phase::Silent | Phase::Idle).then_some(state.since)
    }

    /// Marks a silent or idle connection to be closed; `false` (and no
    /// change) if it has started doing something meanwhile.
    pub fn evict(&self) -> bool {
        let mut state = self.state();
        if matches!(state.phase, Phase::Silent | Phase::Idle) {
            self.enter(&mut state, Phase::Evicted);
            true
        } else {
            false
        }
    }

    fn bytes_arrived(&self) {
        let mut state = self.state();
        match state.phase {
            Phase::Accepted | Phase::Silent => self.enter(&mut state, Phase::FirstHead),
            Phase::Idle => self.enter(&mut state, Phase::Head),
            _ => {}
        }
    }

    /// A read of a new connection found nothing: it is silent, and may
    /// make room for a client waiting at the cap. Silent since accepted.
    pub(super) fn found_nothing(&self) {
        let mut state = self.state();
        if state.phase == Phase::Accepted {
            state.phase = Phase::Silent;
            state.since = self.accepted;
            drop(state);
            self.went_idle.notify_one();
        }
    }

    /// A handler took a request; dropping the guard starts the idle time.
    pub fn request_started(self: &Arc<Self>) -> Busy {
        let mut state = self.state();
        state.in_flight += 1;
        if state.phase != Phase::Evicted {
            self.enter(&mut state, Phase::Busy);
        }
        Busy(self.clone())
    }
}

/// Held while a handler has a request.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        let mut state = activity.state();
        state.in_flight -= 1;
        if state.in_flight == 0 && state.phase == Phase::Busy {
            activity.enter(&mut state, Phase::Idle);
            drop(state);
            activity.went_idle.notify_one();
        }
    }
}

/// A socket that tells its [`Activity`] when request bytes arrive.
pub struct Watched {
    pub inner: TcpStream,
    pub activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => self.activity.bytes_arrived(),
            Poll::Pending => self.activity.found_nothing(),
            _ => {}
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits() -> HttpConfig {
        HttpConfig {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            ..HttpConfig::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_gets_the_header_timeout_from_accept_whatever_it_sends() {
        let activity = Activity::new(Arc::new(Notify::new()));
        let accepted = Instant::now();
        let limits = limits();
        assert_eq!(
            activity.deadline(&limits),
            Some(accepted + limits.header_read_timeout)
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        activity.bytes_arrived();
        assert_eq!(
            activity.deadline(&limits),
            Some(accepted + limits.header_read_timeout)
        );
        assert_eq!(activity.idle_since(), None, "a head is arriving");
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_request_the_keep_alive_timer_runs_until_bytes_come() {
        let activity = Arc::new(Activity::new(Arc::new(Notify::new())));
        let limits = limits();
        activity.bytes_arrived();
        let busy = activity.request_started();
        assert_eq!(activity.deadline(&limits), None);
        assert!(!activity.evict(), "a busy connection is not evicted");
        tokio::time::advance(Duration::from_secs(30)).await;
        drop(busy);
        let idle = Instant::now();
        assert_eq!(
            activity.deadline(&limits),
            Some(idle + limits.keep_alive_timeout)
        );
        assert_eq!(activity.idle_since(), Some(idle));
        tokio::time::advance(Duration::from_secs(5)).await;
        activity.bytes_arrived();
        assert_eq!(
            activity.deadline(&limits),
            Some(Instant::now() + limits.header_read_timeout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_is_not_evicted_before_it_has_been_read() {
        let went_idle = Arc::new(Notify::new());
        let activity = Activity::new(went_idle.clone());
        let accepted = Instant::now();
        assert_eq!(activity.idle_since(), None, "its request may be waiting");
        assert!(!activity.evict());
        tokio::time::advance(Duration::from_secs(2)).await;
        activity.found_nothing();
        assert_eq!(
            activity.idle_since(),
            Some(accepted),
            "silent since accepted"
        );
        // A server waiting for room hears of it.
        tokio::time::timeout(Duration::from_millis(1), went_idle.notified())
            .await
            .expect("the waiting server was not told");
        assert!(activity.evict());
    }

    #[tokio::test(start_paused = true)]
    async fn silent_and_idle_connections_can_be_evicted_once() {
        let activity = Activity::new(Arc::new(Notify::new()));
        activity.found_nothing();
        assert!(activity.evict());
        assert!(activity.evicted());
        assert!(!activity.evict(), "already chosen");
        assert_eq!(activity.deadline(&limits()), Some(Instant::now()));
        activity.bytes_arrived();
        assert!(activity.evicted(), "late bytes do not save it");
    }
}
