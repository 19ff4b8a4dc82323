from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListEndpointsRequest(_message.Message):
    __slots__ = ("page_token", "page_size")
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    page_token: str
    page_size: int
    def __init__(self, page_token: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListEndpointsResponse(_message.Message):
    __slots__ = ("endpoints", "next_page_token")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    next_page_token: str
    def __init__(self, endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetEndpointRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("name", "endpoint_type", "model", "endpoint_url", "limit")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_URL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint_type: str
    model: EndpointModel
    endpoint_url: str
    limit: RateLimit
    def __init__(self, name: _Optional[str] = ..., endpoint_type: _Optional[str] = ..., model: _Optional[_Union[EndpointModel, _Mapping]] = ..., endpoint_url: _Optional[str] = ..., limit: _Optional[_Union[RateLimit, _Mapping]] = ...) -> None: ...

class EndpointModel(_message.Message):
    __slots__ = ("name", "provider")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    name: str
    provider: str
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("calls", "renewal_period", "key")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    RENEWAL_PERIOD_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    calls: int
    renewal_period: str
    key: str
    def __init__(self, calls: _Optional[int] = ..., renewal_period: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...
