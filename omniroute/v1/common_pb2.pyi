from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FulfillmentMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FULFILLMENT_METHOD_UNSPECIFIED: _ClassVar[FulfillmentMethod]
    SHIP: _ClassVar[FulfillmentMethod]
    PICKUP: _ClassVar[FulfillmentMethod]
    CURBSIDE: _ClassVar[FulfillmentMethod]
    SAME_DAY: _ClassVar[FulfillmentMethod]

class StockStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STOCK_STATUS_UNSPECIFIED: _ClassVar[StockStatus]
    OUT_OF_STOCK: _ClassVar[StockStatus]
    LOW_STOCK: _ClassVar[StockStatus]
    IN_STOCK: _ClassVar[StockStatus]

class LocationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOCATION_TYPE_UNSPECIFIED: _ClassVar[LocationType]
    DISTRIBUTION_CENTER: _ClassVar[LocationType]
    STORE: _ClassVar[LocationType]
    DARK_STORE: _ClassVar[LocationType]
    DROP_SHIP_VENDOR: _ClassVar[LocationType]
FULFILLMENT_METHOD_UNSPECIFIED: FulfillmentMethod
SHIP: FulfillmentMethod
PICKUP: FulfillmentMethod
CURBSIDE: FulfillmentMethod
SAME_DAY: FulfillmentMethod
STOCK_STATUS_UNSPECIFIED: StockStatus
OUT_OF_STOCK: StockStatus
LOW_STOCK: StockStatus
IN_STOCK: StockStatus
LOCATION_TYPE_UNSPECIFIED: LocationType
DISTRIBUTION_CENTER: LocationType
STORE: LocationType
DARK_STORE: LocationType
DROP_SHIP_VENDOR: LocationType

class Date(_message.Message):
    __slots__ = ("year", "month", "day")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("latitude", "longitude")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class LocationList(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Radius(_message.Message):
    __slots__ = ("center", "radius_km")
    CENTER_FIELD_NUMBER: _ClassVar[int]
    RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    center: Point
    radius_km: float
    def __init__(self, center: _Optional[_Union[Point, _Mapping]] = ..., radius_km: _Optional[float] = ...) -> None: ...

class Scope(_message.Message):
    __slots__ = ("network", "group", "locations", "radius")
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    RADIUS_FIELD_NUMBER: _ClassVar[int]
    network: bool
    group: str
    locations: LocationList
    radius: Radius
    def __init__(self, network: _Optional[bool] = ..., group: _Optional[str] = ..., locations: _Optional[_Union[LocationList, _Mapping]] = ..., radius: _Optional[_Union[Radius, _Mapping]] = ...) -> None: ...

class CartLine(_message.Message):
    __slots__ = ("sku", "quantity")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("id", "name", "type", "point", "timezone", "methods", "channels", "processing_hours", "cutoff", "daily_capacity", "handling_cost_per_order", "handling_cost_per_unit", "priority", "enabled")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    POINT_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_HOURS_FIELD_NUMBER: _ClassVar[int]
    CUTOFF_FIELD_NUMBER: _ClassVar[int]
    DAILY_CAPACITY_FIELD_NUMBER: _ClassVar[int]
    HANDLING_COST_PER_ORDER_FIELD_NUMBER: _ClassVar[int]
    HANDLING_COST_PER_UNIT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    type: LocationType
    point: Point
    timezone: str
    methods: _containers.RepeatedScalarFieldContainer[FulfillmentMethod]
    channels: _containers.RepeatedScalarFieldContainer[str]
    processing_hours: int
    cutoff: str
    daily_capacity: int
    handling_cost_per_order: int
    handling_cost_per_unit: int
    priority: int
    enabled: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[LocationType, str]] = ..., point: _Optional[_Union[Point, _Mapping]] = ..., timezone: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[FulfillmentMethod, str]]] = ..., channels: _Optional[_Iterable[str]] = ..., processing_hours: _Optional[int] = ..., cutoff: _Optional[str] = ..., daily_capacity: _Optional[int] = ..., handling_cost_per_order: _Optional[int] = ..., handling_cost_per_unit: _Optional[int] = ..., priority: _Optional[int] = ..., enabled: _Optional[bool] = ...) -> None: ...

class WriteResponse(_message.Message):
    __slots__ = ("sequence",)
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    def __init__(self, sequence: _Optional[int] = ...) -> None: ...
