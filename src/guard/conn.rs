//! Connection-level limits, and the per-connection driver the plain ([`crate::server::serve`])
//! and TLS ([`crate::tls::serve`]) listeners share.
//!
//! [`ConnectionLimits::builder`] is the one configuration of hyper's server:
//!
//! - HTTP/1.1: request headers (request line included) past `max_header_bytes` are answered
//!   `431 Request Header Fields Too Large` by hyper, which then closes the connection (the
//!   limit is hyper's read buffer, so a request head cannot grow past it); more than 100
//!   header fields, the same. The head must arrive within `header_read_timeout`; hyper starts
//!   that clock when the connection is ready for a request (accepted, or its previous response
//!   sent), so a slowloris client (a byte at a time) and a connection that sends nothing are
//!   closed when it runs out, without an answer.
//! - HTTP/2: at most `h2_max_concurrent_streams` streams at once per connection (the client is
//!   told in SETTINGS; a stream past it is refused with `REFUSED_STREAM`); header lists up to
//!   `max_header_bytes` (SETTINGS_MAX_HEADER_LIST_SIZE; a larger one gets `431` and the stream
//!   is reset); frames up to 16 KiB (the protocol's minimum maximum); a keep-alive PING every
//!   `h2_keep_alive_interval`, the connection closed when one goes unanswered for 20 s. hyper's
//!   defaults bound rapid resets (CVE-2023-44487) and pending resets.
//! - Both: a connection without a request in flight for `idle_timeout` (one that never opens a
//!   stream or sends a request, or idles between them) is closed: for HTTP/2 with GOAWAY.
//!
//! [`serve_connection`] runs one connection with those limits until it ends, or until the
//! drain asks it to finish (HTTP/1.1: after the response in flight; HTTP/2: GOAWAY, open
//! streams finish). Each request carries the client's address as `ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Default limit on request headers: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Default time a client has to send a request's headers: 30 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a connection may stay open without a request in flight: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on concurrent HTTP/2 streams per connection.
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 256;
/// Default interval of HTTP/2 keep-alive PINGs.
pub const DEFAULT_H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How long an unanswered keep-alive PING keeps an HTTP/2 connection open.
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest HTTP/2 frame the server accepts: the protocol's initial value.
const H2_MAX_FRAME_SIZE: u32 = 16 * 1024;
/// hyper's smallest allowed read buffer.
const MIN_BUF: usize = 8 * 1024;
/// After an idle connection is asked to close (GOAWAY), how long it may take.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The connection-level limits (see the module docs); `Default` is the documented defaults.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Largest request head (HTTP/1.1) or header list (HTTP/2), in bytes.
    pub max_header_bytes: usize,
    /// HTTP/1.1: time from a connection being ready for a request to its headers' end.
    pub header_read_timeout: Duration,
    /// Time a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// HTTP/2 streams open at once per connection.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive PING interval; `None`: no pings.
    pub h2_keep_alive_interval: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            h2_keep_alive_interval: Some(DEFAULT_H2_KEEP_ALIVE_INTERVAL),
        }
    }
}

impl ConnectionLimits {
    /// hyper's HTTP/1.1 + HTTP/2 server configured with these limits.
    pub fn builder(&self) -> Builder<TokioExecutor> {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            // hyper answers 431 when a request head fills the read buffer.
            .max_buf_size(self.max_header_bytes.max(MIN_BUF));
        builder
            .http2()
            .timer(TokioTimer::new())
            .enable_connect_protocol()
            .max_concurrent_streams(self.h2_max_concurrent_streams)
            .max_frame_size(H2_MAX_FRAME_SIZE)
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(self.h2_keep_alive_interval)
            .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
        builder
    }
}

/// Serves `app` on one accepted connection with `builder` (from [`ConnectionLimits::builder`])
/// until the connection ends, is idle for `idle_timeout`, or `stop` asks it to finish.
pub async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builder: &Builder<TokioExecutor>,
    idle_timeout: Duration,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let tracked = activity.clone();
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        // What `into_make_service_with_connect_info` gives axum's requests.
        req.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::new(tracked.clone());
        let answer = app.clone().oneshot(req);
        async move {
            let resp = answer.await?;
            Ok::<_, std::convert::Infallible>(resp.map(|inner| Tracked { inner, busy }))
        }
    });
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = activity.idle(idle_timeout) => {
            tracing::debug!(
                "{peer}: no request for {:.1}s; connection closed",
                idle_timeout.as_secs_f64()
            );
            // HTTP/1.1: closes at once (nothing in flight); HTTP/2: GOAWAY first.
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(IDLE_CLOSE_GRACE, conn.as_mut()).await {
                Ok(result) => result,
                Err(_) => Ok(()),
            }
        }
        () = stop.cancelled() => {
            // h1: close after the response in flight; h2: GOAWAY, open streams finish.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::trace!("{peer}: connection ended: {e}");
    }
}

/// Accepts connections on `listener` (TCP_NODELAY on each) and runs `connection` for each as
/// a task of its own until `shutdown` resolves; then stops accepting, lets the connections
/// drain (their `CancellationToken` is cancelled) for at most `grace`, and closes whatever is
/// still open.
pub async fn accept_loop<F, Fut>(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
    mut connection: F,
) -> std::io::Result<()>
where
    F: FnMut(tokio::net::TcpStream, SocketAddr, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use axum::serve::{Listener, ListenerExt};
    let mut listener = listener.tap_io(|tcp| {
        // Small request/response exchanges: send each write at once.
        let _ = tcp.set_nodelay(true);
    });
    let stop = CancellationToken::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            // The shutdown future first, so it is polled (and its signal handlers installed)
            // before the first connection is taken, and wins over a flood of accepts.
            biased;
            () = &mut shutdown => break,
            // axum's `Listener` retries failed accepts (and backs off on EMFILE).
            (tcp, peer) = Listener::accept(&mut listener) => {
                connections.spawn(connection(tcp, peer, stop.clone()));
            }
            // Reap finished connections as they end, so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    stop.cancel();
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "shutdown: requests still in flight after {:.1}s; closing them",
            grace.as_secs_f64()
        );
        connections.abort_all();
    }
    Ok(())
}

/// One connection's requests in flight, and when the last one ended.
#[derive(Debug)]
struct Activity {
    epoch: Instant,
    open: AtomicUsize,
    /// Milliseconds from `epoch` to the end of the last request (0: none yet).
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            epoch: Instant::now(),
            open: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    /// Resolves once the connection has had no request in flight for `timeout`.
    async fn idle(&self, timeout: Duration) {
        let mut deadline = self.epoch.checked_add(timeout);
        while let Some(at) = deadline {
            tokio::time::sleep_until(at).await;
            if self.open.load(Ordering::Acquire) > 0 {
                // Busy: look again a whole period later (the end of the request in flight
                // moves the deadline on anyway).
                deadline = Instant::now().checked_add(timeout);
                continue;
            }
            let since =
                self.epoch + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            match since.checked_add(timeout) {
                Some(due) if due <= Instant::now() => return,
                due => deadline = due,
            }
        }
        // A timeout too large to represent: never idle.
        std::future::pending::<()>().await;
    }
}

/// A request of the connection in flight, until dropped with its response body.
#[derive(Debug)]
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Busy {
        activity.open.fetch_add(1, Ordering::AcqRel);
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted on the connection until it is dropped.
struct Tracked<B> {
    inner: B,
    #[allow(dead_code)] // held for its `Drop`
    busy: Busy,
}

impl<B> http_body::Body for Tracked<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
