import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from omniroute.v1 import common_pb2 as _common_pb2
from omniroute.v1 import inventory_pb2 as _inventory_pb2
from omniroute.v1 import reservation_pb2 as _reservation_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliveryMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_METHOD_UNSPECIFIED: _ClassVar[DeliveryMethod]
    DELIVERY_STANDARD: _ClassVar[DeliveryMethod]
    DELIVERY_EXPRESS: _ClassVar[DeliveryMethod]
    DELIVERY_PICKUP: _ClassVar[DeliveryMethod]
    DELIVERY_CURBSIDE: _ClassVar[DeliveryMethod]
    DELIVERY_SAME_DAY: _ClassVar[DeliveryMethod]

class SolveStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOLVE_STATUS_UNSPECIFIED: _ClassVar[SolveStatus]
    OPTIMAL: _ClassVar[SolveStatus]
    FEASIBLE: _ClassVar[SolveStatus]
    INFEASIBLE: _ClassVar[SolveStatus]

class UnfulfilledReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNFULFILLED_REASON_UNSPECIFIED: _ClassVar[UnfulfilledReason]
    UNKNOWN_SKU: _ClassVar[UnfulfilledReason]
    NO_STOCK: _ClassVar[UnfulfilledReason]
    EXCLUDED: _ClassVar[UnfulfilledReason]
    DELIVER_BY: _ClassVar[UnfulfilledReason]
    CAPACITY: _ClassVar[UnfulfilledReason]
    MAX_SHIPMENTS: _ClassVar[UnfulfilledReason]

class RejectReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECT_REASON_UNSPECIFIED: _ClassVar[RejectReason]
    NOT_FOUND: _ClassVar[RejectReason]
    DAMAGED: _ClassVar[RejectReason]
    MISMATCH: _ClassVar[RejectReason]
DELIVERY_METHOD_UNSPECIFIED: DeliveryMethod
DELIVERY_STANDARD: DeliveryMethod
DELIVERY_EXPRESS: DeliveryMethod
DELIVERY_PICKUP: DeliveryMethod
DELIVERY_CURBSIDE: DeliveryMethod
DELIVERY_SAME_DAY: DeliveryMethod
SOLVE_STATUS_UNSPECIFIED: SolveStatus
OPTIMAL: SolveStatus
FEASIBLE: SolveStatus
INFEASIBLE: SolveStatus
UNFULFILLED_REASON_UNSPECIFIED: UnfulfilledReason
UNKNOWN_SKU: UnfulfilledReason
NO_STOCK: UnfulfilledReason
EXCLUDED: UnfulfilledReason
DELIVER_BY: UnfulfilledReason
CAPACITY: UnfulfilledReason
MAX_SHIPMENTS: UnfulfilledReason
REJECT_REASON_UNSPECIFIED: RejectReason
NOT_FOUND: RejectReason
DAMAGED: RejectReason
MISMATCH: RejectReason

class OrderLine(_message.Message):
    __slots__ = ("sku", "quantity", "excluded_locations")
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    sku: str
    quantity: int
    excluded_locations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sku: _Optional[str] = ..., quantity: _Optional[int] = ..., excluded_locations: _Optional[_Iterable[str]] = ...) -> None: ...

class Destination(_message.Message):
    __slots__ = ("point", "store")
    POINT_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    point: _common_pb2.Point
    store: str
    def __init__(self, point: _Optional[_Union[_common_pb2.Point, _Mapping]] = ..., store: _Optional[str] = ...) -> None: ...

