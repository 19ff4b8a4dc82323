//! OpenAI's REST API (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`) as MLflow's
//! gateway serves it (spec §2.6): the body is the unified schema, `model` names the endpoint or
//! traffic route, and answers are MLflow's shapes (which the OpenAI SDKs accept). An unknown
//! `model` is a 404 and a missing one a 400, both JSON (MLflow answers 500 text/plain).

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{RestState, codec, error_response, json_bytes, read_body, sse_response};
use crate::auth::Access;
use crate::error::GatewayError;
use crate::service::CallOptions;

route_table! {
    /// The OpenAI routes.
    pub fn routes() {
        POST "/v1/chat/completions" => chat,
        POST "/v1/completions" => completions,
        POST "/v1/embeddings" => embeddings,
    }
}

/// Whether `path` is one of this module's routes.
pub fn is_route(path: &str) -> bool {
    ROUTES.iter().any(|(_, route)| *route == path)
}

fn endpoint_name(model: Option<String>) -> Result<String, GatewayError> {
    match model {
        Some(m) if !m.is_empty() => Ok(m),
        _ => Err(GatewayError::BadRequest(
            "The 'model' field is required: it names the endpoint or route to call.".into(),
        )),
    }
}

async fn chat(State(st): State<RestState>, access: Access, body: Body) -> Response {
    let opts = CallOptions {
        access,
        ..CallOptions::default()
    };
    let run = async {
        let bytes = read_body(body, st.body_limit).await?;
        let parsed = codec::parse_chat(&bytes)?;
        let mut req = parsed.request;
        req.endpoint = endpoint_name(parsed.model)?;
        if parsed.stream {
            let stream = st.gateway.stream_chat(req, opts).await?;
            Ok::<_, GatewayError>(sse_response(stream, codec::chat_chunk))
        } else {
            let resp = st.gateway.chat(req, opts).await?;
            Ok(json_bytes(StatusCode::OK, codec::chat_response(&resp)))
        }
    };
    run.await.unwrap_or_else(|e| error_response(&e))
}

async fn completions(State(st): State<RestState>, access: Access, body: Body) -> Response {
    let opts = CallOptions {
        access,
        ..CallOptions::default()
    };
    let run = async {
        let bytes = read_body(body, st.body_limit).await?;
        let parsed = codec::parse_completion(&bytes)?;
        let mut req = parsed.request;
        req.endpoint = endpoint_name(parsed.model)?;
        if parsed.stream {
            let stream = st.gateway.stream_complete(req, opts).await?;
            Ok::<_, GatewayError>(sse_response(stream, codec::completion_chunk))
        } else {
            let resp = st.gateway.complete(req, opts).await?;
            Ok(json_bytes(
                StatusCode::OK,
                codec::completion_response(&resp),
            ))
        }
    };
    run.await.unwrap_or_else(|e| error_response(&e))
}

async fn embeddings(State(st): State<RestState>, access: Access, body: Body) -> Response {
    let opts = CallOptions {
        access,
        ..CallOptions::default()
    };
    let run = async {
        let bytes = read_body(body, st.body_limit).await?;
        let parsed = codec::parse_embed(&bytes)?;
        let mut req = parsed.request;
        req.endpoint = endpoint_name(parsed.model)?;
        let resp = st.gateway.embed(req, opts).await?;
        Ok::<_, GatewayError>(json_bytes(StatusCode::OK, codec::embed_response(&resp)))
    };
    run.await.unwrap_or_else(|e| error_response(&e))
}
