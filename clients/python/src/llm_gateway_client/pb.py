"""The generated protobuf and grpcio modules of `proto/llmgateway/v1`, under short names.

    from llm_gateway_client.pb import chat_pb2, chat_pb2_grpc
"""

from __future__ import annotations

from ._pb.llmgateway.v1 import (
    chat_pb2,
    chat_pb2_grpc,
    common_pb2,
    completions_pb2,
    completions_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
    endpoints_pb2,
    endpoints_pb2_grpc,
)

__all__ = [
    "chat_pb2",
    "chat_pb2_grpc",
    "common_pb2",
    "completions_pb2",
    "completions_pb2_grpc",
    "embeddings_pb2",
    "embeddings_pb2_grpc",
    "endpoints_pb2",
    "endpoints_pb2_grpc",
]
