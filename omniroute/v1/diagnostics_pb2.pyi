from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class PingRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PingResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfo(_message.Message):
    __slots__ = ("version", "backend", "sequence", "positions", "locations", "skus", "channels", "read_model_bytes", "stale", "pid", "worker")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    SKUS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    READ_MODEL_BYTES_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    version: str
    backend: str
    sequence: int
    positions: int
    locations: int
    skus: int
    channels: int
    read_model_bytes: int
    stale: bool
    pid: int
    worker: int
    def __init__(self, version: _Optional[str] = ..., backend: _Optional[str] = ..., sequence: _Optional[int] = ..., positions: _Optional[int] = ..., locations: _Optional[int] = ..., skus: _Optional[int] = ..., channels: _Optional[int] = ..., read_model_bytes: _Optional[int] = ..., stale: _Optional[bool] = ..., pid: _Optional[int] = ..., worker: _Optional[int] = ...) -> None: ...
