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
//! The plain listener stays on `axum::serve` (the benchmarked path); this loop reproduces what
//! it does per connection: TCP_NODELAY, the client's address as `ConnectInfo<SocketAddr>`
//! (rate limits and logs read it), h2 extended CONNECT, and hyper's graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::{Listener, ListenerExt};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::Acceptor;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The answer to plain HTTP on the TLS port.
const PLAIN_HTTP_BODY: &str = "this port serves HTTPS: use an https:// URL (TLS)\n";

/// How much of a plain-HTTP request is read (and discarded) before the connection closes.
const PLAIN_HTTP_DRAIN: usize = 64 * 1024;

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then stops accepting and
/// drains in-flight requests and streams for at most `grace`; whatever is still open then is
/// closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    acceptor: Acceptor,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    let mut listener = listener.tap_io(|tcp| {
        // Small request/response exchanges: send each write at once.
        let _ = tcp.set_nodelay(true);
    });
    let stop = CancellationToken::new();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // axum's `Listener` retries failed accepts (and backs off on EMFILE).
            (tcp, peer) = Listener::accept(&mut listener) => {
                connections.spawn(connection(tcp, peer, acceptor.clone(), app.clone(), stop.clone()));
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

/// One connection: the handshake (bounded, abandoned on shutdown), then HTTP until the client
/// is done or shutdown asks it to finish.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: Acceptor,
    app: Router,
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
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        // What `into_make_service_with_connect_info` gives the plain listener's requests.
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
    let result = tokio::select! {
        result = conn.as_mut() => result,
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
