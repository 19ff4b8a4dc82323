//! Upstream HTTP mechanics every HTTP provider shares: the one pooled client, sending a JSON
//! request with the endpoint's timeout, turning upstream failures into [`GatewayError`]s the way
//! MLflow's gateway shapes them (spec §2.7, improved per design.md §4), and reading an SSE
//! response as a stream of decoded JSON events.
//!
//! Upstream error bodies pass through [`Redactor`] before they can reach a client or a log line,
//! so an upstream that echoes the key it received cannot leak it.

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Secret;
use crate::error::GatewayError;

/// Chooses ring as the process-wide rustls crypto provider (reqwest is built without a default
/// one, which keeps aws-lc's long C build out). Idempotent.
pub fn install_crypto_provider() {
    // It fails only when a provider is installed already, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the shared client: keep-alive pools to every upstream, rustls (ring) for TLS, no
/// redirects (MLflow does not follow them either), no whole-request timeout (each call sets its own).
pub fn build_client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("llm-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Every secret of every config this process has loaded (all endpoints' credentials), which
/// every [`Redactor`] applies on top of its own: an upstream error that echoes *another*
/// endpoint's key (a shared proxy, a misrouted call) is scrubbed too. Only grows (a reload that
/// rotates a key keeps redacting the old one); only error paths read it.
static CONFIGURED: std::sync::RwLock<Vec<Secret>> = std::sync::RwLock::new(Vec::new());

/// Adds `secrets` to the process-wide set every [`Redactor`] applies (the gateway calls this
/// for each config it loads). Values too short to redact safely are skipped.
pub fn register_secrets(secrets: impl IntoIterator<Item = Secret>) {
    let mut all = CONFIGURED
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for s in secrets {
        if s.expose().trim().len() >= 4 && !all.contains(&s) {
            all.push(s);
        }
    }
    all.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
}

fn replace_secret(out: &mut String, s: &Secret) {
    for form in [s.expose(), s.expose().trim()] {
        if !form.is_empty() && out.contains(form) {
            *out = out.replace(form, "[redacted]");
        }
    }
}

/// Replaces every configured secret in upstream-provided text with `[redacted]`: its own
/// (the endpoint's credentials and those of the request) and every one registered with
/// [`register_secrets`].
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        // Longest first, so a secret that contains another is replaced whole. Very short values
        // are skipped: redacting "a" would destroy every message without protecting anything.
        let mut secrets: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| s.expose().trim().len() >= 4)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        Redactor { secrets }
    }

    /// This redactor plus every header value `request` marks sensitive, and the credential after
    /// an auth scheme (`Bearer <token>`): credentials minted at run time (OAuth access tokens,
    /// assumed-role session tokens) are protected like configured ones.
    pub fn for_request(&self, request: &reqwest::Request) -> Redactor {
        let mut secrets = self.secrets.clone();
        for value in request.headers().values().filter(|v| v.is_sensitive()) {
            if let Ok(text) = value.to_str() {
                secrets.push(Secret::new(text));
                if let Some((_, credential)) = text.split_once(' ') {
                    secrets.push(Secret::new(credential));
                }
            }
        }
        Redactor::new(secrets)
    }

    /// `text` with every secret replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            replace_secret(&mut out, s);
        }
        let all = CONFIGURED
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for s in all.iter() {
            replace_secret(&mut out, s);
        }
        out
    }

    /// `value` with every secret replaced in every string it contains.
    pub fn value(&self, value: Value) -> Value {
        let none_registered = CONFIGURED.read().is_ok_and(|all| all.is_empty());
        if self.secrets.is_empty() && none_registered {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(o) => Value::Object(
                o.into_iter()
                    .map(|(k, v)| (self.text(&k), self.value(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// Sends a prepared request, mapping transport failures. With tracing on, the request is an
/// upstream span and carries its `traceparent` (see [`crate::otel::upstream`]), and the
/// request's `x-request-id`.
pub async fn send(
    client: &reqwest::Client,
    mut request: reqwest::Request,
    timeout: Duration,
) -> Result<reqwest::Response, GatewayError> {
    // The client's request id goes upstream too (unless the provider set its own), so the
    // gateway's logs and the provider's can be matched. Added after any request signing:
    // SigV4 covers only the headers it lists.
    crate::telemetry::with_call(|record| {
        request
            .headers_mut()
            .entry(crate::telemetry::request_id::HEADER)
            .or_insert_with(|| record.request_id_header().clone());
    });
    let span = crate::otel::upstream::start(&mut request);
    let result = client
        .execute(request)
        .await
        .map_err(|e| transport_error(&e, timeout));
    if let Some(span) = span {
        span.finish(&result);
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Building requests (once per endpoint, at start)

/// Appends `path` to the path of `base`, keeping its query string (MLflow's `append_to_uri_path`).
pub fn append_path(base: &str, path: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let mut url = format!(
        "{}/{}",
        head.trim_end_matches('/'),
        path.trim_start_matches('/')
    );
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// The parsed URL of `path` under `base`; an unusable base is a start-up error.
pub fn endpoint_url(base: &str, path: &str) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(&append_path(base, path))
        .map_err(|e| format!("the base URL '{base}' is not a valid URL: {e}"))
}

/// Headers every JSON call carries.
pub fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

/// Adds `name: {prefix}{secret}`, marked sensitive (kept out of HTTP/2 header compression
/// tables and out of Debug output). Key files are read whole, as MLflow reads them; a trailing
/// line break, which no header can carry, is dropped rather than failing every request.
pub fn insert_secret(
    headers: &mut HeaderMap,
    name: &'static str,
    prefix: &str,
    secret: &Secret,
) -> Result<(), String> {
    let key = secret.expose().trim_end_matches(['\r', '\n']);
    let mut value = HeaderValue::from_str(&format!("{prefix}{key}")).map_err(|_| {
        format!("the value configured for the '{name}' header contains characters not allowed in an HTTP header (a stray newline in a key file?)")
    })?;
    value.set_sensitive(true);
    headers.insert(http::HeaderName::from_static(name), value);
    Ok(())
}

/// Adds a plain (non-secret) header.
pub fn insert_plain(
    headers: &mut HeaderMap,
    name: &'static str,
    value: &str,
) -> Result<(), String> {
    let v = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of the '{name}' header is not a valid header value"))?;
    headers.insert(http::HeaderName::from_static(name), v);
    Ok(())
}

/// JSON headers plus `Authorization: Bearer KEY`.
pub fn bearer_json_headers(key: &Secret) -> Result<HeaderMap, String> {
    let mut headers = json_headers();
    insert_secret(&mut headers, "authorization", "Bearer ", key)?;
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// Sending

/// Serialises an upstream request body. Most bodies fit in the initial buffer, which avoids
/// regrowing (and copying) it several times per request.
pub fn encode_json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, GatewayError> {
    let mut out = Vec::with_capacity(512);
    serde_json::to_writer(&mut out, body).map_err(|e| {
        GatewayError::Internal(format!("could not encode the upstream request: {e}"))
    })?;
    Ok(out)
}

/// A JSON POST to a pre-parsed URL with prepared headers (which must include the content
/// type) and the call's timeout: nothing is parsed or merged per request.
pub fn json_post(
    url: &reqwest::Url,
    headers: &HeaderMap,
    body: Vec<u8>,
    timeout: Duration,
) -> reqwest::Request {
    let mut request = reqwest::Request::new(reqwest::Method::POST, url.clone());
    *request.headers_mut() = headers.clone();
    *request.body_mut() = Some(body.into());
    *request.timeout_mut() = Some(timeout);
    request
}

/// A reqwest failure as a gateway error: timeouts are 504, everything else 502. The message never
/// includes the URL (which may carry a key in its query for some providers).
pub fn transport_error(e: &reqwest::Error, timeout: Duration) -> GatewayError {
    if e.is_timeout() && e.is_connect() {
        GatewayError::UpstreamTimeout("Timed out connecting to the upstream provider.".into())
    } else if e.is_timeout() {
        GatewayError::UpstreamTimeout(format!(
            "The upstream provider did not respond within {} seconds.",
            timeout.as_secs_f64()
        ))
    } else if e.is_connect() {
        GatewayError::UpstreamUnreachable(
            "Could not connect to the upstream provider (connection refused or failed).".into(),
        )
    } else if e.is_decode() || e.is_body() {
        GatewayError::UpstreamBadResponse(
            "The upstream provider's response body was cut off or could not be read.".into(),
        )
    } else {
        GatewayError::UpstreamUnreachable(
            "The connection to the upstream provider failed before a complete response arrived."
                .into(),
        )
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads a whole (non-streaming) response: MLflow's content-type check first (anything but JSON
/// or text is a 502), then the status (an error status passes through with MLflow's `detail`),
/// then the body as `T`.
pub async fn read_json<T: DeserializeOwned>(
    response: reqwest::Response,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<T, GatewayError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(&e, timeout))?;
    decode_body(status.as_u16(), &headers, &body, redactor)
}

/// The decision of [`read_json`] on an already-read body (pure, for tests and for stream openings).
pub fn decode_body<T: DeserializeOwned>(
    status: u16,
    headers: &HeaderMap,
    body: &Bytes,
    redactor: &Redactor,
) -> Result<T, GatewayError> {
    let ct = content_type(headers);
    let is_json = ct.starts_with("application/json") || ct.contains("+json");
    let is_text = ct.starts_with("text/plain");
    if !is_json && !is_text {
        return Err(GatewayError::UpstreamBadResponse(format!(
            "The returned data type from the route service is not supported. Received content type: {}",
            if ct.is_empty() { "none" } else { ct }
        )));
    }
    if !(200..300).contains(&status) {
        return Err(upstream_error(status, headers, body, is_json, redactor));
    }
    if is_text {
        return Err(GatewayError::UpstreamBadResponse(
            "The upstream provider answered with text/plain where JSON was expected.".into(),
        ));
    }
    if body.is_empty() {
        return Err(GatewayError::UpstreamBadResponse(
            "The upstream provider answered with an empty body.".into(),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        GatewayError::UpstreamBadResponse(redactor.text(&format!(
            "The upstream provider's response could not be parsed: {e}."
        )))
    })
}

/// An upstream error status as MLflow reports it: `error.message` if the JSON has one, else the
/// whole JSON; for text bodies `{"message": text}`.
pub fn upstream_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    is_json: bool,
    redactor: &Redactor,
) -> GatewayError {
    let retry_after_secs = retry_after(headers);
    let detail = if is_json {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(mut obj)) => match obj.remove("error") {
                Some(Value::Object(mut err)) => match err.remove("message") {
                    Some(Value::String(m)) => Value::String(m),
                    Some(other) if !other.is_null() => other,
                    _ => Value::String(reason(status)),
                },
                Some(Value::String(m)) => Value::String(m),
                Some(other) => {
                    obj.insert("error".into(), other);
                    Value::Object(obj)
                }
                None => Value::Object(obj),
            },
            Ok(other) => other,
            Err(_) => serde_json::json!({ "message": String::from_utf8_lossy(body) }),
        }
    } else {
        serde_json::json!({ "message": String::from_utf8_lossy(body) })
    };
    GatewayError::Upstream {
        status,
        detail: redactor.value(detail),
        retry_after_secs,
    }
}

fn reason(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Upstream error")
        .to_owned()
}

/// One decoded SSE event of an upstream stream.
pub enum SseItem<T> {
    /// A data event decoded as `T`.
    Data(T),
    /// The `[DONE]` sentinel.
    Done,
}

/// Reads an OpenAI-style SSE response (`data: {json}` events ending with `data: [DONE]`) as a
/// stream of `T`. An in-band `{"error": ...}` event ends the stream with an upstream error; a
/// data event that is not JSON, or not a `T`, ends it with a 502-class error (MLflow skips
/// such lines, silently dropping part of the answer); so does a body that ends before
/// `[DONE]`, so a cut or garbled upstream is never mistaken for a complete answer.
pub fn sse_json_stream<T: DeserializeOwned + Send + 'static>(
    response: reqwest::Response,
    timeout: Duration,
    redactor: Redactor,
) -> impl Stream<Item = Result<T, GatewayError>> + Send + 'static {
    let events = response.bytes_stream().eventsource();
    futures::stream::unfold(
        (Box::pin(events), false, redactor),
        move |(mut events, finished, redactor)| async move {
            if finished {
                return None;
            }
            loop {
                match events.next().await {
                    None => {
                        let err = GatewayError::UpstreamBadResponse(
                            "The upstream stream ended before its end marker ([DONE]).".into(),
                        );
                        return Some((Err(err), (events, true, redactor)));
                    }
                    Some(Err(e)) => {
                        let err = match e {
                            eventsource_stream::EventStreamError::Transport(t) => {
                                transport_error(&t, timeout)
                            }
                            other => GatewayError::UpstreamBadResponse(format!(
                                "The upstream stream could not be decoded: {other}."
                            )),
                        };
                        return Some((Err(err), (events, true, redactor)));
                    }
                    Some(Ok(event)) => match decode_event::<T>(&event.data, &redactor) {
                        None => continue,
                        Some(Ok(SseItem::Done)) => return None,
                        Some(Ok(SseItem::Data(v))) => {
                            return Some((Ok(v), (events, false, redactor)));
                        }
                        Some(Err(err)) => return Some((Err(err), (events, true, redactor))),
                    },
                }
            }
        },
    )
}

/// Decodes one SSE data field: `None` to skip it.
pub fn decode_event<T: DeserializeOwned>(
    data: &str,
    redactor: &Redactor,
) -> Option<Result<SseItem<T>, GatewayError>> {
    let data = data.trim();
    if data.is_empty() {
        return None;
    }
    if data == "[DONE]" {
        return Some(Ok(SseItem::Done));
    }
    // In-band errors first: a lenient chunk type could otherwise decode `{"error": ...}` as an
    // empty chunk. The substring test keeps the common path to a single parse.
    if data.contains("\"error\"")
        && let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(data)
        && let Some(error) = obj.remove("error").filter(|e| !e.is_null())
    {
        let detail = match error {
            Value::Object(mut e) => e
                .remove("message")
                .unwrap_or_else(|| Value::String("upstream stream error".into())),
            other => other,
        };
        return Some(Err(GatewayError::Upstream {
            status: 502,
            detail: redactor.value(detail),
            retry_after_secs: None,
        }));
    }
    match serde_json::from_str::<T>(data) {
        Ok(v) => Some(Ok(SseItem::Data(v))),
        // MLflow skips lines it cannot parse, which silently drops part of the answer: a
        // garbled event ends the stream with an error instead. The text is not quoted back
        // (it is upstream content, and may be large).
        // serde's message itself may quote a value (`invalid type: string "..."`), such as a
        // secret the upstream echoed: redacted (found by fuzzing, `upstream_sse`).
        Err(e) => Some(Err(GatewayError::UpstreamBadResponse(redactor.text(
            &if serde_json::from_str::<serde::de::IgnoredAny>(data).is_ok() {
                format!("The upstream stream sent an event of an unexpected shape: {e}.")
            } else {
                format!("The upstream stream sent an event that is not valid JSON: {e}.")
            },
        )))),
    }
}

/// Opens a streaming call: sends the request and, on an error status, reads the error body the
/// same way as a non-streaming call, so an upstream failure before the first event is an
/// ordinary error (the client has not been answered yet).
pub async fn open_stream(
    client: &reqwest::Client,
    request: reqwest::Request,
    timeout: Duration,
    redactor: &Redactor,
) -> Result<reqwest::Response, GatewayError> {
    let response = send(client, request, timeout).await?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        let ct = content_type(response.headers()).to_owned();
        if ct.starts_with("text/event-stream") {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, timeout))?;
        // A 2xx that is not a stream: an upstream that ignored `stream`, or an error in disguise.
        return match decode_body::<Value>(status, &headers, &body, redactor) {
            Ok(_) => Err(GatewayError::UpstreamBadResponse(format!(
                "The upstream provider did not answer with an event stream (content type: {}).",
                if ct.is_empty() { "none" } else { &ct }
            ))),
            Err(e) => Err(e),
        };
    }
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(&e, timeout))?;
    match decode_body::<Value>(status, &headers, &body, redactor) {
        Err(e) => Err(e),
        Ok(_) => Err(upstream_error(status, &headers, &body, true, redactor)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    fn err(status: u16, ct: &str, body: &str) -> GatewayError {
        decode_body::<Value>(
            status,
            &headers(ct),
            &Bytes::from(body.to_owned()),
            &Redactor::default(),
        )
        .unwrap_err()
    }

    #[test]
    fn error_message_is_extracted() {
        let e = err(
            400,
            "application/json",
            r#"{"error":{"message":"upstream bad request","type":"x"}}"#,
        );
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.rest_body(), json!({"detail": "upstream bad request"}));
    }

    #[test]
    fn json_without_error_key_is_whole_detail() {
        let e = err(503, "application/json", r#"{"detail":"weird"}"#);
        assert_eq!(e.rest_body(), json!({"detail": {"detail": "weird"}}));
    }

    #[test]
    fn text_plain_is_wrapped_in_message() {
        let e = err(500, "text/plain; charset=utf-8", "boom plain");
        assert_eq!(e.http_status(), 500);
        assert_eq!(e.rest_body(), json!({"detail": {"message": "boom plain"}}));
    }

    #[test]
    fn other_content_types_are_502_before_status() {
        let e = err(200, "text/html; charset=utf-8", "<html>");
        assert_eq!(e.http_status(), 502);
        assert_eq!(
            e.rest_body(),
            json!({"detail": "The returned data type from the route service is not supported. Received content type: text/html; charset=utf-8"})
        );
    }

    #[test]
    fn bad_and_empty_json_are_502() {
        assert_eq!(err(200, "application/json", "{\"id\":").http_status(), 502);
        assert_eq!(err(200, "application/json", "").http_status(), 502);
    }

    #[test]
    fn retry_after_is_kept() {
        let mut h = headers("application/json");
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        let e = upstream_error(
            429,
            &h,
            br#"{"error":{"message":"slow down"}}"#,
            true,
            &Redactor::default(),
        );
        assert_eq!(e.retry_after_secs(), Some(7));
    }

    #[test]
    fn secrets_are_redacted_from_details() {
        let r = Redactor::new([Secret::new("sk-very-secret")]);
        let e = upstream_error(
            401,
            &headers("application/json"),
            br#"{"error":{"message":"bad key sk-very-secret"}}"#,
            true,
            &r,
        );
        assert_eq!(e.rest_body(), json!({"detail": "bad key [redacted]"}));
    }

    #[test]
    fn registered_secrets_are_redacted_by_every_redactor() {
        register_secrets([Secret::new("registered-elsewhere-42"), Secret::new("ab")]);
        let e = upstream_error(
            401,
            &headers("application/json"),
            br#"{"error":{"message":"got registered-elsewhere-42 and ab"}}"#,
            true,
            &Redactor::default(),
        );
        assert_eq!(e.rest_body(), json!({"detail": "got [redacted] and ab"}));
    }

    #[test]
    fn append_path_keeps_query() {
        assert_eq!(
            append_path("https://api.openai.com/v1", "chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            append_path(
                "https://r.openai.azure.com/openai/deployments/dep?api-version=2024-02-01",
                "embeddings"
            ),
            "https://r.openai.azure.com/openai/deployments/dep/embeddings?api-version=2024-02-01"
        );
        assert_eq!(append_path("http://h/v1/", "/x"), "http://h/v1/x");
        assert!(endpoint_url("not a url", "x").is_err());
    }

    #[test]
    fn secret_headers_are_sensitive_and_trimmed() {
        let h = bearer_json_headers(&Secret::new("sk-file\n")).unwrap();
        let auth = h.get("authorization").unwrap();
        assert_eq!(auth, "Bearer sk-file");
        assert!(auth.is_sensitive());
        assert!(!format!("{h:?}").contains("sk-file"));
        let err = bearer_json_headers(&Secret::new("sk-bad\nkey")).unwrap_err();
        assert!(!err.contains("sk-bad"));
    }

    #[test]
    fn request_credentials_are_redacted_too() {
        let mut headers = json_headers();
        insert_secret(
            &mut headers,
            "authorization",
            "Bearer ",
            &Secret::new("ya29.minted"),
        )
        .unwrap();
        let url = reqwest::Url::parse("http://127.0.0.1:1/x").unwrap();
        let request = json_post(&url, &headers, Vec::new(), Duration::from_secs(1));
        let r = Redactor::new([Secret::new("configured-key")]).for_request(&request);
        assert_eq!(
            r.text("got ya29.minted and configured-key"),
            "got [redacted] and [redacted]"
        );
    }

    #[test]
    fn sse_events_decode() {
        let r = Redactor::default();
        assert!(decode_event::<Value>("", &r).is_none());
        match decode_event::<Value>("not json", &r) {
            Some(Err(GatewayError::UpstreamBadResponse(m))) => {
                assert!(m.contains("not valid JSON"), "{m}");
            }
            _ => panic!("expected a bad-response error"),
        }
        match decode_event::<Vec<u8>>(r#"{"a":1}"#, &r) {
            Some(Err(GatewayError::UpstreamBadResponse(m))) => {
                assert!(m.contains("unexpected shape"), "{m}");
            }
            _ => panic!("expected a bad-response error"),
        }
        assert!(matches!(
            decode_event::<Value>("[DONE]", &r),
            Some(Ok(SseItem::Done))
        ));
        match decode_event::<Value>(r#"{"error":{"message":"boom"}}"#, &r) {
            Some(Err(GatewayError::Upstream { detail, .. })) => assert_eq!(detail, json!("boom")),
            _ => panic!("expected an upstream error"),
        }
    }

    /// Found by fuzzing (`upstream_sse`): serde's message for a wrongly typed event quotes the
    /// value, so a secret the upstream echoed reached the client.
    #[test]
    fn undecodable_events_and_bodies_do_not_quote_secrets() {
        let r = Redactor::new([Secret::new("sk-echoed-key")]);
        match decode_event::<Vec<u8>>(r#""sk-echoed-key""#, &r) {
            Some(Err(GatewayError::UpstreamBadResponse(m))) => {
                assert!(
                    m.contains("[redacted]") && !m.contains("sk-echoed-key"),
                    "{m}"
                );
            }
            _ => panic!("expected a bad-response error"),
        }
        let body = Bytes::from_static(br#"{"a":"sk-echoed-key"}"#);
        let e = decode_body::<std::collections::HashMap<String, u32>>(
            200,
            &headers("application/json"),
            &body,
            &r,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[redacted]") && !e.contains("sk-echoed-key"),
            "{e}"
        );
    }
}
