//! The call span: one per chat, completion or embeddings call through the service layer, with
//! the OpenTelemetry GenAI semantic-convention attributes.
//!
//! [`traced`] wraps a call's dispatch (every attempt, retry and fallback), so the upstream spans
//! are its children. It is named `{operation} {endpoint}` (`chat my-endpoint`) and records:
//!
//! - at the start: `gen_ai.operation.name` (`chat`, `text_completion`, `embeddings`),
//!   `llm_gateway.endpoint` (the endpoint or route called), the sampling parameters the client
//!   set (`gen_ai.request.temperature`, `.top_p`, `.max_tokens`), and `gen_ai.request.model`
//!   when the client chose the model;
//! - once a destination answered: `gen_ai.system` and `gen_ai.provider.name` (the provider as
//!   the config names it), `gen_ai.request.model` (the model asked of it) and
//!   `llm_gateway.destination` (the endpoint that served, which differs for routes);
//! - from the answer: `gen_ai.response.model`, `gen_ai.response.id`,
//!   `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` and
//!   `gen_ai.response.finish_reasons`. A stream's span lasts until the stream ends and reads
//!   them from its chunks as they pass;
//! - on failure, `error.type` and an error status.
//!
//! Messages, prompts and completions are never recorded.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures::Stream;
use opentelemetry::trace::{
    FutureExt as _, Span as _, SpanKind, Status, TraceContextExt, Tracer as _,
};
use opentelemetry::{Array, Context, KeyValue, StringValue, Value};

use crate::error::GatewayError;
use crate::pb::v1 as pb;
use crate::providers::{Call, ChunkStream};
use crate::service::{CallRequest, EndpointRuntime};

/// Most finish reasons a span keeps (one per choice; `n` is rarely more than a few).
const MAX_FINISH_REASONS: usize = 16;

/// Runs `dispatch` (a call's attempts, yielding the answer and the endpoint that gave it) inside
/// a call span for `request`, when tracing is on; when it is off, just runs it.
pub async fn traced<Q, T, F>(
    call: Call,
    request: &Q,
    dispatch: F,
) -> Result<(T, Arc<EndpointRuntime>), GatewayError>
where
    Q: SpanRequest,
    T: CallResponse,
    F: Future<Output = Result<(T, Arc<EndpointRuntime>), GatewayError>>,
{
    let Some(tracer) = super::tracer() else {
        return dispatch.await;
    };
    let cx = start(tracer, call, request);
    let result = dispatch.with_context(cx.clone()).await;
    if !cx.span().is_recording() {
        // Sampled out: the span only carried the trace context to the upstream requests.
        return result;
    }
    match result {
        Ok((answer, ep)) => {
            served_by(&cx, &ep, request.model());
            Ok((answer.observe(cx), ep))
        }
        Err(e) => {
            failed(&cx, &e);
            cx.span().end();
            Err(e)
        }
    }
}

fn start<Q: SpanRequest>(
    tracer: &opentelemetry_sdk::trace::SdkTracer,
    call: Call,
    request: &Q,
) -> Context {
    let operation = operation_name(call);
    let parent = Context::current();
    let mut span = tracer
        .span_builder(operation)
        .with_kind(SpanKind::Internal)
        .start_with_context(tracer, &parent);
    if span.is_recording() {
        let endpoint = request.endpoint();
        span.update_name(format!("{operation} {endpoint}"));
        let mut attributes = Vec::with_capacity(8);
        attributes.push(KeyValue::new("gen_ai.operation.name", operation));
        attributes.push(KeyValue::new("llm_gateway.endpoint", endpoint.to_owned()));
        if matches!(call, Call::ChatStream | Call::CompletionsStream) {
            attributes.push(KeyValue::new("llm_gateway.stream", true));
        }
        if let Some(model) = request.model() {
            attributes.push(KeyValue::new("gen_ai.request.model", model.to_owned()));
        }
        request.parameters(&mut attributes);
        span.set_attributes(attributes);
    }
    parent.with_span(span)
}

