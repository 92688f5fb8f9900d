//! Accepting connections: how many may be open at once, and how long each may take to say
//! what it wants. A small accept loop over hyper's HTTP/1 connections (`axum::serve` offers
//! neither a limit nor timeouts).
//!
//! - **At most [`ConnectionLimits::max_connections`] open.** A permit is taken before
//!   `accept`, so further clients wait in the kernel's listen backlog rather than holding a
//!   file descriptor each; `tailor_http_connections` counts the open ones.
//! - **Header read:** a request's head (request line and headers) must be complete within
//!   [`ConnectionLimits::header_read_timeout`] of its first byte (of the accept, for a new
//!   connection), so a client sending a byte now and then cannot hold a connection.
//! - **Idle:** a kept-alive connection with no request in progress is closed when no byte has
//!   moved either way for [`ConnectionLimits::idle_timeout`]; this also ends a response that
//!   its client stopped reading.
//! - **Body read:** a request's body must have arrived within
//!   [`ConnectionLimits::body_read_timeout`] of its head ([`TimedBody`]); a handler reading
//!   it past then gets an error, which `body::read_limited` answers `408`.
//!
//! While a handler runs no timeout applies here: erasure or training can take longer than
//! any of these, and the client is waiting for them.
//!
//! The timeouts are kept by a wrapper around the socket ([`Guarded`]), which the connection
//! polls anyway: each read or write costs two atomic loads, and the timer is re-armed only
//! when it fires early, not on every request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

/// How many connections may be open, and how long they may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// From a request's first byte (or a new connection's accept) to the end of its headers.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in progress may stay silent.
    pub idle_timeout: Duration,
    /// How long a handler waits for a request's whole body.
    pub body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 1,024 connections (with a little headroom under the usual 1,024-descriptor limit,
    /// raise the limit with `ulimit -n` before raising this), 10 s for headers, 30 s idle
    /// (below the 60 s at which many clients and proxies give up on an idle connection
    /// themselves), 30 s for a body (the largest, a 500 KB batch, is a second's upload on a
    /// slow mobile link).
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1_024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Parses a duration setting: `500ms`, `10s`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("duration {s:?} is not a number with a unit, e.g. 500ms, 10s, 2m");
    let s = s.trim();
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = u64::from_str(&s[..unit_at]).map_err(|_| bad())?;
    let duration = match s[unit_at..].trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3_600),
        _ => return Err(bad()),
    };
    if duration.is_zero() {
        return Err(format!("duration {s:?} must be more than zero"));
    }
    Ok(duration)
}

/// Accepts connections on `listener` and serves `app` on them until `shutdown` resolves;
/// then stops accepting, lets each connection finish the request it is handling (idle ones
/// close at once), and returns when every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(max as usize));
    let (closing, closed) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut at_limit = false;
    loop {
        if permits.available_permits() == 0 && !at_limit {
            tracing::warn!(
                max = limits.max_connections,
                "the connection limit is reached: new connections wait until one closes"
            );
        }
        at_limit = permits.available_permits() == 0;
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let closed = closed.clone();
        tokio::spawn(async move {
            metrics::gauge!("tailor_http_connections").increment(1.0);
            connection(stream, peer, app, limits, closed).await;
            metrics::gauge!("tailor_http_connections").decrement(1.0);
            drop(permit);
        });
    }
    drop(listener);
    drop(closed);
    let _ = closing.send(());
    // Every permit back: every connection has ended.
    let _ = permits.acquire_many(max).await;
    Ok(())
}

/// After a failed `accept`: a client that gave up is no reason to wait; anything else (out
/// of file descriptors, mostly) is retried after a pause instead of spinning.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it closes, or until shutdown and its current request ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<()>,
) {
    let requests = Arc::new(Requests::default());
    let io = TokioIo::new(Guarded::new(stream, limits, requests.clone()));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let handling = Handling::start(&requests);
        // The peer is what per-address rate limits count.
        request.extensions_mut().insert(ConnectInfo(peer));
        let deadline = Instant::now() + limits.body_read_timeout;
        let request = request.map(|body| Body::new(TimedBody::new(body, deadline)));
        let response = app.clone().oneshot(request);
        async move {
            let response = response.await;
            drop(handling);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = closing.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::trace!(%peer, error = %e, "connection ended");
    }
}

/// What the connection's requests are doing, shared between the service (which counts
/// them) and the socket wrapper (which reads the counts to know the connection's phase).
#[derive(Default)]
struct Requests {
    /// Requests whose heads were read, ever.
    started: AtomicU64,
    /// Requests being handled now.
    in_flight: AtomicUsize,
}

