//! The TLS accept loop: the same application as [`crate::server::serve`] serves, behind a
//! rustls handshake, with HTTP/1.1 and HTTP/2 on one port (the client's ALPN choice; hyper's
//! auto builder serves whichever the client speaks) and the same shutdown: on the signal the
//! listener closes, requests and streams in flight may finish for the grace period, and what
//! is still open then is closed.
//!
//! Each connection is its own task in a [`JoinSet`] (owned, so the drain can wait for them and
//! abort the rest). The handshake is bounded by the acceptor's timeout: a client that connects
//! and says nothing, or stalls half way, loses its connection instead of holding a task
//! forever, and a failed handshake ends only its own connection. A client that speaks plain
//! HTTP to the port gets a readable 400 instead of a TLS alert it cannot decode.
//!
//! The accept loop, the drain and the HTTP side of each connection are the plain listener's
//! ([`crate::guard::conn`]): TCP_NODELAY, the client's address as `ConnectInfo<SocketAddr>`
//! (rate limits and logs read it), the same connection limits, and hyper's graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use super::Acceptor;
use crate::guard::ConnectionLimits;
use crate::guard::conn::{accept_loop, serve_connection};

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The answer to plain HTTP on the TLS port.
const PLAIN_HTTP_BODY: &str = "this port serves HTTPS: use an https:// URL (TLS)\n";

/// How much of a plain-HTTP request is read (and discarded) before the connection closes.
const PLAIN_HTTP_DRAIN: usize = 64 * 1024;

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then stops accepting and
/// drains in-flight requests and streams for at most `grace`; whatever is still open then is
/// closed. Connections get the default [`ConnectionLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    acceptor: Acceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let limits = ConnectionLimits::default();
    serve_with_limits(listener, app, acceptor, shutdown, grace, &limits).await
}

/// [`serve`] with these connection limits.
pub async fn serve_with_limits(
    listener: tokio::net::TcpListener,
    app: Router,
    acceptor: Acceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: &ConnectionLimits,
) -> io::Result<()> {
    let builder = Arc::new(limits.builder());
    let idle = limits.idle_timeout;
    accept_loop(listener, shutdown, grace, move |tcp, peer, stop| {
        connection(
            tcp,
            peer,
            acceptor.clone(),
            app.clone(),
            builder.clone(),
            idle,
            stop,
        )
    })
    .await
}

/// One connection: the handshake (bounded, abandoned on shutdown), then HTTP until the client
/// is done or shutdown asks it to finish.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Acceptor,
    app: Router,
    builder: Arc<Builder<TokioExecutor>>,
    idle: Duration,
    stop: CancellationToken,
) {
    let handshake = tokio::time::timeout(
        acceptor.handshake_timeout,
        handshake(tcp, peer, &acceptor.tls),
    );
    let stream = tokio::select! {
        // A connection still in its handshake has no request in flight: nothing to drain.
        () = stop.cancelled() => return,
        outcome = handshake => match outcome {
            Ok(Ok(Some(stream))) => stream,
            Ok(Ok(None)) => return,
            // Scanners and misconfigured clients: worth a debug line, not a warning.
            Ok(Err(e)) => {
                tracing::debug!("{peer}: TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!(
                    "{peer}: no TLS handshake within {:.1}s; connection closed",
                    acceptor.handshake_timeout.as_secs_f64()
                );
                return;
            }
        },
    };
    serve_connection(stream, peer, app, &builder, idle, stop).await;
}

/// The TLS handshake; `None` when the client spoke plain HTTP and was answered with a 400.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: &tokio_rustls::TlsAcceptor,
) -> io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before the handshake",
        ));
    }
    // Every HTTP/1 method, and the h2c preface ("PRI"), starts with an upper-case letter.
    if first[0] != TLS_HANDSHAKE_RECORD && first[0].is_ascii_uppercase() {
        tracing::debug!("{peer}: plain HTTP on the TLS port; answered 400");
        refuse_plain_http(tcp).await?;
        return Ok(None);
    }
    tls.accept(tcp).await.map(Some)
}

/// Answers a plain-HTTP request with a 400 that says to use https://, then closes.
async fn refuse_plain_http(mut tcp: TcpStream) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PLAIN_HTTP_BODY}",
        PLAIN_HTTP_BODY.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await?;
    // Closing with the request still unread would reset the connection, and the client could
    // lose the response: read until the client closes (bounded by the handshake timeout).
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < PLAIN_HTTP_DRAIN {
        match tcp.read(&mut sink).await? {
            0 => break,
            n => drained += n,
        }
    }
    Ok(())
}