/// Who served the call: the provider, the model asked of it, the endpoint.
fn served_by(cx: &Context, ep: &EndpointRuntime, client_model: Option<&str>) {
    let span = cx.span();
    let provider = ep.config.model.provider_name;
    let mut attributes = Vec::with_capacity(4);
    attributes.push(KeyValue::new("gen_ai.system", provider));
    attributes.push(KeyValue::new("gen_ai.provider.name", provider));
    attributes.push(KeyValue::new(
        "llm_gateway.destination",
        ep.config.name.clone(),
    ));
    if client_model.is_none()
        && let Some(model) = ep.config.model.name.as_deref().filter(|m| !m.is_empty())
    {
        attributes.push(KeyValue::new("gen_ai.request.model", model.to_owned()));
    }
    span.set_attributes(attributes);
}

fn failed(cx: &Context, e: &GatewayError) {
    let kind = super::error_type(e);
    let span = cx.span();
    span.set_attribute(KeyValue::new("error.type", kind.clone()));
    span.set_status(Status::error(kind));
}

fn operation_name(call: Call) -> &'static str {
    match call {
        Call::Chat | Call::ChatStream => "chat",
        Call::Completions | Call::CompletionsStream => "text_completion",
        Call::Embeddings => "embeddings",
    }
}

/// A request the call span describes: the service's [`CallRequest`] and its sampling
/// parameters.
pub trait SpanRequest: CallRequest {
    /// Adds the sampling parameters the client set.
    fn parameters(&self, attributes: &mut Vec<KeyValue>);
}

fn sampling(
    attributes: &mut Vec<KeyValue>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u32>,
) {
    if let Some(t) = temperature {
        attributes.push(KeyValue::new("gen_ai.request.temperature", t));
    }
    if let Some(p) = top_p {
        attributes.push(KeyValue::new("gen_ai.request.top_p", p));
    }
    if let Some(m) = max_tokens {
        attributes.push(KeyValue::new("gen_ai.request.max_tokens", i64::from(m)));
    }
}

impl SpanRequest for pb::ChatRequest {
    fn parameters(&self, attributes: &mut Vec<KeyValue>) {
        let max = self.max_completion_tokens.or(self.max_tokens);
        sampling(attributes, self.temperature, self.top_p, max);
    }
}

impl SpanRequest for pb::CompletionRequest {
    fn parameters(&self, attributes: &mut Vec<KeyValue>) {
        let max = self.max_completion_tokens.or(self.max_tokens);
        sampling(attributes, self.temperature, self.top_p, max);
    }
}

impl SpanRequest for pb::EmbedRequest {
    fn parameters(&self, attributes: &mut Vec<KeyValue>) {
        if let Some(d) = self.dimensions {
            attributes.push(KeyValue::new(
                "gen_ai.embeddings.dimension.count",
                i64::from(d),
            ));
        }
    }
}

/// What a call answers with, as the call span sees it.
pub trait CallResponse: Sized {
    /// Records the answer on the span in `cx` and ends it; a stream instead takes the span
    /// along and ends it when the stream ends.
    fn observe(self, cx: Context) -> Self;
}

/// What the span learns from an answer or a stream's chunks.
#[derive(Debug, Default)]
pub struct Outcome {
    response_model: Option<String>,
    response_id: Option<String>,
    input_tokens: Option<u32>,
    output_tokens: Option<u32>,
    finish_reasons: Vec<StringValue>,
}

impl Outcome {
    fn model(&mut self, model: &str) {
        if self.response_model.is_none() && !model.is_empty() {
            self.response_model = Some(model.to_owned());
        }
    }

    fn id(&mut self, id: Option<&str>) {
        if self.response_id.is_none()
            && let Some(id) = id.filter(|id| !id.is_empty())
        {
            self.response_id = Some(id.to_owned());
        }
    }

    fn usage(&mut self, usage: Option<&pb::Usage>) {
        if let Some(u) = usage {
            self.input_tokens = u.prompt_tokens.or(self.input_tokens);
            self.output_tokens = u.completion_tokens.or(self.output_tokens);
        }
    }

    fn finish_reason(&mut self, reason: Option<&str>) {
        if let Some(r) = reason.filter(|r| !r.is_empty())
            && self.finish_reasons.len() < MAX_FINISH_REASONS
        {
            self.finish_reasons.push(StringValue::from(r.to_owned()));
        }
    }

