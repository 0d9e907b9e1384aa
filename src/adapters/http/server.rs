//! The HTTP server under poem's endpoint (hyper, HTTP/1.1): what a client
//! that never finishes its request, or never leaves, can hold. poem's own
//! server sets no header timeout and no cap on connections, and retries a
//! failed accept at once (a busy loop when file descriptors run out). This
//! one:
//! - closes a connection whose request line and headers have not arrived
//!   within the header timeout: counted from its opening for the first
//!   request, from the first byte of a later one (a pipelined one, sent
//!   while an earlier request is answered, included: once that answer is
//!   out, it owes the rest of its head by then);
//! - closes a keep-alive connection idle (nothing read or written, no
//!   request in flight) for the idle timeout;
//! - bounds a request body's arrival by the header timeout too, once its
//!   route reads it (`deadline_body`);
//! - holds at most `max_connections` open: it accepts no more until one
//!   closes, so the rest wait in the listen backlog;
//! - pauses after an accept that failed for want of resources;
//! - speaks no cleartext HTTP/2, whose streams per connection would need
//!   bounds of their own: Twilio and reverse proxies speak HTTP/1.1 to it.
//!
//! Over 300 lines: a connection's life (header timeout, idle timeout, the cap,
//! the accept backoff) is one state machine, whose parts only make sense
//! together.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use poem::endpoint::BoxEndpoint;
use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Addr, Body, Endpoint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What one client may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// File descriptors kept from client connections: the store's (eight pooled
/// connections, the log writer and the checkpointer, each with a database,
/// a log and a shared-memory file), the outbound HTTP clients', the
/// listener's and the standard streams.
pub const RESERVED_FILES: u64 = 128;

/// The connection cap when none is configured: what the open-file limit
/// leaves after the reserve (half the limit when it is tiny).
pub fn default_max_connections(open_files: u64) -> usize {
    let cap = if open_files > 2 * RESERVED_FILES {
        open_files - RESERVED_FILES
    } else {
        open_files / 2
    };
    usize::try_from(cap.max(1)).unwrap_or(usize::MAX)
}

/// How long the accept loop pauses after an accept that failed for want of
/// resources, rather than failing again at once.
const ACCEPT_PAUSE: Duration = Duration::from_millis(250);

/// The longest a connection's watchdog sleeps between looks.
const WATCH_TICK: Duration = Duration::from_secs(1);

/// Accepts connections until `stop` is cancelled, each served in a task of
/// `connections`. A connection task, once `stop` is cancelled, lets its
/// request in flight finish and closes; once `abort` is, it closes at once.
pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Limits,
    stop: CancellationToken,
    abort: CancellationToken,
    connections: TaskTracker,
) {
    let local = listener.local_addr().ok();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut last_complaint: Option<Instant> = None;
    loop {
        // A slot first: past the cap, nothing is accepted.
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (socket, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                if last_complaint.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "cannot accept connections; pausing");
                    last_complaint = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let endpoint = endpoint.clone();
        let (stop, abort) = (stop.clone(), abort.clone());
        connections.spawn(async move {
            serve_connection(socket, local, remote, endpoint, limits, stop, abort).await;
            drop(permit);
        });
    }
}

/// A failure of one incoming connection, not of the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection(
    socket: tokio::net::TcpStream,
    local: Option<SocketAddr>,
    remote: SocketAddr,
    endpoint: Arc<BoxEndpoint<'static>>,
    limits: Limits,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: socket,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |req: hyper::Request<Incoming>| {
            let endpoint = endpoint.clone();
            let busy = activity.begin_request(req.body().is_end_stream());
            let read_to_end = activity.clone();
            async move {
                let local = LocalAddr(local.map_or(Addr::Custom("tcp", "unknown".into()), Addr::SocketAddr));
                let mut req = poem::Request::from((req, local, RemoteAddr(Addr::SocketAddr(remote)), Scheme::HTTP));
                // Once the body is read to its end, what the socket gives is
                // the next request's head.
                let body = req.take_body().into_bytes_stream().chain(
                    futures_util::stream::once(async move {
                        read_to_end.body_read();
                        None
                    })
                    .filter_map(std::future::ready),
                );
                req.set_body(Body::from_bytes_stream(body));
                let response = endpoint.get_response(req).await;
                drop(busy);
                Ok::<_, Infallible>(hyper::Response::from(response))
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut overstayed = pin!(activity.overstay(limits));
    tokio::select! {
        _ = conn.as_mut() => return,
        () = overstayed.as_mut() => return,
        () = abort.cancelled() => return,
        () = stop.cancelled() => {}
    }
    // Stopping: what is in flight finishes, an idle connection closes.
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        () = overstayed.as_mut() => {}
        () = abort.cancelled() => {}
    }
}

