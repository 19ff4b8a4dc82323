"""`GatewayClient`: a small typed client for llm-gateway's gRPC services.

Requests are built from plain Python values (or the generated protobuf messages) and the
answers are the generated protobuf messages, typed by the `.pyi` stubs shipped beside them.
Every failed call raises a `GatewayError` subclass carrying the gRPC code and message, streams
included (on the iteration that meets the failure).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Iterator, TypeVar, Union

import grpc
from google.protobuf import json_format, message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from ._pb.llmgateway.v1 import (
    chat_pb2,
    chat_pb2_grpc,
    completions_pb2,
    completions_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
    endpoints_pb2,
    endpoints_pb2_grpc,
)
from .errors import GatewayError, Unavailable, from_rpc_error

__all__ = ["GatewayClient", "ResponseStream", "MessageLike", "Metadata"]

_T = TypeVar("_T")

#: A chat message: the proto `Message`, or a dict such as `{"role": "user", "content": "hi"}`.
#: `content` may also be a list of parts, OpenAI style (`{"type": "text", "text": ...}`,
#: `{"type": "image_url", "image_url": {"url": ...}}`); other keys follow the proto field names
#: (`tool_calls`, `tool_call_id`, `refusal`).
MessageLike = Union[chat_pb2.Message, Mapping[str, Any]]
#: Extra call metadata: (key, value) pairs, keys lower-case.
Metadata = Sequence[tuple[str, Union[str, bytes]]]

# Fields a method sets from its positional arguments; not accepted again as **params.
_POSITIONAL_FIELDS = frozenset({"endpoint", "messages", "prompt", "texts", "token_ids", "single_input"})


class ResponseStream(Iterator[_T]):
    """The chunks of a server-streaming call, in order.

    Iterating raises a `GatewayError` subclass when the call fails (before the first chunk or in
    the middle). `cancel()` (or leaving a `with` block) stops the call early.
    """

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> ResponseStream[_T]:
        return self

    def __next__(self) -> _T:
        try:
            return next(self._call)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def cancel(self) -> None:
        """Stop the call; the gateway cancels its upstream request too."""
        self._call.cancel()

    def __enter__(self) -> ResponseStream[_T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class GatewayClient:
    """A connection to one llm-gateway over gRPC (plain-text HTTP/2, or TLS with `secure=True`).

    >>> with GatewayClient("127.0.0.1:5000") as gw:
    ...     reply = gw.chat("chat", [{"role": "user", "content": "hello"}])
    ...     print(reply.choices[0].message.content)

    - `api_key`: sent on every call as `authorization: Bearer <key>` metadata (the gateway's
      `api_keys` config). Over plain text the key crosses the network unencrypted.
    - `timeout`: default deadline of each call, in seconds (None: no deadline); every method
      takes `timeout=` to override it for one call.
    - `secure` / `root_certificates`: TLS; `root_certificates` is the PEM of the CAs to trust
      (None: the system's roots). Giving `root_certificates` implies `secure=True`.
    - `options`: extra grpcio channel options, for example `[("grpc.enable_http_proxy", 0)]`.
    """

    def __init__(
        self,
        target: str = "127.0.0.1:5000",
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        secure: bool = False,
        root_certificates: bytes | None = None,
        options: Sequence[tuple[str, Any]] | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {api_key}"),) if api_key is not None else ()
        )
        opts = list(options or ())
        if secure or root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, creds, options=opts)
        else:
            self._channel = grpc.insecure_channel(target, options=opts)
        self._chat = chat_pb2_grpc.ChatServiceStub(self._channel)
        self._completions = completions_pb2_grpc.CompletionsServiceStub(self._channel)
        self._embeddings = embeddings_pb2_grpc.EmbeddingsServiceStub(self._channel)
        self._endpoints = endpoints_pb2_grpc.EndpointsServiceStub(self._channel)

    # ---- lifecycle ----

    def close(self) -> None:
        """Close the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GatewayClient({self.target!r})"

    def wait_for_ready(self, timeout: float | None = None) -> None:
        """Block until the channel is connected; `Unavailable` if not within `timeout` seconds."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise Unavailable(
                grpc.StatusCode.UNAVAILABLE,
                f"could not connect to {self.target} within {timeout} s",
            ) from None

    # ---- chat ----

    def chat(
        self,
        endpoint: str,
        messages: Iterable[MessageLike],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> chat_pb2.ChatResponse:
        """One chat completion from an `llm/v1/chat` endpoint (or a route over such endpoints).

        `params` are `ChatRequest` fields: temperature, top_p, top_k, max_tokens,
        max_completion_tokens, stop (a string or a list), n, presence_penalty,
        frequency_penalty, tools (dicts or `Tool`), tool_choice ("auto", "none", "required",
        `{"function_name": ...}` or `ToolChoice`), response_format (`{"type": ...}` or
        `ResponseFormat`), extra_params (a dict), model.
        """
        request = self._chat_request(endpoint, messages, params, "chat")
        return self._unary(self._chat.Chat, request, timeout, metadata)

    def stream_chat(
        self,
        endpoint: str,
        messages: Iterable[MessageLike],
        *,
        include_usage: bool | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> ResponseStream[chat_pb2.ChatChunk]:
        """The chat completion as chunks; `include_usage=True` adds a final usage-only chunk."""
        if include_usage is not None:
            params = {**params, "stream_options": {"include_usage": include_usage}}
        request = self._chat_request(endpoint, messages, params, "stream_chat")
        return self._stream(self._chat.StreamChat, request, timeout, metadata)

    # ---- completions ----

    def complete(
        self,
        endpoint: str,
        prompt: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> completions_pb2.CompletionResponse:
        """One text completion from an `llm/v1/completions` endpoint.

        `params` are `CompletionRequest` fields, as for `chat` (without tools).
        """
        request = self._completion_request(endpoint, prompt, params, "complete")
        return self._unary(self._completions.Complete, request, timeout, metadata)

    def stream_complete(
        self,
        endpoint: str,
        prompt: str,
        *,
        include_usage: bool | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> ResponseStream[completions_pb2.CompletionChunk]:
        """The text completion as chunks; `include_usage=True` adds a final usage-only chunk."""
        if include_usage is not None:
            params = {**params, "stream_options": {"include_usage": include_usage}}
        request = self._completion_request(endpoint, prompt, params, "stream_complete")
        return self._stream(self._completions.StreamComplete, request, timeout, metadata)

    # ---- embeddings ----

    def embed(
        self,
        endpoint: str,
        inputs: str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **params: Any,
    ) -> embeddings_pb2.EmbedResponse:
        """Embeddings from an `llm/v1/embeddings` endpoint, one per input, in input order.

        `inputs`: a text, a list of texts, one token-id list, or a list of token-id lists.
        `params`: encoding_format ("float" or "base64"), dimensions, extra_params, model.
        """
        request = embeddings_pb2.EmbedRequest(endpoint=endpoint)
        if isinstance(inputs, str):
            request.texts.append(inputs)
            request.single_input = True
        else:
            items = list(inputs)
            if all(isinstance(item, str) for item in items):
                request.texts.extend(items)  # type: ignore[arg-type]
            elif all(isinstance(item, int) for item in items):
                request.token_ids.add(ids=items)  # type: ignore[arg-type]
                request.single_input = True
            elif all(not isinstance(item, (str, bytes, int)) for item in items):
                for ids in items:
                    request.token_ids.add(ids=list(ids))  # type: ignore[arg-type]
            else:
                raise TypeError("embed(): inputs must be texts or token-id lists, not a mix")
        _apply_params(request, params, "embed")
        return self._unary(self._embeddings.Embed, request, timeout, metadata)

    # ---- discovery ----

    def list_endpoints(
        self,
        page_size: int | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[endpoints_pb2.Endpoint]:
        """Every endpoint, in config order, following page tokens (`page_size` per request).

        `timeout` bounds each page request.
        """
        return list(self.iter_endpoints(page_size, timeout=timeout, metadata=metadata))

    def iter_endpoints(
        self,
        page_size: int | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Iterator[endpoints_pb2.Endpoint]:
        """The endpoints lazily, one page request at a time."""
        token = ""
        seen: set[str] = set()
        while True:
            page = self.list_endpoints_page(
                page_size, page_token=token, timeout=timeout, metadata=metadata
            )
            yield from page.endpoints
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                raise GatewayError(
                    grpc.StatusCode.INTERNAL, f"ListEndpoints repeated the page token {token!r}"
                )
            seen.add(token)

    def list_endpoints_page(
        self,
        page_size: int | None = None,
        *,
        page_token: str = "",
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> endpoints_pb2.ListEndpointsResponse:
        """One page of endpoints; its `next_page_token` is empty on the last page."""
        if page_size is not None and page_size < 0:
            raise ValueError("page_size must not be negative")
        request = endpoints_pb2.ListEndpointsRequest(page_token=page_token, page_size=page_size or 0)
        return self._unary(self._endpoints.ListEndpoints, request, timeout, metadata)

    def get_endpoint(
        self,
        name: str,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> endpoints_pb2.Endpoint:
        """One endpoint by name; `NotFound` when there is none."""
        request = endpoints_pb2.GetEndpointRequest(name=name)
        return self._unary(self._endpoints.GetEndpoint, request, timeout, metadata)

    # ---- plumbing ----

    def _call_args(self, timeout: float | None, metadata: Metadata | None) -> dict[str, Any]:
        return {
            "timeout": self.timeout if timeout is None else timeout,
            "metadata": self._metadata + tuple(metadata or ()),
        }

    def _unary(self, method: Any, request: Any, timeout: float | None, metadata: Metadata | None) -> Any:
        try:
            return method(request, **self._call_args(timeout, metadata))
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err

    def _stream(self, method: Any, request: Any, timeout: float | None, metadata: Metadata | None) -> Any:
        try:
            call = method(request, **self._call_args(timeout, metadata))
        except grpc.RpcError as err:  # grpcio reports failures on iteration; this is a safety net
            raise from_rpc_error(err) from err
        return ResponseStream(call)

    @staticmethod
    def _chat_request(
        endpoint: str, messages: Iterable[MessageLike], params: Mapping[str, Any], what: str
    ) -> chat_pb2.ChatRequest:
        if isinstance(messages, (str, bytes, Mapping, chat_pb2.Message)):
            raise TypeError(f"{what}(): messages must be a list of messages, not one")
        request = chat_pb2.ChatRequest(endpoint=endpoint)
        request.messages.extend(_message(m, i) for i, m in enumerate(messages))
        _apply_params(request, params, what)
        return request

    @staticmethod
    def _completion_request(
        endpoint: str, prompt: str, params: Mapping[str, Any], what: str
    ) -> completions_pb2.CompletionRequest:
        if not isinstance(prompt, str):
            raise TypeError(f"{what}(): prompt must be a string, not {type(prompt).__name__}")
        request = completions_pb2.CompletionRequest(endpoint=endpoint, prompt=prompt)
        _apply_params(request, params, what)
        return request


# ---- request building ----

# Shorthands: a bare string for these message fields means the named subfield.
_STRING_SHORTHANDS = {
    "llmgateway.v1.ToolChoice": "mode",
    "llmgateway.v1.ResponseFormat": "type",
}


def _message(value: MessageLike, index: int) -> chat_pb2.Message:
    if isinstance(value, chat_pb2.Message):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(
            f"messages[{index}] must be a dict or llmgateway.v1.Message, not {type(value).__name__}"
        )
    data = dict(value)
    content = data.get("content")
    if isinstance(content, list):
        del data["content"]
        parts = []
        for part in content:
            part = dict(part)
            kind = part.pop("type", None)
            if isinstance(part, dict) and kind is not None and kind not in part:
                raise ValueError(f"messages[{index}]: content part of type {kind!r} has no {kind!r} key")
            parts.append(part)
        data["content_parts"] = parts
    try:
        return json_format.ParseDict(data, chat_pb2.Message())
    except json_format.ParseError as err:
        raise ValueError(f"messages[{index}]: {err}") from None


def _is_repeated(field: FieldDescriptor) -> bool:
    flag = getattr(field, "is_repeated", None)
    if isinstance(flag, bool):
        return flag
    return field.label == FieldDescriptor.LABEL_REPEATED


def _to_message(descriptor: Descriptor, value: Any, where: str) -> ProtoMessage:
    cls = message_factory.GetMessageClass(descriptor)
    if isinstance(value, ProtoMessage):
        if value.DESCRIPTOR.full_name != descriptor.full_name:
            raise TypeError(f"{where}: expected {descriptor.full_name}, got {value.DESCRIPTOR.full_name}")
        return value
    if descriptor.full_name == "google.protobuf.Struct":
        if not isinstance(value, Mapping):
            raise TypeError(f"{where}: expected a dict, got {type(value).__name__}")
        struct = struct_pb2.Struct()
        struct.update(dict(value))
        return struct
    shorthand = _STRING_SHORTHANDS.get(descriptor.full_name)
    if shorthand is not None and isinstance(value, str):
        value = {shorthand: value}
    if not isinstance(value, Mapping):
        raise TypeError(f"{where}: expected a dict or {descriptor.full_name}, got {type(value).__name__}")
    try:
        return json_format.ParseDict(dict(value), cls())
    except json_format.ParseError as err:
        raise ValueError(f"{where}: {err}") from None


def _apply_params(request: ProtoMessage, params: Mapping[str, Any], what: str) -> None:
    fields = request.DESCRIPTOR.fields_by_name
    for key, value in params.items():
        field = fields.get(key)
        if field is None or key in _POSITIONAL_FIELDS:
            raise TypeError(f"{what}() got an unexpected keyword argument {key!r}")
        if value is None:
            continue
        if field.message_type is not None:
            if _is_repeated(field):
                if isinstance(value, (str, bytes, Mapping, ProtoMessage)):
                    raise TypeError(f"{what}(): {key} must be a list")
                target = getattr(request, key)
                for i, item in enumerate(value):
                    target.add().CopyFrom(_to_message(field.message_type, item, f"{key}[{i}]"))
            else:
                getattr(request, key).CopyFrom(_to_message(field.message_type, value, key))
        elif _is_repeated(field):
            getattr(request, key).extend([value] if isinstance(value, str) else list(value))
        else:
            try:
                setattr(request, key, value)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{what}(): {key}: {err}") from None