    fn record(self, cx: &Context) {
        let span = cx.span();
        let mut attributes = Vec::with_capacity(5);
        if let Some(m) = self.response_model {
            attributes.push(KeyValue::new("gen_ai.response.model", m));
        }
        if let Some(id) = self.response_id {
            attributes.push(KeyValue::new("gen_ai.response.id", id));
        }
        if let Some(n) = self.input_tokens {
            attributes.push(KeyValue::new("gen_ai.usage.input_tokens", i64::from(n)));
        }
        if let Some(n) = self.output_tokens {
            attributes.push(KeyValue::new("gen_ai.usage.output_tokens", i64::from(n)));
        }
        if !self.finish_reasons.is_empty() {
            attributes.push(KeyValue::new(
                "gen_ai.response.finish_reasons",
                Value::Array(Array::String(self.finish_reasons)),
            ));
        }
        span.set_attributes(attributes);
    }
}

impl CallResponse for pb::ChatResponse {
    fn observe(self, cx: Context) -> Self {
        let mut outcome = Outcome::default();
        outcome.model(&self.model);
        outcome.id(self.id.as_deref());
        outcome.usage(self.usage.as_ref());
        for choice in &self.choices {
            outcome.finish_reason(choice.finish_reason.as_deref());
        }
        outcome.record(&cx);
        cx.span().end();
        self
    }
}

impl CallResponse for pb::CompletionResponse {
    fn observe(self, cx: Context) -> Self {
        let mut outcome = Outcome::default();
        outcome.model(&self.model);
        outcome.id(self.id.as_deref());
        outcome.usage(self.usage.as_ref());
        for choice in &self.choices {
            outcome.finish_reason(choice.finish_reason.as_deref());
        }
        outcome.record(&cx);
        cx.span().end();
        self
    }
}

impl CallResponse for pb::EmbedResponse {
    fn observe(self, cx: Context) -> Self {
        let mut outcome = Outcome::default();
        outcome.model(&self.model);
        outcome.usage(self.usage.as_ref());
        outcome.record(&cx);
        cx.span().end();
        self
    }
}

/// A stream chunk, as the call span sees it.
pub trait Chunk {
    /// Adds what this chunk says about the answer.
    fn observe(&self, outcome: &mut Outcome);
}

impl Chunk for pb::ChatChunk {
    fn observe(&self, outcome: &mut Outcome) {
        outcome.model(&self.model);
        outcome.id(self.id.as_deref());
        outcome.usage(self.usage.as_ref());
        for choice in &self.choices {
            outcome.finish_reason(choice.finish_reason.as_deref());
        }
    }
}

impl Chunk for pb::CompletionChunk {
    fn observe(&self, outcome: &mut Outcome) {
        outcome.model(&self.model);
        outcome.id(self.id.as_deref());
        outcome.usage(self.usage.as_ref());
        for choice in &self.choices {
            outcome.finish_reason(choice.finish_reason.as_deref());
        }
    }
}

impl<C: Chunk + Send + 'static> CallResponse for ChunkStream<C> {
    fn observe(self, cx: Context) -> Self {
        Box::pin(ObservedStream {
            inner: self,
            cx,
            outcome: Some(Outcome::default()),
        })
    }
}

/// A stream that records its chunks on the call span and ends the span when it ends, fails,
/// or is dropped (the client went away).
struct ObservedStream<C> {
    inner: ChunkStream<C>,
    cx: Context,
    /// `None` once recorded.
    outcome: Option<Outcome>,
}

impl<C> ObservedStream<C> {
    fn finish(&mut self, error: Option<&GatewayError>) {
        if let Some(outcome) = self.outcome.take() {
            outcome.record(&self.cx);
            if let Some(e) = error {
                failed(&self.cx, e);
            }
            self.cx.span().end();
        }
    }
}

impl<C: Chunk> Stream for ObservedStream<C> {
    type Item = Result<C, GatewayError>;

    fn poll_next(
        self: Pin<&mut Self>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let polled = this.inner.as_mut().poll_next(task);
        match &polled {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(outcome) = this.outcome.as_mut() {
                    chunk.observe(outcome);
                }
            }
            Poll::Ready(Some(Err(e))) => this.finish(Some(e)),
            Poll::Ready(None) => this.finish(None),
            Poll::Pending => {}
        }
        polled
    }
}

