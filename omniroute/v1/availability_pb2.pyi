from omniroute.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetAvailabilityRequest(_message.Message):
    __slots__ = ("skus", "channel", "method", "scope", "as_of", "per_location", "min_sequence")
    SKUS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    PER_LOCATION_FIELD_NUMBER: _ClassVar[int]
    MIN_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    skus: _containers.RepeatedScalarFieldContainer[str]
    channel: str
    method: _common_pb2.FulfillmentMethod
    scope: _common_pb2.Scope
    as_of: _common_pb2.Date
    per_location: bool
    min_sequence: int
    def __init__(self, skus: _Optional[_Iterable[str]] = ..., channel: _Optional[str] = ..., method: _Optional[_Union[_common_pb2.FulfillmentMethod, str]] = ..., scope: _Optional[_Union[_common_pb2.Scope, _Mapping]] = ..., as_of: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., per_location: _Optional[bool] = ..., min_sequence: _Optional[int] = ...) -> None: ...

class GetAvailabilityResponse(_message.Message):
    __slots__ = ("quantity", "status", "unknown", "sequence", "locations", "stale")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    quantity: _containers.RepeatedScalarFieldContainer[int]
    status: _containers.RepeatedScalarFieldContainer[_common_pb2.StockStatus]
    unknown: _containers.RepeatedScalarFieldContainer[bool]
    sequence: int
    locations: LocationColumns
    stale: bool
    def __init__(self, quantity: _Optional[_Iterable[int]] = ..., status: _Optional[_Iterable[_Union[_common_pb2.StockStatus, str]]] = ..., unknown: _Optional[_Iterable[bool]] = ..., sequence: _Optional[int] = ..., locations: _Optional[_Union[LocationColumns, _Mapping]] = ..., stale: _Optional[bool] = ...) -> None: ...

class LocationColumns(_message.Message):
    __slots__ = ("sku_index", "location", "quantity", "status")
    SKU_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    sku_index: _containers.RepeatedScalarFieldContainer[int]
    location: _containers.RepeatedScalarFieldContainer[str]
    quantity: _containers.RepeatedScalarFieldContainer[int]
    status: _containers.RepeatedScalarFieldContainer[_common_pb2.StockStatus]
    def __init__(self, sku_index: _Optional[_Iterable[int]] = ..., location: _Optional[_Iterable[str]] = ..., quantity: _Optional[_Iterable[int]] = ..., status: _Optional[_Iterable[_Union[_common_pb2.StockStatus, str]]] = ...) -> None: ...

class FindNearbyStoresRequest(_message.Message):
    __slots__ = ("lines", "near", "radius_km", "channel", "methods", "limit", "whole_cart_only")
    LINES_FIELD_NUMBER: _ClassVar[int]
    NEAR_FIELD_NUMBER: _ClassVar[int]
    RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    WHOLE_CART_ONLY_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[_common_pb2.CartLine]
    near: _common_pb2.Point
    radius_km: float
    channel: str
    methods: _containers.RepeatedScalarFieldContainer[_common_pb2.FulfillmentMethod]
    limit: int
    whole_cart_only: bool
    def __init__(self, lines: _Optional[_Iterable[_Union[_common_pb2.CartLine, _Mapping]]] = ..., near: _Optional[_Union[_common_pb2.Point, _Mapping]] = ..., radius_km: _Optional[float] = ..., channel: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[_common_pb2.FulfillmentMethod, str]]] = ..., limit: _Optional[int] = ..., whole_cart_only: _Optional[bool] = ...) -> None: ...

class NearbyStore(_message.Message):
    __slots__ = ("location", "name", "distance_km", "methods", "available", "whole_cart", "point")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_KM_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    WHOLE_CART_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    location: str
    name: str
    distance_km: float
    methods: _containers.RepeatedScalarFieldContainer[_common_pb2.FulfillmentMethod]
    available: _containers.RepeatedScalarFieldContainer[int]
    whole_cart: bool
    point: _common_pb2.Point
    def __init__(self, location: _Optional[str] = ..., name: _Optional[str] = ..., distance_km: _Optional[float] = ..., methods: _Optional[_Iterable[_Union[_common_pb2.FulfillmentMethod, str]]] = ..., available: _Optional[_Iterable[int]] = ..., whole_cart: _Optional[bool] = ..., point: _Optional[_Union[_common_pb2.Point, _Mapping]] = ...) -> None: ...

