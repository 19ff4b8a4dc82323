"""A typed Python client for llm-gateway's gRPC API.

    from llm_gateway_client import GatewayClient, NotFound

    with GatewayClient("127.0.0.1:5000") as gw:
        reply = gw.chat("chat", [{"role": "user", "content": "hello"}], temperature=0.2)
        print(reply.choices[0].message.content)

The generated protobuf modules are importable as `llm_gateway_client.pb.chat_pb2`, ...; the
message types used most are re-exported here.
"""

from __future__ import annotations

from ._pb.llmgateway.v1 import (
    chat_pb2,
    common_pb2,
    completions_pb2,
    embeddings_pb2,
    endpoints_pb2,
)
from .client import GatewayClient, MessageLike, Metadata, ResponseStream
from .errors import (
    DeadlineExceeded,
    GatewayError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

ChatRequest = chat_pb2.ChatRequest
ChatResponse = chat_pb2.ChatResponse
ChatChunk = chat_pb2.ChatChunk
Message = chat_pb2.Message
Tool = chat_pb2.Tool
CompletionRequest = completions_pb2.CompletionRequest
CompletionResponse = completions_pb2.CompletionResponse
CompletionChunk = completions_pb2.CompletionChunk
EmbedRequest = embeddings_pb2.EmbedRequest
EmbedResponse = embeddings_pb2.EmbedResponse
Endpoint = endpoints_pb2.Endpoint
Usage = common_pb2.Usage

__version__ = "0.1.0"

__all__ = [
    "GatewayClient",
    "ResponseStream",
    "MessageLike",
    "Metadata",
    "GatewayError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "ResourceExhausted",
    "DeadlineExceeded",
    "Unavailable",
    "Unimplemented",
    "Internal",
    "ChatRequest",
    "ChatResponse",
    "ChatChunk",
    "Message",
    "Tool",
    "CompletionRequest",
    "CompletionResponse",
    "CompletionChunk",
    "EmbedRequest",
    "EmbedResponse",
    "Endpoint",
    "Usage",
]
