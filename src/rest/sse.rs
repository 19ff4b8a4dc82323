//! Server-sent events for the REST facades, framed as MLflow and OpenAI frame them: each chunk
//! is `data: <compact JSON>\n\n`, and a complete stream ends with `data: [DONE]\n\n`.
//!
//! A failure after the stream has started (the 200 is already sent) ends it with one explicit
//! error event, `data: {"error":{...}}`, and no `[DONE]`, so a client can tell a cut stream from
//! a finished one (MLflow's gateway just aborts the body). The body is produced lazily from the
//! upstream stream: nothing is buffered, and dropping the response (a client that went away)
//! drops the upstream request with it.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;

use crate::error::{GatewayError, Origin};
use crate::providers::ChunkStream;

const DONE: &[u8] = b"data: [DONE]\n\n";

fn frame(json: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(json.len() + 8);
    buf.put_slice(b"data: ");
    buf.put_slice(json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// The terminal error event of a stream that failed after it started.
pub fn error_event(e: &GatewayError) -> Bytes {
    let kind = match e.origin() {
        Origin::Client => "invalid_request_error",
        Origin::Upstream => "upstream_error",
        Origin::Gateway => "gateway_error",
    };
    let body = serde_json::json!({
        "error": {"message": e.to_string(), "type": kind, "code": e.http_status()}
    });
    frame(body.to_string().as_bytes())
}

/// A 200 `text/event-stream` response relaying `stream`, each item rendered by `render`.
pub fn sse_response<T, F>(stream: ChunkStream<T>, render: F) -> Response
where
    T: Send + 'static,
    F: Fn(&T) -> Vec<u8> + Send + Sync + 'static,
{
    let render = std::sync::Arc::new(render);
    let body = futures::stream::unfold((stream, false), move |(mut stream, finished)| {
        let render = render.clone();
        async move {
            if finished {
                return None;
            }
            let bytes = match stream.next().await {
                Some(Ok(item)) => return Some((Ok(frame(&render(&item))), (stream, false))),
                Some(Err(e)) => error_event(&e),
                None => Bytes::from_static(DONE),
            };
            Some((Ok::<_, std::convert::Infallible>(bytes), (stream, true)))
        }
    });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
