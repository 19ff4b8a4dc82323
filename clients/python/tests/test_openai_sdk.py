"""The stock `openai` Python SDK against the gateway's OpenAI-compatible routes (`/v1/*`).

`model` names a gateway endpoint; the answers are MLflow's shapes (spec §2.4-§2.6), which the SDK
must accept as they are, including the extra `provider` key and explicit nulls.
"""

from __future__ import annotations

import base64
import json
import struct

import openai
import pytest

USER_HI = [{"role": "user", "content": "hi"}]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture(scope="module")
def client(gateway) -> openai.OpenAI:
    # No retries: a failing call must surface as the error the gateway returned, at once.
    c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0, timeout=30)
    yield c
    c.close()


def error_text(err: openai.APIStatusError) -> str:
    """Everything the SDK exposes about an error: its message and the decoded body.

    openai 3.x puts only an OpenAI-style `error.message` into `str(err)`; MLflow's gateway answers
    `{"detail": ...}`, which the SDK keeps in `err.body`.
    """
    return f"{err.message} {json.dumps(err.body)}"


# ---- chat ----


def test_chat_completion(client):
    resp = client.chat.completions.create(model="chat", messages=USER_HI)

    assert resp.object == "chat.completion"
    assert resp.model == "gpt-4o-mini"  # the upstream-reported model
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello from mock"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (9, 3, 12)
    # The gateway's extra key survives the SDK's model parsing.
    assert resp.model_extra["provider"] == "openai"
    assert resp.to_dict()["provider"] == "openai"


def test_chat_forwards_parameters_upstream(client, gateway):
    gateway.clear_mock_requests()
    client.chat.completions.create(
        model="chat", messages=USER_HI, temperature=0.5, max_tokens=20, stop=["END"], seed=7
    )
    sent = [r for r in gateway.mock_requests() if r["path_and_query"].endswith("/chat/completions")]
    assert len(sent) == 1
    body = sent[0]["body"]
    assert body["model"] == "gpt-4o-mini"  # the configured model, not the endpoint name
    assert body["messages"] == USER_HI
    assert body["temperature"] == 0.5
    assert body["max_tokens"] == 20
    assert body["stop"] == ["END"]
    assert body["seed"] == 7  # extra top-level keys are forwarded (spec §2.3)
    assert sent[0]["headers"]["authorization"] == "Bearer sk-test"


