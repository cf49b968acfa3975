import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from omniroute.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StockEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOCK_EVENT_TYPE_UNSPECIFIED: _ClassVar[StockEventType]
    RECEIPT: _ClassVar[StockEventType]
    SALE: _ClassVar[StockEventType]
    RETURN_SELLABLE: _ClassVar[StockEventType]
    RETURN_DAMAGED: _ClassVar[StockEventType]
    ADJUSTMENT: _ClassVar[StockEventType]
    CYCLE_COUNT: _ClassVar[StockEventType]
    TRANSFER_OUT: _ClassVar[StockEventType]
    TRANSFER_IN: _ClassVar[StockEventType]

class EventOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_OUTCOME_UNSPECIFIED: _ClassVar[EventOutcome]
    APPLIED: _ClassVar[EventOutcome]
    DUPLICATE: _ClassVar[EventOutcome]
    STALE: _ClassVar[EventOutcome]
    REJECTED: _ClassVar[EventOutcome]
STOCK_EVENT_TYPE_UNSPECIFIED: StockEventType
RECEIPT: StockEventType
SALE: StockEventType
RETURN_SELLABLE: StockEventType
RETURN_DAMAGED: StockEventType
ADJUSTMENT: StockEventType
CYCLE_COUNT: StockEventType
TRANSFER_OUT: StockEventType
TRANSFER_IN: StockEventType
EVENT_OUTCOME_UNSPECIFIED: EventOutcome
APPLIED: EventOutcome
DUPLICATE: EventOutcome
STALE: EventOutcome
REJECTED: EventOutcome

class StockEvent(_message.Message):
    __slots__ = ("event_id", "type", "location", "sku", "quantity", "occurred_at", "channel")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: StockEventType
    location: str
    sku: str
    quantity: int
    occurred_at: _timestamp_pb2.Timestamp
    channel: str
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[StockEventType, str]] = ..., location: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[str] = ...) -> None: ...

class ApplyStockEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[StockEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[StockEvent, _Mapping]]] = ...) -> None: ...

class EventNote(_message.Message):
    __slots__ = ("index", "reason")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ApplyStockEventsResponse(_message.Message):
    __slots__ = ("outcome", "notes", "sequence", "applied", "duplicates", "stale", "rejected")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    outcome: _containers.RepeatedScalarFieldContainer[EventOutcome]
    notes: _containers.RepeatedCompositeFieldContainer[EventNote]
    sequence: int
    applied: int
    duplicates: int
    stale: int
    rejected: int
    def __init__(self, outcome: _Optional[_Iterable[_Union[EventOutcome, str]]] = ..., notes: _Optional[_Iterable[_Union[EventNote, _Mapping]]] = ..., sequence: _Optional[int] = ..., applied: _Optional[int] = ..., duplicates: _Optional[int] = ..., stale: _Optional[int] = ..., rejected: _Optional[int] = ...) -> None: ...

class LoadSnapshotRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class LoadSnapshotResponse(_message.Message):
    __slots__ = ("sequence", "positions", "locations", "skus", "seconds")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    SKUS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    positions: int
    locations: int
    skus: int
    seconds: float
    def __init__(self, sequence: _Optional[int] = ..., positions: _Optional[int] = ..., locations: _Optional[int] = ..., skus: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class GetPositionsRequest(_message.Message):
    __slots__ = ("skus", "locations")
    SKUS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    skus: _containers.RepeatedScalarFieldContainer[str]
    locations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, skus: _Optional[_Iterable[str]] = ..., locations: _Optional[_Iterable[str]] = ...) -> None: ...

class Inbound(_message.Message):
    __slots__ = ("expected", "quantity", "type", "promisable")
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PROMISABLE_FIELD_NUMBER: _ClassVar[int]
    expected: _common_pb2.Date
    quantity: int
    type: str
    promisable: int
    def __init__(self, expected: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., quantity: _Optional[int] = ..., type: _Optional[str] = ..., promisable: _Optional[int] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("sku", "location", "on_hand", "reserved", "safety_stock", "safety_stock_explicit", "inbound")
    SKU_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    SAFETY_STOCK_FIELD_NUMBER: _ClassVar[int]
    SAFETY_STOCK_EXPLICIT_FIELD_NUMBER: _ClassVar[int]
    INBOUND_FIELD_NUMBER: _ClassVar[int]
    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    safety_stock_explicit: bool
    inbound: _containers.RepeatedCompositeFieldContainer[Inbound]
    def __init__(self, sku: _Optional[str] = ..., location: _Optional[str] = ..., on_hand: _Optional[int] = ..., reserved: _Optional[int] = ..., safety_stock: _Optional[int] = ..., safety_stock_explicit: _Optional[bool] = ..., inbound: _Optional[_Iterable[_Union[Inbound, _Mapping]]] = ...) -> None: ...

class ChannelAllocation(_message.Message):
    __slots__ = ("sku", "channel", "quantity", "consumed")
    SKU_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_FIELD_NUMBER: _ClassVar[int]
    sku: str
    channel: str
    quantity: int
    consumed: int
    def __init__(self, sku: _Optional[str] = ..., channel: _Optional[str] = ..., quantity: _Optional[int] = ..., consumed: _Optional[int] = ...) -> None: ...

class GetPositionsResponse(_message.Message):
    __slots__ = ("positions", "allocations", "unknown_skus", "sequence")
    POSITIONS_FIELD_NUMBER: _ClassVar[int]
    ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_SKUS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    positions: _containers.RepeatedCompositeFieldContainer[Position]
    allocations: _containers.RepeatedCompositeFieldContainer[ChannelAllocation]
    unknown_skus: _containers.RepeatedScalarFieldContainer[str]
    sequence: int
    def __init__(self, positions: _Optional[_Iterable[_Union[Position, _Mapping]]] = ..., allocations: _Optional[_Iterable[_Union[ChannelAllocation, _Mapping]]] = ..., unknown_skus: _Optional[_Iterable[str]] = ..., sequence: _Optional[int] = ...) -> None: ...

class SafetyStock(_message.Message):
    __slots__ = ("sku", "location", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    location: str
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., location: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class SetSafetyStockRequest(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[SafetyStock]
    def __init__(self, entries: _Optional[_Iterable[_Union[SafetyStock, _Mapping]]] = ...) -> None: ...

class SetAllocationsRequest(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ChannelAllocation]
    def __init__(self, entries: _Optional[_Iterable[_Union[ChannelAllocation, _Mapping]]] = ...) -> None: ...

class UpsertLocationsRequest(_message.Message):
    __slots__ = ("locations",)
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    locations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Location]
    def __init__(self, locations: _Optional[_Iterable[_Union[_common_pb2.Location, _Mapping]]] = ...) -> None: ...