/// One request being handled; counted out when dropped (also if the client goes away).
struct Handling(Arc<Requests>);

impl Handling {
    fn start(requests: &Arc<Requests>) -> Handling {
        requests.started.fetch_add(1, Ordering::AcqRel);
        requests.in_flight.fetch_add(1, Ordering::AcqRel);
        Handling(requests.clone())
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where a connection is between requests, for its timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request's head: it must be complete by the deadline.
    Head { deadline: Instant },
    /// A request is being handled: no timeout here.
    Busy,
    /// Nothing to do (or writing out the last response): closed after the idle timeout
    /// without a byte moving.
    Idle,
}

/// A socket with the header-read and idle timeouts: a read or write that would wait past
/// the phase's deadline fails with `TimedOut`, and hyper closes the connection.
struct Guarded {
    stream: TcpStream,
    limits: ConnectionLimits,
    requests: Arc<Requests>,
    /// `requests.started` when the phase was last worked out.
    seen: u64,
    phase: Phase,
    /// When a byte last moved while idle.
    last_activity: Instant,
    /// Armed at or before the phase's deadline; re-armed when it fires early.
    timer: Pin<Box<Sleep>>,
}

impl Guarded {
    fn new(stream: TcpStream, limits: ConnectionLimits, requests: Arc<Requests>) -> Guarded {
        let now = Instant::now();
        let deadline = now + limits.header_read_timeout;
        Guarded {
            stream,
            limits,
            requests,
            seen: 0,
            phase: Phase::Head { deadline },
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// Brings the phase up to date with the requests, and answers its deadline.
    fn deadline(&mut self) -> Option<Instant> {
        let started = self.requests.started.load(Ordering::Acquire);
        if self.requests.in_flight.load(Ordering::Acquire) > 0 {
            self.seen = started;
            self.phase = Phase::Busy;
            return None;
        }
        // A request came and went (possibly between two polls of the socket).
        if started != self.seen || self.phase == Phase::Busy {
            self.seen = started;
            self.phase = Phase::Idle;
            self.last_activity = Instant::now();
        }
        match self.phase {
            Phase::Head { deadline } => Some(deadline),
            Phase::Idle => Some(self.last_activity + self.limits.idle_timeout),
            Phase::Busy => None,
        }
    }

    /// After an operation that would wait: `Ready` with the error once the deadline has
    /// passed, else `Pending` with the timer registered to wake the connection then.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let Some(deadline) = self.deadline() else {
            return Poll::Pending;
        };
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        loop {
            ready!(self.timer.as_mut().poll(cx));
            if Instant::now() >= deadline {
                let what = match self.phase {
                    Phase::Head { .. } => "the request's headers took too long",
                    _ => "the connection was idle too long",
                };
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, what));
            }
            // Armed for an earlier deadline (an earlier phase): wait for this one.
            self.timer.as_mut().reset(deadline);
        }
    }

    /// A byte moved: an idle connection's next request begins, or its last response goes on.
    fn moved(&mut self, read: bool) {
        if self.phase == Phase::Idle {
            let now = Instant::now();
            self.last_activity = now;
            if read {
                self.phase = Phase::Head {
                    deadline: now + self.limits.header_read_timeout,
                };
            }
        }
    }

    /// After a write: once a response is on its way the connection is idle, and the timer
    /// must be armed now. hyper does not read again before the socket wakes it (its last
    /// read, while the request was handled, already waited), so the timer has to.
    fn wrote(&mut self, n: usize, cx: &mut Context<'_>) {
        self.deadline();
        if n > 0 {
            self.moved(false);
        }
        if self.phase == Phase::Idle {
            // Pending, with the wake-up registered: a byte just moved.
            let _ = self.poll_deadline(cx);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                // Worked out before the bytes count: they may start the next request.
                this.deadline();
                if buf.filled().len() > before {
                    this.moved(true);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx).map(Err),
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.wrote(n, cx);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.wrote(n, cx);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A request body that fails with [`BodyTimedOut`] if it is still arriving at its deadline.
struct TimedBody {
    body: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl TimedBody {
    fn new(body: Incoming, deadline: Instant) -> TimedBody {
        TimedBody {
            body,
            deadline,
            timer: None,
        }
    }
}

/// The error a [`TimedBody`] ends with past its deadline.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body took too long to arrive")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for TimedBody {
    type Data = axum::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration(" 2m "), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "s", "0s", "-1s", "1.5s", "10 days", "ten"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