/// What a connection has been doing, for its watchdog. Times are
/// milliseconds since the connection opened.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Requests answered so far.
    answered: AtomicU64,
    /// When it began to wait for a request: its opening, or the last
    /// response, or the last byte written of it.
    waiting_since: AtomicU64,
    /// When the first byte of the awaited request arrived, plus one; 0 for
    /// none yet.
    head_since: AtomicU64,
    /// Whether the request in flight has had its body read to the end.
    body_done: std::sync::atomic::AtomicBool,
    /// When the first byte after the in-flight request's body arrived (a
    /// pipelined request's head), plus one; 0 for none.
    pipelined_since: AtomicU64,
}

/// A request in flight; dropping it marks it answered.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.answered.fetch_add(1, Ordering::AcqRel);
        // A pipelined head that began meanwhile owes its bytes from its first.
        let pipelined = activity.pipelined_since.swap(0, Ordering::AcqRel);
        activity.head_since.store(pipelined, Ordering::Release);
        activity.waiting_since.store(activity.now(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            answered: AtomicU64::new(0),
            waiting_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            body_done: std::sync::atomic::AtomicBool::new(false),
            pipelined_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn begin_request(self: &Arc<Self>, no_body: bool) -> Busy {
        self.body_done.store(no_body, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    fn body_read(&self) {
        self.body_done.store(true, Ordering::Release);
    }

    fn read(&self) {
        let since = if self.in_flight.load(Ordering::Acquire) == 0 {
            &self.head_since
        } else if self.body_done.load(Ordering::Acquire) {
            &self.pipelined_since
        } else {
            return;
        };
        let _ = since.compare_exchange(0, self.now() + 1, Ordering::AcqRel, Ordering::Acquire);
    }

    fn wrote(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            self.waiting_since.store(self.now(), Ordering::Release);
        }
    }

    /// The moment past which the connection has overstayed, if one applies
    /// now: none while a request is in flight.
    fn deadline(&self, limits: Limits) -> Option<u64> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let head_since = self.head_since.load(Ordering::Acquire);
        let waiting_since = self.waiting_since.load(Ordering::Acquire);
        Some(if head_since > 0 {
            (head_since - 1).saturating_add(ms(limits.header_timeout))
        } else if self.answered.load(Ordering::Acquire) == 0 {
            // A new connection owes its first request at once.
            waiting_since.saturating_add(ms(limits.header_timeout))
        } else {
            waiting_since.saturating_add(ms(limits.idle_timeout))
        })
    }

    /// Completes once the connection overstays: a request's head that took
    /// longer than the header timeout, or an idle spell longer than the
    /// idle timeout.
    async fn overstay(&self, limits: Limits) {
        loop {
            let now = self.now();
            let pause = match self.deadline(limits) {
                Some(deadline) if deadline <= now => return,
                Some(deadline) => Duration::from_millis(deadline - now).min(WATCH_TICK),
                None => WATCH_TICK,
            };
            tokio::time::sleep(pause).await;
        }
    }
}

/// The connection's socket, telling its `Activity` of what passes.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `body` as a route reads it: all of it within `limit` of the first read,
/// else an error (the route answers 400). Nothing is read before the route
/// asks.
pub fn deadline_body(body: Body, limit: Duration) -> Body {
    let chunks = Box::pin(body.into_bytes_stream());
    let state = (chunks, None::<tokio::time::Instant>, false);
    Body::from_bytes_stream(futures_util::stream::unfold(
        state,
        move |(mut chunks, deadline, ended)| async move {
            if ended {
                return None;
            }
            let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + limit);
            match tokio::time::timeout_at(deadline, chunks.next()).await {
                Ok(Some(chunk)) => Some((chunk, (chunks, Some(deadline), false))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the body did not arrive in time",
                    )),
                    (chunks, Some(deadline), true),
                )),
            }
        },
    ))
}

#[cfg(test)]
mod tests;
