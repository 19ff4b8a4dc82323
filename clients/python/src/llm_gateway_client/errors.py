"""Exceptions raised by `GatewayClient`: one per failed call, carrying the gRPC status."""

from __future__ import annotations

import grpc

__all__ = [
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
    "from_rpc_error",
]


class GatewayError(Exception):
    """A call to the gateway failed.

    `code` is the `grpc.StatusCode` and `message` the status message the gateway (or the local
    gRPC runtime, for deadlines and connection failures) gave. Catch a subclass for one code, or
    this class for all of them.
    """

    code: grpc.StatusCode
    message: str

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        trailing_metadata: tuple[tuple[str, str | bytes], ...] = (),
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.trailing_metadata = trailing_metadata

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}" if self.message else self.code.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.name}, message={self.message!r})"


class InvalidArgument(GatewayError):
    """INVALID_ARGUMENT: the request is malformed, or the endpoint has another type."""


class NotFound(GatewayError):
    """NOT_FOUND: no endpoint or route has that name."""


class PermissionDenied(GatewayError):
    """PERMISSION_DENIED: the API key may not use that endpoint."""


class Unauthenticated(GatewayError):
    """UNAUTHENTICATED: the gateway requires an API key and got none, or an unknown one."""


class ResourceExhausted(GatewayError):
    """RESOURCE_EXHAUSTED: a rate limit was hit, or the message is too large."""


class DeadlineExceeded(GatewayError):
    """DEADLINE_EXCEEDED: the call's timeout passed before the answer."""


class Unavailable(GatewayError):
    """UNAVAILABLE: the gateway or its upstream could not be reached."""


class Unimplemented(GatewayError):
    """UNIMPLEMENTED: the endpoint's provider cannot serve this kind of call."""


class Internal(GatewayError):
    """INTERNAL: the gateway or upstream failed unexpectedly."""


_BY_CODE: dict[grpc.StatusCode, type[GatewayError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
}


def from_rpc_error(err: grpc.RpcError) -> GatewayError:
    """The `GatewayError` subclass for a failed grpcio call (`grpc.RpcError` that is a `grpc.Call`)."""
    code_fn = getattr(err, "code", None)
    details_fn = getattr(err, "details", None)
    code = code_fn() if callable(code_fn) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = (details_fn() if callable(details_fn) else None) or ""
    trailing_fn = getattr(err, "trailing_metadata", None)
    trailing = trailing_fn() if callable(trailing_fn) else None
    cls = _BY_CODE.get(code, GatewayError)
    return cls(code, message, trailing_metadata=tuple(trailing or ()))