impl<C> Drop for ObservedStream<C> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::testing::{Memory, attr};
    use futures::StreamExt;

    fn chunk(model: &str, finish: Option<&str>, usage: Option<(u32, u32)>) -> pb::ChatChunk {
        pb::ChatChunk {
            model: model.into(),
            choices: vec![pb::ChatChunkChoice {
                finish_reason: finish.map(Into::into),
                ..Default::default()
            }],
            usage: usage.map(|(i, o)| pb::Usage {
                prompt_tokens: Some(i),
                completion_tokens: Some(o),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn request() -> pb::ChatRequest {
        pb::ChatRequest {
            endpoint: "ep".into(),
            model: Some("client-model".into()),
            max_tokens: Some(10),
            max_completion_tokens: Some(20),
            top_p: Some(0.9),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_stream_records_its_chunks_and_ends_with_them() {
        let (memory, tracer) = Memory::tracer();
        let cx = start(&tracer, Call::ChatStream, &request());
        let chunks: ChunkStream<pb::ChatChunk> = Box::pin(futures::stream::iter(vec![
            Ok(chunk("m-1", None, None)),
            Ok(chunk("", Some("stop"), None)),
            Ok(chunk("", None, Some((4, 2)))),
        ]));
        let mut stream = chunks.observe(cx);
        assert_eq!(stream.next().await.unwrap().unwrap().model, "m-1");
        // Not ended while the stream is open.
        assert!(memory.take().is_empty());
        while stream.next().await.is_some() {}
        let [span] = memory.take().try_into().unwrap();
        assert_eq!(span.name, "chat ep");
        assert_eq!(attr(&span, "gen_ai.request.model"), "client-model");
        assert_eq!(attr(&span, "gen_ai.request.max_tokens"), "20");
        assert_eq!(attr(&span, "gen_ai.request.top_p"), "0.9");
        assert_eq!(attr(&span, "llm_gateway.stream"), "true");
        assert_eq!(attr(&span, "gen_ai.response.model"), "m-1");
        assert_eq!(attr(&span, "gen_ai.response.finish_reasons"), r#"["stop"]"#);
        assert_eq!(attr(&span, "gen_ai.usage.input_tokens"), "4");
        assert_eq!(attr(&span, "gen_ai.usage.output_tokens"), "2");
        assert_eq!(span.status, Status::Unset);
        drop(stream);
        assert!(memory.take().is_empty(), "ended once");
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_stream_still_ends_its_span() {
        let (memory, tracer) = Memory::tracer();
        let cx = start(&tracer, Call::ChatStream, &request());
        let chunks: ChunkStream<pb::ChatChunk> = Box::pin(futures::stream::iter(vec![
            Ok(chunk("m-1", None, None)),
            Err(GatewayError::UpstreamTimeout("idle".into())),
        ]));
        let items: Vec<_> = chunks.observe(cx).collect().await;
        assert_eq!(items.len(), 2);
        let [span] = memory.take().try_into().unwrap();
        assert_eq!(attr(&span, "error.type"), "timeout");
        assert_eq!(attr(&span, "gen_ai.response.model"), "m-1");
        assert_eq!(span.status, Status::error("timeout"));

        let cx = start(&tracer, Call::ChatStream, &request());
        let pending: ChunkStream<pb::ChatChunk> = Box::pin(futures::stream::pending());
        drop(pending.observe(cx));
        let [span] = memory.take().try_into().unwrap();
        assert_eq!(span.status, Status::Unset);
    }

    #[test]
    fn an_answer_is_recorded_and_ends_the_span() {
        let (memory, tracer) = Memory::tracer();
        let cx = start(
            &tracer,
            Call::Completions,
            &pb::CompletionRequest {
                endpoint: "c".into(),
                temperature: Some(0.0),
                ..Default::default()
            },
        );
        let answer = pb::CompletionResponse {
            id: Some("cmpl-1".into()),
            model: "m".into(),
            choices: vec![
                pb::CompletionChoice {
                    finish_reason: Some("length".into()),
                    ..Default::default()
                },
                pb::CompletionChoice {
                    finish_reason: Some("stop".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        answer.observe(cx);
        let [span] = memory.take().try_into().unwrap();
        assert_eq!(span.name, "text_completion c");
        assert_eq!(attr(&span, "gen_ai.operation.name"), "text_completion");
        assert_eq!(attr(&span, "gen_ai.request.temperature"), "0");
        assert_eq!(attr(&span, "gen_ai.response.id"), "cmpl-1");
        assert_eq!(
            attr(&span, "gen_ai.response.finish_reasons"),
            r#"["length","stop"]"#
        );
        assert_eq!(attr(&span, "gen_ai.usage.input_tokens"), "");
    }
}