class RoutingOptions(_message.Message):
    __slots__ = ("max_shipments", "allow_partial", "allow_backorder", "excluded_locations")
    MAX_SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    ALLOW_BACKORDER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    max_shipments: int
    allow_partial: bool
    allow_backorder: bool
    excluded_locations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, max_shipments: _Optional[int] = ..., allow_partial: _Optional[bool] = ..., allow_backorder: _Optional[bool] = ..., excluded_locations: _Optional[_Iterable[str]] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "channel", "lines", "destination", "method", "deliver_by", "placed_at", "options")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DELIVER_BY_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    channel: str
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    destination: Destination
    method: DeliveryMethod
    deliver_by: _common_pb2.Date
    placed_at: _timestamp_pb2.Timestamp
    options: RoutingOptions
    def __init__(self, order_id: _Optional[str] = ..., channel: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., destination: _Optional[_Union[Destination, _Mapping]] = ..., method: _Optional[_Union[DeliveryMethod, str]] = ..., deliver_by: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., placed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., options: _Optional[_Union[RoutingOptions, _Mapping]] = ...) -> None: ...

class RouteOrderRequest(_message.Message):
    __slots__ = ("order", "policy", "hold", "reservation_id", "time_limit_seconds")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    order: Order
    policy: str
    hold: bool
    reservation_id: str
    time_limit_seconds: float
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., policy: _Optional[str] = ..., hold: _Optional[bool] = ..., reservation_id: _Optional[str] = ..., time_limit_seconds: _Optional[float] = ...) -> None: ...

class CostBreakdown(_message.Message):
    __slots__ = ("parcel", "weight", "handling", "protection", "extra_shipment", "total")
    PARCEL_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    HANDLING_FIELD_NUMBER: _ClassVar[int]
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    parcel: int
    weight: int
    handling: int
    protection: int
    extra_shipment: int
    total: int
    def __init__(self, parcel: _Optional[int] = ..., weight: _Optional[int] = ..., handling: _Optional[int] = ..., protection: _Optional[int] = ..., extra_shipment: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class ShipmentLine(_message.Message):
    __slots__ = ("line", "sku", "quantity")
    LINE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    line: int
    sku: str
    quantity: int
    def __init__(self, line: _Optional[int] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ...) -> None: ...

class Shipment(_message.Message):
    __slots__ = ("location", "lines", "ship_date", "delivery_date", "distance_km", "cost")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    SHIP_DATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_DATE_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_KM_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    location: str
    lines: _containers.RepeatedCompositeFieldContainer[ShipmentLine]
    ship_date: _common_pb2.Date
    delivery_date: _common_pb2.Date
    distance_km: float
    cost: CostBreakdown
    def __init__(self, location: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[ShipmentLine, _Mapping]]] = ..., ship_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., delivery_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., distance_km: _Optional[float] = ..., cost: _Optional[_Union[CostBreakdown, _Mapping]] = ...) -> None: ...

class UnfulfilledLine(_message.Message):
    __slots__ = ("line", "sku", "requested", "missing", "reason", "backordered", "expected_date", "expected_location", "expected_delivery_date", "backorder_note")
    LINE_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BACKORDERED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOCATION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DELIVERY_DATE_FIELD_NUMBER: _ClassVar[int]
    BACKORDER_NOTE_FIELD_NUMBER: _ClassVar[int]
    line: int
    sku: str
    requested: int
    missing: int
    reason: UnfulfilledReason
    backordered: bool
    expected_date: _common_pb2.Date
    expected_location: str
    expected_delivery_date: _common_pb2.Date
    backorder_note: str
    def __init__(self, line: _Optional[int] = ..., sku: _Optional[str] = ..., requested: _Optional[int] = ..., missing: _Optional[int] = ..., reason: _Optional[_Union[UnfulfilledReason, str]] = ..., backordered: _Optional[bool] = ..., expected_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., expected_location: _Optional[str] = ..., expected_delivery_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., backorder_note: _Optional[str] = ...) -> None: ...

