import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReservationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESERVATION_STATUS_UNSPECIFIED: _ClassVar[ReservationStatus]
    HELD: _ClassVar[ReservationStatus]
    CONFIRMED: _ClassVar[ReservationStatus]
    RELEASED: _ClassVar[ReservationStatus]
    FULFILLED: _ClassVar[ReservationStatus]
    EXPIRED: _ClassVar[ReservationStatus]
RESERVATION_STATUS_UNSPECIFIED: ReservationStatus
HELD: ReservationStatus
CONFIRMED: ReservationStatus
RELEASED: ReservationStatus
FULFILLED: ReservationStatus
EXPIRED: ReservationStatus

class HoldLine(_message.Message):
    __slots__ = ("sku", "quantity", "location", "group")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    location: str
    group: str
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ..., location: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class ReserveRequest(_message.Message):
    __slots__ = ("reservation_id", "channel", "lines", "ttl_seconds")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    channel: str
    lines: _containers.RepeatedCompositeFieldContainer[HoldLine]
    ttl_seconds: int
    def __init__(self, reservation_id: _Optional[str] = ..., channel: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[HoldLine, _Mapping]]] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class LineQuantity(_message.Message):
    __slots__ = ("sku", "place", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    place: str
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., place: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Allocation(_message.Message):
    __slots__ = ("location", "quantity")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    location: str
    quantity: int
    def __init__(self, location: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class LineMove(_message.Message):
    __slots__ = ("sku", "place", "to")
    SKU_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    sku: str
    place: str
    to: _containers.RepeatedCompositeFieldContainer[Allocation]
    def __init__(self, sku: _Optional[str] = ..., place: _Optional[str] = ..., to: _Optional[_Iterable[_Union[Allocation, _Mapping]]] = ...) -> None: ...

class ConfirmRequest(_message.Message):
    __slots__ = ("reservation_id", "moves")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    MOVES_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    moves: _containers.RepeatedCompositeFieldContainer[LineMove]
    def __init__(self, reservation_id: _Optional[str] = ..., moves: _Optional[_Iterable[_Union[LineMove, _Mapping]]] = ...) -> None: ...

class ExtendRequest(_message.Message):
    __slots__ = ("reservation_id", "ttl_seconds")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    ttl_seconds: int
    def __init__(self, reservation_id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("reservation_id", "lines", "operation_id")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    lines: _containers.RepeatedCompositeFieldContainer[LineQuantity]
    operation_id: str
    def __init__(self, reservation_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[LineQuantity, _Mapping]]] = ..., operation_id: _Optional[str] = ...) -> None: ...

class FulfillRequest(_message.Message):
    __slots__ = ("reservation_id", "lines", "operation_id")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    lines: _containers.RepeatedCompositeFieldContainer[LineQuantity]
    operation_id: str
    def __init__(self, reservation_id: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[LineQuantity, _Mapping]]] = ..., operation_id: _Optional[str] = ...) -> None: ...

class GetReservationRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class ReservationLine(_message.Message):
    __slots__ = ("sku", "place", "at_location", "held", "fulfilled", "released")
    SKU_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    AT_LOCATION_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    FULFILLED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    sku: str
    place: str
    at_location: bool
    held: int
    fulfilled: int
    released: int
    def __init__(self, sku: _Optional[str] = ..., place: _Optional[str] = ..., at_location: _Optional[bool] = ..., held: _Optional[int] = ..., fulfilled: _Optional[int] = ..., released: _Optional[int] = ...) -> None: ...

class Reservation(_message.Message):
    __slots__ = ("reservation_id", "channel", "status", "lines", "created_at", "expires_at", "sequence")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    channel: str
    status: ReservationStatus
    lines: _containers.RepeatedCompositeFieldContainer[ReservationLine]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    sequence: int
    def __init__(self, reservation_id: _Optional[str] = ..., channel: _Optional[str] = ..., status: _Optional[_Union[ReservationStatus, str]] = ..., lines: _Optional[_Iterable[_Union[ReservationLine, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...

class ReconcileRequest(_message.Message):
    __slots__ = ("repair", "skus")
    REPAIR_FIELD_NUMBER: _ClassVar[int]
    SKUS_FIELD_NUMBER: _ClassVar[int]
    repair: bool
    skus: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, repair: _Optional[bool] = ..., skus: _Optional[_Iterable[str]] = ...) -> None: ...

class Inconsistency(_message.Message):
    __slots__ = ("sku", "place", "counter", "expected", "found", "reservations", "repaired")
    SKU_FIELD_NUMBER: _ClassVar[int]
    PLACE_FIELD_NUMBER: _ClassVar[int]
    COUNTER_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    RESERVATIONS_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    sku: str
    place: str
    counter: str
    expected: int
    found: int
    reservations: _containers.RepeatedScalarFieldContainer[str]
    repaired: bool
    def __init__(self, sku: _Optional[str] = ..., place: _Optional[str] = ..., counter: _Optional[str] = ..., expected: _Optional[int] = ..., found: _Optional[int] = ..., reservations: _Optional[_Iterable[str]] = ..., repaired: _Optional[bool] = ...) -> None: ...

class ReconcileReport(_message.Message):
    __slots__ = ("inconsistencies", "positions_checked", "reservations_checked", "sequence")
    INCONSISTENCIES_FIELD_NUMBER: _ClassVar[int]
    POSITIONS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    RESERVATIONS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    inconsistencies: _containers.RepeatedCompositeFieldContainer[Inconsistency]
    positions_checked: int
    reservations_checked: int
    sequence: int
    def __init__(self, inconsistencies: _Optional[_Iterable[_Union[Inconsistency, _Mapping]]] = ..., positions_checked: _Optional[int] = ..., reservations_checked: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...