class FindNearbyStoresResponse(_message.Message):
    __slots__ = ("stores", "sequence", "stale")
    STORES_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    stores: _containers.RepeatedCompositeFieldContainer[NearbyStore]
    sequence: int
    stale: bool
    def __init__(self, stores: _Optional[_Iterable[_Union[NearbyStore, _Mapping]]] = ..., sequence: _Optional[int] = ..., stale: _Optional[bool] = ...) -> None: ...

class WatchAvailabilityRequest(_message.Message):
    __slots__ = ("skus", "locations", "channel", "method", "status_changes_only", "include_initial")
    SKUS_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_CHANGES_ONLY_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INITIAL_FIELD_NUMBER: _ClassVar[int]
    skus: _containers.RepeatedScalarFieldContainer[str]
    locations: _containers.RepeatedScalarFieldContainer[str]
    channel: str
    method: _common_pb2.FulfillmentMethod
    status_changes_only: bool
    include_initial: bool
    def __init__(self, skus: _Optional[_Iterable[str]] = ..., locations: _Optional[_Iterable[str]] = ..., channel: _Optional[str] = ..., method: _Optional[_Union[_common_pb2.FulfillmentMethod, str]] = ..., status_changes_only: _Optional[bool] = ..., include_initial: _Optional[bool] = ...) -> None: ...

class AvailabilityChange(_message.Message):
    __slots__ = ("sku", "location", "quantity", "previous_quantity", "status", "previous_status", "sequence", "stale")
    SKU_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    sku: str
    location: str
    quantity: int
    previous_quantity: int
    status: _common_pb2.StockStatus
    previous_status: _common_pb2.StockStatus
    sequence: int
    stale: bool
    def __init__(self, sku: _Optional[str] = ..., location: _Optional[str] = ..., quantity: _Optional[int] = ..., previous_quantity: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.StockStatus, str]] = ..., previous_status: _Optional[_Union[_common_pb2.StockStatus, str]] = ..., sequence: _Optional[int] = ..., stale: _Optional[bool] = ...) -> None: ...

class ExportLocalInventoryRequest(_message.Message):
    __slots__ = ("channel", "locations", "chunk_rows")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ROWS_FIELD_NUMBER: _ClassVar[int]
    channel: str
    locations: _containers.RepeatedScalarFieldContainer[str]
    chunk_rows: int
    def __init__(self, channel: _Optional[str] = ..., locations: _Optional[_Iterable[str]] = ..., chunk_rows: _Optional[int] = ...) -> None: ...

class LocalInventoryChunk(_message.Message):
    __slots__ = ("store_code", "id", "quantity", "availability", "pickup_method", "pickup_sla", "stale")
    STORE_CODE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    PICKUP_METHOD_FIELD_NUMBER: _ClassVar[int]
    PICKUP_SLA_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    store_code: _containers.RepeatedScalarFieldContainer[str]
    id: _containers.RepeatedScalarFieldContainer[str]
    quantity: _containers.RepeatedScalarFieldContainer[int]
    availability: _containers.RepeatedScalarFieldContainer[str]
    pickup_method: _containers.RepeatedScalarFieldContainer[str]
    pickup_sla: _containers.RepeatedScalarFieldContainer[str]
    stale: bool
    def __init__(self, store_code: _Optional[_Iterable[str]] = ..., id: _Optional[_Iterable[str]] = ..., quantity: _Optional[_Iterable[int]] = ..., availability: _Optional[_Iterable[str]] = ..., pickup_method: _Optional[_Iterable[str]] = ..., pickup_sla: _Optional[_Iterable[str]] = ..., stale: _Optional[bool] = ...) -> None: ...