class Alternative(_message.Message):
    __slots__ = ("locations", "extra_cost", "reason")
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_COST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    locations: _containers.RepeatedScalarFieldContainer[str]
    extra_cost: int
    reason: str
    def __init__(self, locations: _Optional[_Iterable[str]] = ..., extra_cost: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class CandidateStats(_message.Message):
    __slots__ = ("pool", "usable", "considered", "exact", "note")
    POOL_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    CONSIDERED_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    pool: int
    usable: int
    considered: int
    exact: bool
    note: str
    def __init__(self, pool: _Optional[int] = ..., usable: _Optional[int] = ..., considered: _Optional[int] = ..., exact: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class RoutingResult(_message.Message):
    __slots__ = ("order_id", "policy", "status", "shipments", "unfulfilled", "cost", "solver", "solve_time_seconds", "gap", "timed_out", "candidates", "alternatives", "explanation", "message", "sequence")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    UNFULFILLED_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    SOLVE_TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    order_id: str
    policy: str
    status: SolveStatus
    shipments: _containers.RepeatedCompositeFieldContainer[Shipment]
    unfulfilled: _containers.RepeatedCompositeFieldContainer[UnfulfilledLine]
    cost: CostBreakdown
    solver: str
    solve_time_seconds: float
    gap: float
    timed_out: bool
    candidates: CandidateStats
    alternatives: _containers.RepeatedCompositeFieldContainer[Alternative]
    explanation: str
    message: str
    sequence: int
    def __init__(self, order_id: _Optional[str] = ..., policy: _Optional[str] = ..., status: _Optional[_Union[SolveStatus, str]] = ..., shipments: _Optional[_Iterable[_Union[Shipment, _Mapping]]] = ..., unfulfilled: _Optional[_Iterable[_Union[UnfulfilledLine, _Mapping]]] = ..., cost: _Optional[_Union[CostBreakdown, _Mapping]] = ..., solver: _Optional[str] = ..., solve_time_seconds: _Optional[float] = ..., gap: _Optional[float] = ..., timed_out: _Optional[bool] = ..., candidates: _Optional[_Union[CandidateStats, _Mapping]] = ..., alternatives: _Optional[_Iterable[_Union[Alternative, _Mapping]]] = ..., explanation: _Optional[str] = ..., message: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class HoldOutcome(_message.Message):
    __slots__ = ("held", "reservation", "reroutes", "message")
    HELD_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    REROUTES_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    held: bool
    reservation: _reservation_pb2.Reservation
    reroutes: int
    message: str
    def __init__(self, held: _Optional[bool] = ..., reservation: _Optional[_Union[_reservation_pb2.Reservation, _Mapping]] = ..., reroutes: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class RouteOrderResponse(_message.Message):
    __slots__ = ("result", "hold")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    result: RoutingResult
    hold: HoldOutcome
    def __init__(self, result: _Optional[_Union[RoutingResult, _Mapping]] = ..., hold: _Optional[_Union[HoldOutcome, _Mapping]] = ...) -> None: ...

class RouteOrdersRequest(_message.Message):
    __slots__ = ("orders", "policy", "time_limit_seconds")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    policy: str
    time_limit_seconds: float
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., policy: _Optional[str] = ..., time_limit_seconds: _Optional[float] = ...) -> None: ...

class BatchTotals(_message.Message):
    __slots__ = ("orders", "orders_shipped", "orders_infeasible", "cost", "shipments", "extra_shipments", "units_requested", "units_shipped", "units_unfulfilled")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    ORDERS_SHIPPED_FIELD_NUMBER: _ClassVar[int]
    ORDERS_INFEASIBLE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    UNITS_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    UNITS_SHIPPED_FIELD_NUMBER: _ClassVar[int]
    UNITS_UNFULFILLED_FIELD_NUMBER: _ClassVar[int]
    orders: int
    orders_shipped: int
    orders_infeasible: int
    cost: int
    shipments: int
    extra_shipments: int
    units_requested: int
    units_shipped: int
    units_unfulfilled: int
    def __init__(self, orders: _Optional[int] = ..., orders_shipped: _Optional[int] = ..., orders_infeasible: _Optional[int] = ..., cost: _Optional[int] = ..., shipments: _Optional[int] = ..., extra_shipments: _Optional[int] = ..., units_requested: _Optional[int] = ..., units_shipped: _Optional[int] = ..., units_unfulfilled: _Optional[int] = ...) -> None: ...

class SequentialRouting(_message.Message):
    __slots__ = ("policy", "totals", "seconds")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    policy: str
    totals: BatchTotals
    seconds: float
    def __init__(self, policy: _Optional[str] = ..., totals: _Optional[_Union[BatchTotals, _Mapping]] = ..., seconds: _Optional[float] = ...) -> None: ...

class RouteOrdersResponse(_message.Message):
    __slots__ = ("results", "totals", "status", "solver", "solver_status", "bound", "gap", "timed_out", "solve_time_seconds", "sequential", "message", "sequence")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SOLVER_FIELD_NUMBER: _ClassVar[int]
    SOLVER_STATUS_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    SOLVE_TIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RoutingResult]
    totals: BatchTotals
    status: SolveStatus
    solver: str
    solver_status: str
    bound: float
    gap: float
    timed_out: bool
    solve_time_seconds: float
    sequential: _containers.RepeatedCompositeFieldContainer[SequentialRouting]
    message: str
    sequence: int
    def __init__(self, results: _Optional[_Iterable[_Union[RoutingResult, _Mapping]]] = ..., totals: _Optional[_Union[BatchTotals, _Mapping]] = ..., status: _Optional[_Union[SolveStatus, str]] = ..., solver: _Optional[str] = ..., solver_status: _Optional[str] = ..., bound: _Optional[float] = ..., gap: _Optional[float] = ..., timed_out: _Optional[bool] = ..., solve_time_seconds: _Optional[float] = ..., sequential: _Optional[_Iterable[_Union[SequentialRouting, _Mapping]]] = ..., message: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("location", "sku", "quantity", "reason")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    location: str
    sku: str
    quantity: int
    reason: RejectReason
    def __init__(self, location: _Optional[str] = ..., sku: _Optional[str] = ..., quantity: _Optional[int] = ..., reason: _Optional[_Union[RejectReason, str]] = ...) -> None: ...

class RerouteRequest(_message.Message):
    __slots__ = ("order", "reservation_id", "rejections", "operation_id", "rejected_at", "policy", "time_limit_seconds")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    OPERATION_ID_FIELD_NUMBER: _ClassVar[int]
    REJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    order: Order
    reservation_id: str
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    operation_id: str
    rejected_at: _timestamp_pb2.Timestamp
    policy: str
    time_limit_seconds: float
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., reservation_id: _Optional[str] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., operation_id: _Optional[str] = ..., rejected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy: _Optional[str] = ..., time_limit_seconds: _Optional[float] = ...) -> None: ...

class StockConsequence(_message.Message):
    __slots__ = ("event", "outcome", "note")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    event: _inventory_pb2.StockEvent
    outcome: _inventory_pb2.EventOutcome
    note: str
    def __init__(self, event: _Optional[_Union[_inventory_pb2.StockEvent, _Mapping]] = ..., outcome: _Optional[_Union[_inventory_pb2.EventOutcome, str]] = ..., note: _Optional[str] = ...) -> None: ...

class RerouteResponse(_message.Message):
    __slots__ = ("released", "stock_events", "result", "hold", "reservation")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    STOCK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    RESERVATION_FIELD_NUMBER: _ClassVar[int]
    released: _containers.RepeatedCompositeFieldContainer[_reservation_pb2.LineQuantity]
    stock_events: _containers.RepeatedCompositeFieldContainer[StockConsequence]
    result: RoutingResult
    hold: HoldOutcome
    reservation: _reservation_pb2.Reservation
    def __init__(self, released: _Optional[_Iterable[_Union[_reservation_pb2.LineQuantity, _Mapping]]] = ..., stock_events: _Optional[_Iterable[_Union[StockConsequence, _Mapping]]] = ..., result: _Optional[_Union[RoutingResult, _Mapping]] = ..., hold: _Optional[_Union[HoldOutcome, _Mapping]] = ..., reservation: _Optional[_Union[_reservation_pb2.Reservation, _Mapping]] = ...) -> None: ...

class QuoteFulfillmentOptionsRequest(_message.Message):
    __slots__ = ("channel", "lines", "destination", "at", "methods", "max_stores", "store_radius_km")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    MAX_STORES_FIELD_NUMBER: _ClassVar[int]
    STORE_RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    channel: str
    lines: _containers.RepeatedCompositeFieldContainer[_common_pb2.CartLine]
    destination: _common_pb2.Point
    at: _timestamp_pb2.Timestamp
    methods: _containers.RepeatedScalarFieldContainer[DeliveryMethod]
    max_stores: int
    store_radius_km: float
    def __init__(self, channel: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_common_pb2.CartLine, _Mapping]]] = ..., destination: _Optional[_Union[_common_pb2.Point, _Mapping]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., methods: _Optional[_Iterable[_Union[DeliveryMethod, str]]] = ..., max_stores: _Optional[int] = ..., store_radius_km: _Optional[float] = ...) -> None: ...