def test_chat_tool_call(client):
    resp = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id == "call_1"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_chat_stream_text_and_usage(client):
    stream = client.chat.completions.create(
        model="chat", messages=USER_HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    assert chunks, "no chunks received"
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from mock"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    # The usage arrives once, last, on a chunk without choices.
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (9, 3, 12)
    assert all(c.usage is None for c in chunks[:-1])
    assert all(c.model_extra["provider"] == "openai" for c in chunks)


def test_chat_stream_without_usage_option_still_reassembles(client):
    # MLflow asks OpenAI upstreams for usage on every stream (spec §3.2), so a final usage chunk
    # may follow; the text must be complete either way.
    chunks = list(client.chat.completions.create(model="chat", messages=USER_HI, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from mock"
    assert chunks[0].choices[0].delta.role == "assistant"


def test_chat_stream_tool_call_reassembles(client):
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            for d in choice.delta.tool_calls or []:
                call = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
                call["id"] = d.id or call["id"]
                if d.function is not None:
                    call["name"] = d.function.name or call["name"]
                    call["arguments"] += d.function.arguments or ""
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert list(calls) == [0]
    assert calls[0]["id"] == "call_1"
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}


def test_chat_on_mock_provider(client):
    resp = client.chat.completions.create(
        model="limited", messages=[{"role": "user", "content": "ping pong"}]
    )
    assert resp.choices[0].message.content == "You said: ping pong"
    assert resp.model_extra["provider"] == "mock"


# ---- embeddings ----


def test_embeddings_default_base64_decodes(client, gateway):
    gateway.clear_mock_requests()
    resp = client.embeddings.create(model="embeddings", input=["alpha", "beta"])

    # The SDK asked for base64 by default and decoded it back to floats.
    sent = [r["body"] for r in gateway.mock_requests() if r["path_and_query"].endswith("/embeddings")]
    assert [b.get("encoding_format") for b in sent] == ["base64"]
    assert resp.model == "text-embedding-3-small"
    assert [d.index for d in resp.data] == [0, 1]
    for d in resp.data:
        assert len(d.embedding) == 3
        assert all(isinstance(x, float) and -1.0 <= x <= 1.0 for x in d.embedding)
    assert resp.data[0].embedding != resp.data[1].embedding
    assert (resp.usage.prompt_tokens, resp.usage.total_tokens) == (8, 8)


def test_embeddings_float_and_base64_agree(client):
    as_float = client.embeddings.create(model="embeddings", input="alpha", encoding_format="float")
    as_b64 = client.embeddings.create(model="embeddings", input="alpha")
    (f,) = as_float.data
    (b,) = as_b64.data
    assert len(f.embedding) == 3
    assert b.embedding == pytest.approx(f.embedding, abs=1e-6)


def test_embeddings_raw_base64_is_little_endian_float32(client):
    # Ask for base64 explicitly: then the SDK returns the string as the gateway sent it.
    raw = client.embeddings.with_raw_response.create(
        model="embeddings", input="alpha", encoding_format="base64"
    )
    body = json.loads(raw.text)
    encoded = body["data"][0]["embedding"]
    assert isinstance(encoded, str)
    decoded = struct.unpack("<3f", base64.b64decode(encoded))
    as_float = client.embeddings.create(model="embeddings", input="alpha", encoding_format="float")
    assert list(decoded) == pytest.approx(as_float.data[0].embedding, abs=1e-6)


def test_embeddings_dimensions(client):
    resp = client.embeddings.create(
        model="embeddings", input="alpha", dimensions=5, encoding_format="float"
    )
    assert len(resp.data[0].embedding) == 5


# ---- completions ----


def test_completion(client):
    resp = client.completions.create(model="completions", prompt="Say this is a test")
    assert resp.object == "text_completion"
    assert resp.model == "gpt-3.5-turbo-instruct"
    (choice,) = resp.choices
    assert choice.text == "This is a test"
    assert choice.finish_reason == "length"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (5, 7, 12)


def test_completion_stream(client):
    chunks = list(client.completions.create(model="completions", prompt="Say this", stream=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "This is a test"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]


# ---- errors ----


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="nope", messages=USER_HI)
    assert exc.value.status_code == 404
    assert "nope" in error_text(exc.value)


@pytest.mark.parametrize(
    ("call", "model", "expected"),
    [
        ("chat", "embeddings", "Endpoint 'embeddings' is not a chat endpoint."),
        ("completions", "chat", "Endpoint 'chat' is not a completions endpoint."),
        ("embeddings", "completions", "Endpoint 'completions' is not an embeddings endpoint."),
    ],
)
def test_wrong_endpoint_type_is_bad_request(client, call, model, expected):
    invoke = {
        "chat": lambda: client.chat.completions.create(model=model, messages=USER_HI),
        "completions": lambda: client.completions.create(model=model, prompt="hi"),
        "embeddings": lambda: client.embeddings.create(model=model, input="hi"),
    }[call]
    with pytest.raises(openai.BadRequestError) as exc:
        invoke()
    assert exc.value.status_code == 400
    assert expected in error_text(exc.value)


def test_upstream_bad_request_is_bad_request(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="chat-bad", messages=USER_HI)
    assert exc.value.status_code == 400
    assert "upstream bad request" in error_text(exc.value)


def test_upstream_bad_request_on_stream_is_a_status_not_a_broken_stream(client):
    # The gateway opens the upstream before committing the 200, so the SDK gets a real error.
    with pytest.raises(openai.BadRequestError) as exc:
        list(client.chat.completions.create(model="chat-bad", messages=USER_HI, stream=True))
    assert "upstream bad request" in error_text(exc.value)


def test_invalid_body_is_unprocessable(client):
    # temperature above 2 breaks MLflow's schema: 422 with pydantic's error list (spec §2.7).
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        client.chat.completions.create(model="chat", messages=USER_HI, temperature=5)
    assert exc.value.status_code == 422
    assert "temperature" in error_text(exc.value)
