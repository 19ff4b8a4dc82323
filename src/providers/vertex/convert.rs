//! Pure rules of the Vertex AI provider (spec §3.6): which model family a name belongs to, the
//! regional host, the per-family URLs, and the two body adjustments Vertex needs on top of the
//! Gemini / Anthropic / OpenAI conversions it reuses: Gemini bodies lose their function-call ids
//! (see `wire::VertexGenerateBody`), Anthropic bodies lose `model` (Vertex carries it in the URL
//! and refuses it in the body) and gain `anthropic_version: vertex-2023-10-16`.

use crate::error::GatewayError;
use crate::providers::anthropic::wire as anthropic;
use crate::providers::gemini::wire as gemini;
use crate::providers::http::{append_path, encode_json};

use super::wire::VertexGenerateBody;

/// The Messages API version Vertex requires in every Anthropic body.
pub const ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// How Vertex serves a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Google's Gemini models: `publishers/google/models/{m}:generateContent`.
    Gemini,
    /// Anthropic's Claude models: `publishers/anthropic/models/{m}:rawPredict`.
    Claude,
    /// Model-as-a-service partner models (Llama, Mistral, ...): the OpenAI-compatible endpoint.
    Maas,
}

/// MLflow's classification: `claude*` is Claude; names with a `/`, starting with
/// mistral/codestral/jamba, or ending in `-maas` are MaaS; everything else is Gemini. (The
/// config applies the same rule to pick the default location.)
pub fn family(model: &str) -> Family {
    let name = model.to_lowercase();
    if name.starts_with("claude") {
        Family::Claude
    } else if name.contains('/')
        || ["mistral", "codestral", "jamba"]
            .iter()
            .any(|p| name.starts_with(p))
        || name.ends_with("-maas")
    {
        Family::Maas
    } else {
        Family::Gemini
    }
}

/// The API host of a location: the global endpoint, a multi-region (`eu`, `us`) or a region.
pub fn host(location: &str) -> String {
    match location {
        "global" => "https://aiplatform.googleapis.com".to_owned(),
        "eu" | "us" => format!("https://aiplatform.{location}.rep.googleapis.com"),
        region => format!("https://{region}-aiplatform.googleapis.com"),
    }
}

/// The URLs one endpoint calls, fixed when it is built.
#[derive(Debug)]
pub struct Urls {
    /// Non-streaming call (`:generateContent`, `:rawPredict`, or `/chat/completions`).
    pub call: reqwest::Url,
    /// Streaming call (`:streamGenerateContent?alt=sse`, `:streamRawPredict`, or the same
    /// `/chat/completions` with `stream: true` in the body).
    pub stream: reqwest::Url,
    /// `:embedContent` and `:batchEmbedContents` (Gemini models only).
    pub embed: Option<(reqwest::Url, reqwest::Url)>,
}

/// The URLs for `model` in `project`/`location`, under `api_base` (our override of the host)
/// or the location's host.
pub fn urls(
    family: Family,
    api_base: Option<&str>,
    project: &str,
    location: &str,
    model: &str,
) -> Result<Urls, String> {
    let root = api_base.map_or_else(|| host(location), |b| b.trim_end_matches('/').to_owned());
    let scope = append_path(
        &root,
        &format!("v1/projects/{project}/locations/{location}"),
    );
    let parse = |text: String| {
        reqwest::Url::parse(&text)
            .map_err(|e| format!("the Vertex AI URL '{text}' is not a valid URL: {e}"))
    };
    let method = |publisher: &str, method: &str| {
        parse(format!(
            "{scope}/publishers/{publisher}/models/{model}:{method}"
        ))
    };
    Ok(match family {
        Family::Gemini => Urls {
            call: method("google", "generateContent")?,
            stream: method("google", "streamGenerateContent?alt=sse")?,
            embed: Some((
                method("google", "embedContent")?,
                method("google", "batchEmbedContents")?,
            )),
        },
        Family::Claude => Urls {
            call: method("anthropic", "rawPredict")?,
            stream: method("anthropic", "streamRawPredict")?,
            embed: None,
        },
        Family::Maas => {
            let chat = parse(format!("{scope}/endpoints/openapi/chat/completions"))?;
            Urls {
                call: chat.clone(),
                stream: chat,
                embed: None,
            }
        }
    })
}

/// MLflow's answer to a completions call on a Claude or MaaS model.
pub fn completions_unsupported(model: &str) -> GatewayError {
    GatewayError::NotImplemented(format!(
        "The completions endpoint is not supported for {model} on Vertex AI. Use the chat endpoint instead."
    ))
}

/// A Gemini body as Vertex takes it (no function-call ids).
pub fn gemini_body(body: &gemini::GenerateBody<'_>) -> Result<Vec<u8>, GatewayError> {
    encode_json(&VertexGenerateBody(body))
}

/// An Anthropic Messages body as Vertex takes it: without `model`, with `anthropic_version`
/// (last, where MLflow puts it). `model` is always the first key the Anthropic body writes, so
/// the bytes are edited in place rather than round-tripped through a JSON tree; should that
/// layout ever change, the tree route below keeps the result right.
pub fn claude_body(body: &anthropic::MessagesBody<'_>) -> Result<Vec<u8>, GatewayError> {
    let bytes = encode_json(body)?;
    let prefix = format!("{{\"model\":{},", serde_json::Value::from(body.model));
    if let Some(rest) = bytes.strip_prefix(prefix.as_bytes())
        && rest.ends_with(b"}")
    {
        let mut out = Vec::with_capacity(bytes.len() + 40);
        out.push(b'{');
        out.extend_from_slice(&rest[..rest.len() - 1]);
        out.extend_from_slice(b",\"anthropic_version\":\"");
        out.extend_from_slice(ANTHROPIC_VERSION.as_bytes());
        out.extend_from_slice(b"\"}");
        return Ok(out);
    }
    let mut tree: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| GatewayError::Internal(format!("could not re-encode the body: {e}")))?;
    tree.remove("model");
    tree.insert("anthropic_version".into(), ANTHROPIC_VERSION.into());
    encode_json(&tree)
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