class ShipOption(_message.Message):
    __slots__ = ("method", "available", "delivery_date", "cost", "shipments", "single_parcel", "partial", "missing", "locations", "reason")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_DATE_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    SINGLE_PARCEL_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    method: DeliveryMethod
    available: bool
    delivery_date: _common_pb2.Date
    cost: int
    shipments: int
    single_parcel: bool
    partial: bool
    missing: _containers.RepeatedCompositeFieldContainer[UnfulfilledLine]
    locations: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, method: _Optional[_Union[DeliveryMethod, str]] = ..., available: _Optional[bool] = ..., delivery_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., cost: _Optional[int] = ..., shipments: _Optional[int] = ..., single_parcel: _Optional[bool] = ..., partial: _Optional[bool] = ..., missing: _Optional[_Iterable[_Union[UnfulfilledLine, _Mapping]]] = ..., locations: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class StoreOption(_message.Message):
    __slots__ = ("method", "store", "name", "distance_km", "ready_date", "ready_at", "cost", "partial", "missing")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_KM_FIELD_NUMBER: _ClassVar[int]
    READY_DATE_FIELD_NUMBER: _ClassVar[int]
    READY_AT_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    method: DeliveryMethod
    store: str
    name: str
    distance_km: float
    ready_date: _common_pb2.Date
    ready_at: _timestamp_pb2.Timestamp
    cost: int
    partial: bool
    missing: _containers.RepeatedCompositeFieldContainer[UnfulfilledLine]
    def __init__(self, method: _Optional[_Union[DeliveryMethod, str]] = ..., store: _Optional[str] = ..., name: _Optional[str] = ..., distance_km: _Optional[float] = ..., ready_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., ready_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cost: _Optional[int] = ..., partial: _Optional[bool] = ..., missing: _Optional[_Iterable[_Union[UnfulfilledLine, _Mapping]]] = ...) -> None: ...

class QuoteFulfillmentOptionsResponse(_message.Message):
    __slots__ = ("ship_options", "store_options", "unknown_skus", "sequence")
    SHIP_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    STORE_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_SKUS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ship_options: _containers.RepeatedCompositeFieldContainer[ShipOption]
    store_options: _containers.RepeatedCompositeFieldContainer[StoreOption]
    unknown_skus: _containers.RepeatedScalarFieldContainer[str]
    sequence: int
    def __init__(self, ship_options: _Optional[_Iterable[_Union[ShipOption, _Mapping]]] = ..., store_options: _Optional[_Iterable[_Union[StoreOption, _Mapping]]] = ..., unknown_skus: _Optional[_Iterable[str]] = ..., sequence: _Optional[int] = ...) -> None: ...
