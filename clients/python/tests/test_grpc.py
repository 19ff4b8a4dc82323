"""Raw grpcio stubs, as generated from proto/, against the gateway's gRPC API.

The stubs are the ones the `llm_gateway_client` package ships (clients/python/src/.../_pb), used
here directly through grpcio's generated `*ServiceStub` classes, without the typed client.
test_client_package.py regenerates them from proto/ with `grpc_tools.protoc` on every run and
fails when the checked-in copy is stale, which also proves the .proto files compile with stock
protoc.
"""

from __future__ import annotations

import base64
import struct
from types import SimpleNamespace

import grpc
import pytest

RPC_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def pb() -> SimpleNamespace:
    from llm_gateway_client import pb as stubs

    return SimpleNamespace(**{name: getattr(stubs, name) for name in stubs.__all__})


@pytest.fixture(scope="module")
def channel(gateway):
    # Plain-text HTTP/2 (h2c) on the same port as REST; never through a proxy.
    ch = grpc.insecure_channel(gateway.grpc_target, options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(ch).result(timeout=RPC_TIMEOUT_S)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def chat(pb, channel):
    return pb.chat_pb2_grpc.ChatServiceStub(channel)


@pytest.fixture(scope="module")
def completions(pb, channel):
    return pb.completions_pb2_grpc.CompletionsServiceStub(channel)


@pytest.fixture(scope="module")
def embeddings(pb, channel):
    return pb.embeddings_pb2_grpc.EmbeddingsServiceStub(channel)


@pytest.fixture(scope="module")
def endpoints(pb, channel):
    return pb.endpoints_pb2_grpc.EndpointsServiceStub(channel)


def user(pb, text: str):
    return pb.chat_pb2.Message(role="user", content=text)


def weather_tool(pb):
    from google.protobuf import struct_pb2

    params = struct_pb2.Struct()
    params.update({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    return pb.chat_pb2.Tool(
        type="function",
        function=pb.chat_pb2.FunctionDefinition(name="get_weather", parameters=params),
    )


# ---- chat ----


def test_chat(pb, chat):
    resp = chat.Chat(
        pb.chat_pb2.ChatRequest(endpoint="chat", messages=[user(pb, "hi")], temperature=0.2),
        timeout=RPC_TIMEOUT_S,
    )
    assert resp.provider == "openai"
    assert resp.model == "gpt-4o-mini"
    assert resp.id == "chatcmpl-mock"
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.HasField("content")
    assert choice.message.content == "Hello from mock"
    assert choice.finish_reason == "stop"
    u = resp.usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (9, 3, 12)
    assert u.prompt_tokens_details.cached_tokens == 0
    assert u.completion_tokens_details.HasField("reasoning_tokens")


def test_chat_tool_call(pb, chat):
    resp = chat.Chat(
        pb.chat_pb2.ChatRequest(
            endpoint="chat", messages=[user(pb, "Weather in Paris?")], tools=[weather_tool(pb)]
        ),
        timeout=RPC_TIMEOUT_S,
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert not choice.message.HasField("content")  # null content, not ""
    (call,) = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("call_1", "function", "get_weather")
    assert call.function.arguments == '{"city": "Paris"}'


def test_stream_chat(pb, chat):
    req = pb.chat_pb2.ChatRequest(
        endpoint="chat",
        messages=[user(pb, "hi")],
        stream_options=pb.common_pb2.StreamOptions(include_usage=True),
    )
    chunks = list(chat.StreamChat(req, timeout=RPC_TIMEOUT_S))
    text = "".join(c.delta.content for chunk in chunks for c in chunk.choices)
    assert text == "Hello from mock"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.HasField("finish_reason")]
    assert finishes == ["stop"]
    assert all(chunk.provider == "openai" for chunk in chunks)
    last = chunks[-1]
    assert len(last.choices) == 0
    assert last.usage.total_tokens == 12
    assert not any(chunk.HasField("usage") for chunk in chunks[:-1])


def test_stream_chat_tool_call(pb, chat):
    req = pb.chat_pb2.ChatRequest(
        endpoint="chat", messages=[user(pb, "Weather in Paris?")], tools=[weather_tool(pb)]
    )
    name, call_id, arguments = None, None, ""
    for chunk in chat.StreamChat(req, timeout=RPC_TIMEOUT_S):
        for choice in chunk.choices:
            for d in choice.delta.tool_calls:
                assert d.index == 0
                call_id = d.id if d.HasField("id") else call_id
                name = d.function.name if d.function.HasField("name") else name
                arguments += d.function.arguments
    assert (call_id, name) == ("call_1", "get_weather")
    assert arguments == '{"city": "Paris"}'


def test_chat_on_mock_provider(pb, chat):
    resp = chat.Chat(
        pb.chat_pb2.ChatRequest(endpoint="limited", messages=[user(pb, "over grpc")]),
        timeout=RPC_TIMEOUT_S,
    )
    assert resp.choices[0].message.content == "You said: over grpc"
    assert resp.provider == "mock"


# ---- completions ----


def test_complete(pb, completions):
    resp = completions.Complete(
        pb.completions_pb2.CompletionRequest(endpoint="completions", prompt="Say this", max_tokens=7),
        timeout=RPC_TIMEOUT_S,
    )
    assert resp.model == "gpt-3.5-turbo-instruct"
    assert [c.text for c in resp.choices] == ["This is a test"]
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.total_tokens == 12


def test_stream_complete(pb, completions):
    chunks = list(
        completions.StreamComplete(
            pb.completions_pb2.CompletionRequest(endpoint="completions", prompt="Say this"),
            timeout=RPC_TIMEOUT_S,
        )
    )
    assert "".join(c.text for chunk in chunks for c in chunk.choices) == "This is a test"
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.HasField("finish_reason")]
    assert finishes == ["length"]


# ---- embeddings ----


def test_embed(pb, embeddings):
    resp = embeddings.Embed(
        pb.embeddings_pb2.EmbedRequest(endpoint="embeddings", texts=["alpha", "beta"]),
        timeout=RPC_TIMEOUT_S,
    )
    assert resp.model == "text-embedding-3-small"
    assert resp.provider == "openai"
    assert [d.index for d in resp.data] == [0, 1]
    for d in resp.data:
        assert len(d.values) == 3
        assert not d.HasField("base64")
    assert list(resp.data[0].values) != list(resp.data[1].values)
    assert (resp.usage.prompt_tokens, resp.usage.total_tokens) == (8, 8)


def test_embed_base64_and_dimensions(pb, embeddings):
    floats = embeddings.Embed(
        pb.embeddings_pb2.EmbedRequest(endpoint="embeddings", texts=["alpha"], dimensions=5),
        timeout=RPC_TIMEOUT_S,
    )
    b64 = embeddings.Embed(
        pb.embeddings_pb2.EmbedRequest(
            endpoint="embeddings", texts=["alpha"], dimensions=5, encoding_format="base64"
        ),
        timeout=RPC_TIMEOUT_S,
    )
    assert len(floats.data[0].values) == 5
    assert len(b64.data[0].values) == 0
    decoded = struct.unpack("<5f", base64.b64decode(b64.data[0].base64))
    assert list(decoded) == pytest.approx(list(floats.data[0].values), abs=1e-6)


def test_embed_matches_rest(pb, embeddings, gateway):
    # The same input gives the same vector on every surface.
    import json
    import urllib.request

    resp = embeddings.Embed(
        pb.embeddings_pb2.EmbedRequest(endpoint="embeddings", texts=["alpha"]), timeout=RPC_TIMEOUT_S
    )
    req = urllib.request.Request(
        f"{gateway.url}/endpoints/embeddings/invocations",
        data=json.dumps({"input": "alpha"}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=RPC_TIMEOUT_S) as r:
        rest = json.loads(r.read())
    assert list(resp.data[0].values) == pytest.approx(rest["data"][0]["embedding"], abs=1e-9)


# ---- discovery ----


def test_list_endpoints(pb, endpoints, expected_endpoints):
    resp = endpoints.ListEndpoints(pb.endpoints_pb2.ListEndpointsRequest(), timeout=RPC_TIMEOUT_S)
    got = [(e.name, e.endpoint_type, e.model.provider, e.model.name) for e in resp.endpoints]
    assert got == expected_endpoints
    assert resp.next_page_token == ""
    for e in resp.endpoints:
        assert e.endpoint_url == f"/gateway/{e.name}/invocations"
    by_name = {e.name: e for e in resp.endpoints}
    assert not by_name["chat"].HasField("limit")
    assert (by_name["limited"].limit.calls, by_name["limited"].limit.renewal_period) == (100, "minute")


def test_list_endpoints_paginates(pb, endpoints, expected_endpoints):
    names, token, pages = [], "", 0
    while True:
        resp = endpoints.ListEndpoints(
            pb.endpoints_pb2.ListEndpointsRequest(page_size=2, page_token=token), timeout=RPC_TIMEOUT_S
        )
        pages += 1
        assert len(resp.endpoints) <= 2
        names += [e.name for e in resp.endpoints]
        token = resp.next_page_token
        if not token:
            break
        assert pages < 10, "pagination does not terminate"
    assert names == [name for name, *_ in expected_endpoints]
    assert pages == 3


def test_get_endpoint(pb, endpoints):
    e = endpoints.GetEndpoint(pb.endpoints_pb2.GetEndpointRequest(name="limited"), timeout=RPC_TIMEOUT_S)
    assert (e.name, e.endpoint_type, e.model.provider, e.model.name) == (
        "limited", "llm/v1/chat", "mock", "mock-model"
    )
    assert e.endpoint_url == "/gateway/limited/invocations"
    assert (e.limit.calls, e.limit.renewal_period) == (100, "minute")


# ---- errors ----


def assert_rpc_error(exc_info, code: grpc.StatusCode, *fragments: str) -> None:
    err = exc_info.value
    assert err.code() == code, f"{err.code()}: {err.details()}"
    for fragment in fragments:
        assert fragment in (err.details() or ""), err.details()


def test_get_unknown_endpoint_is_not_found(pb, endpoints):
    with pytest.raises(grpc.RpcError) as exc:
        endpoints.GetEndpoint(pb.endpoints_pb2.GetEndpointRequest(name="nope"), timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.NOT_FOUND, "nope")


def test_chat_unknown_endpoint_is_not_found(pb, chat):
    with pytest.raises(grpc.RpcError) as exc:
        chat.Chat(pb.chat_pb2.ChatRequest(endpoint="nope", messages=[user(pb, "hi")]), timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.NOT_FOUND, "nope")


def test_stream_chat_unknown_endpoint_is_not_found(pb, chat):
    with pytest.raises(grpc.RpcError) as exc:
        list(chat.StreamChat(pb.chat_pb2.ChatRequest(endpoint="nope", messages=[user(pb, "hi")]), timeout=RPC_TIMEOUT_S))
    assert_rpc_error(exc, grpc.StatusCode.NOT_FOUND, "nope")


def test_wrong_endpoint_type_is_invalid_argument(pb, chat, completions, embeddings):
    with pytest.raises(grpc.RpcError) as exc:
        chat.Chat(pb.chat_pb2.ChatRequest(endpoint="embeddings", messages=[user(pb, "hi")]), timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.INVALID_ARGUMENT, "is not a chat endpoint")

    with pytest.raises(grpc.RpcError) as exc:
        completions.Complete(pb.completions_pb2.CompletionRequest(endpoint="chat", prompt="hi"), timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.INVALID_ARGUMENT, "is not a completions endpoint")

    with pytest.raises(grpc.RpcError) as exc:
        embeddings.Embed(pb.embeddings_pb2.EmbedRequest(endpoint="chat", texts=["hi"]), timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.INVALID_ARGUMENT, "is not an embeddings endpoint")


def test_upstream_bad_request_is_invalid_argument(pb, chat):
    req = pb.chat_pb2.ChatRequest(endpoint="chat-bad", messages=[user(pb, "hi")])
    with pytest.raises(grpc.RpcError) as exc:
        chat.Chat(req, timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.INVALID_ARGUMENT, "upstream bad request")

    # Streams open the upstream before the response starts: the same status, no chunks.
    received = []
    with pytest.raises(grpc.RpcError) as exc:
        for chunk in chat.StreamChat(req, timeout=RPC_TIMEOUT_S):
            received.append(chunk)
    assert_rpc_error(exc, grpc.StatusCode.INVALID_ARGUMENT, "upstream bad request")
    assert received == []


def test_invalid_request_is_invalid_argument(pb, chat):
    with pytest.raises(grpc.RpcError) as exc:
        chat.Chat(pb.chat_pb2.ChatRequest(endpoint="chat", messages=[]), timeout=RPC_TIMEOUT_S)
    assert_rpc_error(exc, grpc.StatusCode.INVALID_ARGUMENT)
