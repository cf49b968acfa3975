"""`omniroute.Client`: typed methods over the gRPC API, returning frozen dataclasses.

Importing this module does not import the engine (numba, polars): a checkout service or a script that only
calls the server pays for grpcio and the generated stubs, nothing else.

    with Client("localhost:50051") as c:
        a = c.get_availability(["SKU-1", "SKU-2"], channel="web")
        a["SKU-1"]          # quantity
        a.rows()            # [(sku, quantity, status, unknown), ...]
        r = c.reserve("cart-42", "web", [("SKU-1", 2)], ttl_seconds=600)   # a network hold
        c.confirm(r.reservation_id)

Errors are raised as `ServiceError`, a `grpc.RpcError` that also carries the status code, the message and
the structured details the server attached (the field at fault, per-line shortfalls, the missing id).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from .v1 import availability_pb2 as apb
from .v1 import availability_pb2_grpc as apb_grpc
from .v1 import common_pb2 as cpb
from .v1 import diagnostics_pb2 as dpb
from .v1 import diagnostics_pb2_grpc as dpb_grpc
from .v1 import inventory_pb2 as ipb
from .v1 import inventory_pb2_grpc as ipb_grpc
from .v1 import reservation_pb2 as rpb
from .v1 import reservation_pb2_grpc as rpb_grpc
from .v1 import routing_pb2 as gpb
from .v1 import routing_pb2_grpc as gpb_grpc

DEFAULT_TARGET: Final = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S: Final = 30.0
# The place of a line held at the channel's network (neither a location nor a group was given).
NETWORK: Final = "@network"

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------- values
class Method(StrEnum):
    SHIP = "ship"
    PICKUP = "pickup"
    CURBSIDE = "curbside"
    SAME_DAY = "same_day"


class Status(StrEnum):
    UNSPECIFIED = "unspecified"
    OUT_OF_STOCK = "out_of_stock"
    LOW_STOCK = "low_stock"
    IN_STOCK = "in_stock"


class Outcome(StrEnum):
    UNSPECIFIED = "unspecified"
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    REJECTED = "rejected"


_METHOD_PB: dict[Method, cpb.FulfillmentMethod] = {
    Method.SHIP: cpb.SHIP,
    Method.PICKUP: cpb.PICKUP,
    Method.CURBSIDE: cpb.CURBSIDE,
    Method.SAME_DAY: cpb.SAME_DAY,
}
_METHOD_OF_PB: dict[int, Method] = {v: k for k, v in _METHOD_PB.items()}
_STATUS_OF_PB: tuple[Status, ...] = (
    Status.UNSPECIFIED,
    Status.OUT_OF_STOCK,
    Status.LOW_STOCK,
    Status.IN_STOCK,
)
_OUTCOME_OF_PB: tuple[Outcome, ...] = (
    Outcome.UNSPECIFIED,
    Outcome.APPLIED,
    Outcome.DUPLICATE,
    Outcome.STALE,
    Outcome.REJECTED,
)
_LOCATION_TYPES: dict[str, cpb.LocationType] = {
    "distribution_center": cpb.DISTRIBUTION_CENTER,
    "dc": cpb.DISTRIBUTION_CENTER,
    "store": cpb.STORE,
    "dark_store": cpb.DARK_STORE,
    "drop_ship_vendor": cpb.DROP_SHIP_VENDOR,
}
_EVENT_TYPE_PB: dict[str, ipb.StockEventType] = {
    "receipt": ipb.RECEIPT,
    "sale": ipb.SALE,
    "return_sellable": ipb.RETURN_SELLABLE,
    "return_damaged": ipb.RETURN_DAMAGED,
    "adjustment": ipb.ADJUSTMENT,
    "cycle_count": ipb.CYCLE_COUNT,
    "transfer_out": ipb.TRANSFER_OUT,
    "transfer_in": ipb.TRANSFER_IN,
}
EVENT_TYPES: Final[tuple[str, ...]] = tuple(_EVENT_TYPE_PB)


def _status(value: int) -> Status:
    return _STATUS_OF_PB[value] if 0 <= value < len(_STATUS_OF_PB) else Status.UNSPECIFIED


def _method_pb(value: Method | str) -> cpb.FulfillmentMethod:
    try:
        return _METHOD_PB[Method(str(value).lower())]
    except ValueError:
        raise ValueError(f"method={value!r}: must be one of {[m.value for m in Method]}") from None


@dataclass(frozen=True, slots=True)
class LocationRow:
    sku: str
    location: str
    quantity: int
    status: Status


@dataclass(frozen=True, slots=True)
class Availability:
    """Element i of quantity, status and unknown belongs to skus[i]; `sequence` is the ledger sequence the
    answer reflects. `locations` holds per-location rows when they were asked for."""

    skus: tuple[str, ...]
    quantity: tuple[int, ...]
    status: tuple[Status, ...]
    unknown: tuple[bool, ...]
    sequence: int
    stale: bool = False
    locations: tuple[LocationRow, ...] = ()

    def __getitem__(self, sku: str) -> int:
        return self.quantity[self.skus.index(sku)]

    def rows(self) -> list[tuple[str, int, Status, bool]]:
        return list(zip(self.skus, self.quantity, self.status, self.unknown, strict=True))


@dataclass(frozen=True, slots=True)
class NearbyStore:
    location: str
    name: str
    distance_km: float
    methods: tuple[Method, ...]
    available: tuple[int, ...]  # per cart line
    whole_cart: bool
    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class NearbyStores:
    stores: tuple[NearbyStore, ...]
    sequence: int
    stale: bool = False  # the server could not reach its ledger: the last known state


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    sku: str
    location: str  # "" for the network total
    quantity: int
    previous_quantity: int
    status: Status
    previous_status: Status
    sequence: int
    stale: bool = False


@dataclass(frozen=True, slots=True)
class StockEvent:
    """A stock fact. `occurred_at` is an aware datetime or epoch milliseconds; `type` one of EVENT_TYPES."""

    event_id: str
    type: str
    location: str
    sku: str
    quantity: int
    occurred_at: datetime | int
    channel: str = ""

    def to_pb(self) -> ipb.StockEvent:
        kind = _EVENT_TYPE_PB.get(self.type.lower())
        if kind is None:
            raise ValueError(f"type={self.type!r}: must be one of {list(EVENT_TYPES)}")
        ts = timestamp_pb2.Timestamp()
        if isinstance(self.occurred_at, datetime):
            ts.FromDatetime(self.occurred_at.astimezone(UTC))
        else:
            ts.FromMilliseconds(self.occurred_at)
        return ipb.StockEvent(
            event_id=self.event_id,
            type=kind,
            location=self.location,
            sku=self.sku,
            quantity=self.quantity,
            occurred_at=ts,
            channel=self.channel,
        )


@dataclass(frozen=True, slots=True)
class EventBatch:
    outcomes: tuple[Outcome, ...]  # outcomes[i] is the outcome of events[i]
    notes: tuple[tuple[int, str], ...]  # (event index, reason) for every event not applied
    sequence: int
    applied: int
    duplicates: int
    stale: int
    rejected: int


@dataclass(frozen=True, slots=True)
class SnapshotLoaded:
    sequence: int
    positions: int
    locations: int
    skus: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Inbound:
    expected: date
    quantity: int
    type: str
    promisable: int


@dataclass(frozen=True, slots=True)
class Position:
    sku: str
    location: str
    on_hand: int
    reserved: int
    safety_stock: int
    safety_stock_explicit: bool
    inbound: tuple[Inbound, ...] = ()


@dataclass(frozen=True, slots=True)
class Allocation:
    sku: str
    channel: str
    quantity: int
    consumed: int = 0


@dataclass(frozen=True, slots=True)
class Positions:
    positions: tuple[Position, ...]
    allocations: tuple[Allocation, ...]
    unknown_skus: tuple[str, ...]
    sequence: int


@dataclass(frozen=True, slots=True)
class SafetyStock:
    sku: str
    location: str
    quantity: int | None  # None: back to the default of the location's type


@dataclass(frozen=True, slots=True)
class LocationSpec:
    """A location to upsert. Defaults match the engine's, and the client always sends every field, so
    proto3's "unset number means zero" cannot disable a location or zero its capacity by accident."""

    id: str
    type: str
    latitude: float
    longitude: float
    name: str = ""
    timezone: str = "UTC"
    methods: tuple[Method | str, ...] = (Method.SHIP,)
    channels: tuple[str, ...] = ()
    processing_hours: int = 24
    cutoff: str = "14:00"
    daily_capacity: int = 1000
    handling_cost_per_order: int = 0
    handling_cost_per_unit: int = 0
    priority: int = 100
    enabled: bool = True

    def to_pb(self) -> cpb.Location:
        ltype = _LOCATION_TYPES.get(self.type.lower().replace("-", "_").replace(" ", "_"))
        if ltype is None:
            raise ValueError(f"type={self.type!r}: must be one of {sorted(_LOCATION_TYPES)}")
        return cpb.Location(
            id=self.id,
            name=self.name,
            type=ltype,
            point=cpb.Point(latitude=self.latitude, longitude=self.longitude),
            timezone=self.timezone,
            methods=[_method_pb(m) for m in self.methods],
            channels=list(self.channels),
            processing_hours=self.processing_hours,
            cutoff=self.cutoff,
            daily_capacity=self.daily_capacity,
            handling_cost_per_order=self.handling_cost_per_order,
            handling_cost_per_unit=self.handling_cost_per_unit,
            priority=self.priority,
            enabled=self.enabled,
        )


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str
    backend: str
    sequence: int
    positions: int
    locations: int
    skus: int
    channels: int
    read_model_bytes: int
    stale: bool = False  # the ledger is out of reach: reads answer the last known state, writes fail
    pid: int = 0  # the process that answered
    worker: int = 0  # its number under `serve --workers N` (0: a single process)


@dataclass(frozen=True, slots=True)
class FeedChunk:
    """Rows of the local inventory feed, by column (Merchant Center local inventory field names)."""

    store_code: tuple[str, ...]
    id: tuple[str, ...]
    quantity: tuple[int, ...]
    availability: tuple[str, ...]
    pickup_method: tuple[str, ...]
    pickup_sla: tuple[str, ...]
    stale: bool = False

    def __len__(self) -> int:
        return len(self.id)

    def columns(self) -> dict[str, list[Any]]:
        return {name: list(getattr(self, name)) for name in FEED_COLUMNS}


FEED_COLUMNS: Final = ("store_code", "id", "quantity", "availability", "pickup_method", "pickup_sla")


# ---------------------------------------------------------------------------------------------- reservations
class ReservationStatus(StrEnum):
    UNSPECIFIED = "unspecified"
    HELD = "held"  # expires at its deadline unless confirmed
    CONFIRMED = "confirmed"  # the order is placed: no expiry
    RELEASED = "released"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"


# proto enum number -> status, by index (0 is UNSPECIFIED)
_RESERVATION_STATUS_OF_PB: tuple[ReservationStatus, ...] = (
    ReservationStatus.UNSPECIFIED,
    ReservationStatus.HELD,
    ReservationStatus.CONFIRMED,
    ReservationStatus.RELEASED,
    ReservationStatus.FULFILLED,
    ReservationStatus.EXPIRED,
)


@dataclass(frozen=True, slots=True)
class HoldLine:
    """A line to hold at a location, at a location group, or (neither) at the channel's network."""

    sku: str
    quantity: int
    location: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class LineQuantity:
    """A quantity of one reservation line, addressed by SKU and place (location, group or NETWORK)."""

    sku: str
    place: str
    quantity: int


@dataclass(frozen=True, slots=True)
class LineMove:
    """Confirm: move (part of) a group or network line to locations, `to` = ((location, quantity), ...)."""

    sku: str
    place: str
    to: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReservationLine:
    sku: str
    place: str  # location id, group id, or NETWORK
    at_location: bool
    held: int  # still held now
    fulfilled: int
    released: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """`expires_at` is None once the reservation is confirmed or closed; `sequence` is the ledger
    sequence of its last change (pass it as `min_sequence` to read your own write)."""

    reservation_id: str
    channel: str
    status: ReservationStatus
    lines: tuple[ReservationLine, ...]
    created_at: datetime
    expires_at: datetime | None
    sequence: int

    @property
    def held(self) -> int:
        return sum(ln.held for ln in self.lines)

    def line(self, sku: str, place: str = NETWORK) -> ReservationLine:
        for ln in self.lines:
            if ln.sku == sku and ln.place == place:
                return ln
        raise KeyError(f"{sku}@{place}")


@dataclass(frozen=True, slots=True)
class Inconsistency:
    sku: str
    place: str  # location id, or a group id / "@network:<channel>" for group hold counters
    counter: str  # reserved | on_hand | group_hold
    expected: int
    found: int
    reservations: tuple[str, ...]
    repaired: bool


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    inconsistencies: tuple[Inconsistency, ...]
    positions_checked: int
    reservations_checked: int
    sequence: int

    @property
    def consistent(self) -> bool:
        """True when nothing was found, or everything found was repaired."""
        return all(i.repaired for i in self.inconsistencies)


def _hold_line_pb(line: HoldLine | tuple[str, int]) -> rpb.HoldLine:
    if isinstance(line, HoldLine):
        return rpb.HoldLine(sku=line.sku, quantity=line.quantity, location=line.location, group=line.group)
    sku, quantity = line
    return rpb.HoldLine(sku=sku, quantity=quantity)


def _line_quantity_pb(line: LineQuantity | tuple[str, str, int]) -> rpb.LineQuantity:
    sku, place, quantity = (line.sku, line.place, line.quantity) if isinstance(line, LineQuantity) else line
    return rpb.LineQuantity(sku=sku, place=place, quantity=quantity)


def _datetime(ts: timestamp_pb2.Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def _reservation(m: rpb.Reservation) -> Reservation:
    status = m.status
    return Reservation(
        reservation_id=m.reservation_id,
        channel=m.channel,
        status=(
            _RESERVATION_STATUS_OF_PB[status]
            if 0 <= status < len(_RESERVATION_STATUS_OF_PB)
            else ReservationStatus.UNSPECIFIED
        ),
        lines=tuple(
            ReservationLine(ln.sku, ln.place, ln.at_location, ln.held, ln.fulfilled, ln.released) for ln in m.lines
        ),
        created_at=_datetime(m.created_at),
        expires_at=_datetime(m.expires_at) if m.HasField("expires_at") else None,
        sequence=m.sequence,
    )


# ---------------------------------------------------------------------------------------------- routing
class DeliveryMethod(StrEnum):
    """How the shopper gets the order."""

    STANDARD = "standard"
    EXPRESS = "express"
    PICKUP = "pickup"
    CURBSIDE = "curbside"
    SAME_DAY = "same_day"


_DELIVERY_PB: dict[DeliveryMethod, gpb.DeliveryMethod] = {
    DeliveryMethod.STANDARD: gpb.DELIVERY_STANDARD,
    DeliveryMethod.EXPRESS: gpb.DELIVERY_EXPRESS,
    DeliveryMethod.PICKUP: gpb.DELIVERY_PICKUP,
    DeliveryMethod.CURBSIDE: gpb.DELIVERY_CURBSIDE,
    DeliveryMethod.SAME_DAY: gpb.DELIVERY_SAME_DAY,
}
_DELIVERY_OF_PB: dict[int, DeliveryMethod] = {v: k for k, v in _DELIVERY_PB.items()}


class SolveStatus(StrEnum):
    UNSPECIFIED = "unspecified"
    OPTIMAL = "optimal"  # proven best
    FEASIBLE = "feasible"  # a valid plan without a proof (a baseline, a time-out, a joint batch)
    INFEASIBLE = "infeasible"  # nothing can ship, or only part while the order wants all of it


_SOLVE_STATUS_OF_PB: tuple[SolveStatus, ...] = (
    SolveStatus.UNSPECIFIED,
    SolveStatus.OPTIMAL,
    SolveStatus.FEASIBLE,
    SolveStatus.INFEASIBLE,
)
_UNFULFILLED_OF_PB: tuple[str, ...] = (
    "unspecified",
    "unknown_sku",
    "no_stock",
    "excluded",
    "deliver_by",
    "capacity",
    "max_shipments",
)


class RejectReason(StrEnum):
    NOT_FOUND = "not_found"  # searched, not on the shelf: recorded as a count of 0
    DAMAGED = "damaged"  # not sellable: the units leave sellable stock
    MISMATCH = "mismatch"  # not what the record says: the store is excluded, stock left for a count


_REJECT_PB: dict[RejectReason, gpb.RejectReason] = {
    RejectReason.NOT_FOUND: gpb.NOT_FOUND,
    RejectReason.DAMAGED: gpb.DAMAGED,
    RejectReason.MISMATCH: gpb.MISMATCH,
}


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    # locations or groups that must not serve this line
    excluded_locations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Order:
    """An order to route. `destination` is a (latitude, longitude) point to ship to, or a store id to
    collect from (pickup, curbside). A line may be a plain (sku, quantity) pair. `max_shipments` 0: no
    limit."""

    order_id: str
    channel: str
    lines: Sequence[OrderLine | tuple[str, int]]
    destination: tuple[float, float] | str
    method: DeliveryMethod | str = DeliveryMethod.STANDARD
    deliver_by: date | None = None
    placed_at: datetime | None = None
    max_shipments: int = 0
    allow_partial: bool = False
    allow_backorder: bool = False
    excluded_locations: tuple[str, ...] = ()

    def to_pb(self) -> gpb.Order:
        out = gpb.Order(
            order_id=self.order_id,
            channel=self.channel,
            method=_DELIVERY_PB[DeliveryMethod(self.method)],
            options=gpb.RoutingOptions(
                max_shipments=self.max_shipments,
                allow_partial=self.allow_partial,
                allow_backorder=self.allow_backorder,
                excluded_locations=self.excluded_locations,
            ),
        )
        for ln in self.lines:
            if isinstance(ln, OrderLine):
                out.lines.add(sku=ln.sku, quantity=ln.quantity, excluded_locations=ln.excluded_locations)
            else:
                out.lines.add(sku=ln[0], quantity=ln[1])
        if isinstance(self.destination, str):
            out.destination.store = self.destination
        else:
            lat, lon = self.destination
            out.destination.point.CopyFrom(cpb.Point(latitude=lat, longitude=lon))
        if self.deliver_by is not None:
            d = self.deliver_by
            out.deliver_by.CopyFrom(cpb.Date(year=d.year, month=d.month, day=d.day))
        if self.placed_at is not None:
            out.placed_at.FromDatetime(self.placed_at.astimezone(UTC))
        return out


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cents."""

    parcel: int
    weight: int
    handling: int
    protection: int
    extra_shipment: int
    total: int


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    line: int  # index into the order's lines
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    location: str
    lines: tuple[ShipmentLine, ...]
    ship_date: date  # leaves the location (pickup and curbside: ready at the store)
    delivery_date: date
    distance_km: float
    cost: CostBreakdown


@dataclass(frozen=True, slots=True)
class UnfulfilledLine:
    line: int
    sku: str
    requested: int
    missing: int
    reason: str  # unknown_sku, no_stock, excluded, deliver_by, capacity, max_shipments
    backordered: bool
    # back orders: when inbound supply covers the missing units, where, and the delivery that follows
    expected_date: date | None = None
    expected_location: str = ""
    expected_delivery_date: date | None = None
    backorder_note: str = ""  # the dating in words, or why there is no date


@dataclass(frozen=True, slots=True)
class Alternative:
    locations: tuple[str, ...]
    extra_cost: int | None  # cents more than the chosen plan; None: it could not serve the order
    reason: str


@dataclass(frozen=True, slots=True)
class CandidateStats:
    pool: int
    usable: int
    considered: int
    exact: bool
    note: str


@dataclass(frozen=True, slots=True)
class RoutingResult:
    order_id: str
    policy: str
    status: SolveStatus
    shipments: tuple[Shipment, ...]
    unfulfilled: tuple[UnfulfilledLine, ...]
    cost: CostBreakdown
    solver: str
    solve_time_s: float
    gap: float | None
    timed_out: bool
    candidates: CandidateStats | None
    alternatives: tuple[Alternative, ...]
    explanation: str
    message: str
    sequence: int

    @property
    def total_cost(self) -> int:
        return self.cost.total

    def shipped(self) -> dict[tuple[str, str], int]:
        """Units per (location, SKU)."""
        out: dict[tuple[str, str], int] = {}
        for s in self.shipments:
            for ln in s.lines:
                out[(s.location, ln.sku)] = out.get((s.location, ln.sku), 0) + ln.quantity
        return out


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    held: bool  # `reservation` holds exactly the plan's units of the order's SKUs
    reservation: Reservation | None
    reroutes: int  # times another order took planned stock first and the order was routed again
    message: str


@dataclass(frozen=True, slots=True)
class RoutedOrder:
    result: RoutingResult
    hold: HoldOutcome | None  # None unless the call asked to hold


@dataclass(frozen=True, slots=True)
class Rejection:
    """A store's refusal of units of a line; `quantity` 0: every unit of the SKU it holds for the order."""

    location: str
    sku: str
    reason: RejectReason | str
    quantity: int = 0


@dataclass(frozen=True, slots=True)
class StockConsequence:
    """A stock event recorded for a rejection, and the ledger's outcome of it."""

    event_id: str
    type: str  # cycle_count | adjustment
    location: str
    sku: str
    quantity: int
    occurred_at: datetime
    outcome: Outcome
    note: str


@dataclass(frozen=True, slots=True)
class RerouteResult:
    released: tuple[LineQuantity, ...]
    stock_events: tuple[StockConsequence, ...]
    result: RoutingResult  # the route of what was left
    hold: HoldOutcome | None  # the new plan's hold, in its own reservation
    reservation: Reservation  # the rejecting reservation after the release


@dataclass(frozen=True, slots=True)
class BatchTotals:
    orders: int
    orders_shipped: int
    orders_infeasible: int
    cost: int
    shipments: int
    extra_shipments: int
    units_requested: int
    units_shipped: int
    units_unfulfilled: int


@dataclass(frozen=True, slots=True)
class SequentialRouting:
    policy: str
    totals: BatchTotals
    seconds: float


@dataclass(frozen=True, slots=True)
class BatchRouting:
    results: tuple[RoutingResult, ...]
    totals: BatchTotals
    status: SolveStatus
    solver: str
    solver_status: str
    bound: float | None
    gap: float | None
    timed_out: bool
    solve_time_s: float
    sequential: tuple[SequentialRouting, ...]
    message: str
    sequence: int

    def sequential_by(self, policy: str) -> SequentialRouting | None:
        return next((s for s in self.sequential if s.policy == policy), None)


@dataclass(frozen=True, slots=True)
class ShipOption:
    method: DeliveryMethod
    available: bool
    delivery_date: date | None  # the earliest date
    cost: int  # cents: the cheapest plan arriving by that date
    shipments: int
    single_parcel: bool
    partial: bool
    missing: tuple[UnfulfilledLine, ...]
    locations: tuple[str, ...]
    reason: str  # why it is unavailable


@dataclass(frozen=True, slots=True)
class StoreOption:
    method: DeliveryMethod
    store: str
    name: str
    distance_km: float
    ready_date: date
    ready_at: datetime
    cost: int
    partial: bool
    missing: tuple[UnfulfilledLine, ...]


@dataclass(frozen=True, slots=True)
class FulfillmentQuote:
    ship: tuple[ShipOption, ...]
    stores: tuple[StoreOption, ...]  # pickup stores nearest first, then curbside stores
    unknown_skus: tuple[str, ...]
    sequence: int

    def option(self, method: DeliveryMethod | str) -> ShipOption:
        m = DeliveryMethod(method)
        for o in self.ship:
            if o.method is m:
                return o
        raise KeyError(m.value)

    def stores_for(self, method: DeliveryMethod | str) -> tuple[StoreOption, ...]:
        m = DeliveryMethod(method)
        return tuple(s for s in self.stores if s.method is m)


def _solve_status(n: int) -> SolveStatus:
    return _SOLVE_STATUS_OF_PB[n] if 0 <= n < len(_SOLVE_STATUS_OF_PB) else SolveStatus.UNSPECIFIED


def _date(d: cpb.Date) -> date:
    return date(d.year, d.month, d.day)


def _cost(c: gpb.CostBreakdown) -> CostBreakdown:
    return CostBreakdown(c.parcel, c.weight, c.handling, c.protection, c.extra_shipment, c.total)


def _unfulfilled(u: gpb.UnfulfilledLine) -> UnfulfilledLine:
    reason = _UNFULFILLED_OF_PB[u.reason] if 0 <= u.reason < len(_UNFULFILLED_OF_PB) else "unspecified"
    return UnfulfilledLine(
        u.line,
        u.sku,
        u.requested,
        u.missing,
        reason,
        u.backordered,
        _date(u.expected_date) if u.HasField("expected_date") else None,
        u.expected_location,
        _date(u.expected_delivery_date) if u.HasField("expected_delivery_date") else None,
        u.backorder_note,
    )


def _routing_result(m: gpb.RoutingResult) -> RoutingResult:
    k = m.candidates
    return RoutingResult(
        order_id=m.order_id,
        policy=m.policy,
        status=_solve_status(m.status),
        shipments=tuple(
            Shipment(
                s.location,
                tuple(ShipmentLine(ln.line, ln.sku, ln.quantity) for ln in s.lines),
                _date(s.ship_date),
                _date(s.delivery_date),
                s.distance_km,
                _cost(s.cost),
            )
            for s in m.shipments
        ),
        unfulfilled=tuple(_unfulfilled(u) for u in m.unfulfilled),
        cost=_cost(m.cost),
        solver=m.solver,
        solve_time_s=m.solve_time_seconds,
        gap=m.gap if m.HasField("gap") else None,
        timed_out=m.timed_out,
        candidates=(
            CandidateStats(k.pool, k.usable, k.considered, k.exact, k.note) if m.HasField("candidates") else None
        ),
        alternatives=tuple(
            Alternative(tuple(a.locations), a.extra_cost if a.HasField("extra_cost") else None, a.reason)
            for a in m.alternatives
        ),
        explanation=m.explanation,
        message=m.message,
        sequence=m.sequence,
    )


def _hold(m: gpb.HoldOutcome) -> HoldOutcome:
    return HoldOutcome(
        held=m.held,
        reservation=_reservation(m.reservation) if m.HasField("reservation") else None,
        reroutes=m.reroutes,
        message=m.message,
    )


def _totals(t: gpb.BatchTotals) -> BatchTotals:
    return BatchTotals(
        t.orders,
        t.orders_shipped,
        t.orders_infeasible,
        t.cost,
        t.shipments,
        t.extra_shipments,
        t.units_requested,
        t.units_shipped,
        t.units_unfulfilled,
    )


def _ship_option(o: gpb.ShipOption) -> ShipOption:
    return ShipOption(
        method=_DELIVERY_OF_PB.get(o.method, DeliveryMethod.STANDARD),
        available=o.available,
        delivery_date=_date(o.delivery_date) if o.HasField("delivery_date") else None,
        cost=o.cost,
        shipments=o.shipments,
        single_parcel=o.single_parcel,
        partial=o.partial,
        missing=tuple(_unfulfilled(u) for u in o.missing),
        locations=tuple(o.locations),
        reason=o.reason,
    )


def _store_option(s: gpb.StoreOption) -> StoreOption:
    return StoreOption(
        method=_DELIVERY_OF_PB.get(s.method, DeliveryMethod.PICKUP),
        store=s.store,
        name=s.name,
        distance_km=s.distance_km,
        ready_date=_date(s.ready_date),
        ready_at=_datetime(s.ready_at),
        cost=s.cost,
        partial=s.partial,
        missing=tuple(_unfulfilled(u) for u in s.missing),
    )


_EVENT_TYPE_NAMES: dict[int, str] = {ipb.CYCLE_COUNT: "cycle_count", ipb.ADJUSTMENT: "adjustment"}


# ---------------------------------------------------------------------------------------------- errors
@dataclass(frozen=True, slots=True)
class Shortfall:
    line: int
    sku: str
    location: str
    requested: int
    available: int


class ServiceError(grpc.RpcError):
    """A failed call: its status code, message and structured details. Still a grpc.RpcError, with the
    usual `code()` and `details()`, so callers that catch grpc.RpcError keep working."""

    def __init__(
        self,
        status: grpc.StatusCode,
        message: str,
        *,
        field_violations: Sequence[tuple[str, str]] = (),
        shortfalls: Sequence[Shortfall] = (),
        reason: str = "",
        resource: tuple[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status.name}: {message}")
        self.status = status
        self.message = message
        self.field_violations = tuple(field_violations)
        self.shortfalls = tuple(shortfalls)
        self.reason = reason
        self.resource = resource
        self.retry_after = retry_after

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.message

    @property
    def field(self) -> str:
        """The first offending field named by the server ("" when none)."""
        return self.field_violations[0][0] if self.field_violations else ""

    @classmethod
    def from_rpc_error(cls, err: grpc.RpcError) -> ServiceError:
        call: Any = err
        status = call.code() if hasattr(call, "code") else grpc.StatusCode.UNKNOWN
        message = (call.details() if hasattr(call, "details") else str(err)) or ""
        if status is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in message:
            # gRPC's own size limit, not stock: say what to do about it
            message += " (the message size limit was hit: split the request, or raise --max-message-mb)"
        violations: list[tuple[str, str]] = []
        shortfalls: list[Shortfall] = []
        reason = ""
        resource: tuple[str, str] | None = None
        retry: float | None = None
        try:
            rich = rpc_status.from_call(call)
        except (ValueError, AttributeError, TypeError):
            rich = None
        if rich is not None:
            meta: Mapping[str, str] = {}
            for detail in rich.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    violations.extend((v.field, v.description) for v in bad.field_violations)
                elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    reason = info.reason
                    meta = dict(info.metadata)
                elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
                    res = error_details_pb2.ResourceInfo()
                    detail.Unpack(res)
                    resource = (res.resource_type, res.resource_name)
                elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                    ri = error_details_pb2.RetryInfo()
                    detail.Unpack(ri)
                    retry = ri.retry_delay.seconds + ri.retry_delay.nanos / 1e9
            lines = sorted({int(k[6 : k.index("]")]) for k in meta if k.startswith("lines[")})
            for i in lines:
                p = f"lines[{i}]."
                shortfalls.append(
                    Shortfall(
                        i,
                        meta.get(p + "sku", ""),
                        meta.get(p + "location", ""),
                        int(meta.get(p + "requested", 0)),
                        int(meta.get(p + "available", 0)),
                    )
                )
        return cls(
            status,
            message,
            field_violations=violations,
            shortfalls=shortfalls,
            reason=reason,
            resource=resource,
            retry_after=retry,
        )


# ---------------------------------------------------------------------------------------------- streams
class Watch(Iterator[AvailabilityChange]):
    """Changes as they happen. Iterate; `cancel()` (or leaving the `with` block) ends the stream."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> AvailabilityChange:
        try:
            m = next(self._call)
        except grpc.RpcError as err:
            if err.code() is grpc.StatusCode.CANCELLED and self._call.cancelled():
                raise StopIteration from None
            raise ServiceError.from_rpc_error(err) from None
        return AvailabilityChange(
            m.sku,
            m.location,
            m.quantity,
            m.previous_quantity,
            _status(m.status),
            _status(m.previous_status),
            m.sequence,
            m.stale,
        )

    def cancel(self) -> None:
        self._call.cancel()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


# ---------------------------------------------------------------------------------------------- client
@dataclass(slots=True)
class _Stubs:
    availability: apb_grpc.AvailabilityServiceStub
    inventory: ipb_grpc.InventoryServiceStub
    diagnostics: dpb_grpc.DiagnosticsServiceStub
    health: health_pb2_grpc.HealthStub
    reservation: rpb_grpc.ReservationServiceStub
    admin: rpb_grpc.AdminServiceStub
    routing: gpb_grpc.RoutingServiceStub


class Client:
    """A connection to an omniroute server. `target` is "host:port" or "unix:/path/to.sock"."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        max_message_mb: int = 64,
        token: str | None = None,
        tls: bool = False,
        tls_ca: str | Path | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        """`token` goes as `authorization: Bearer <token>` with every call (send it over TLS unless the
        server is on loopback or a Unix socket). TLS when `tls` is true or a tls_* file is given: `tls_ca`
        verifies the server (default: the system's trusted roots), `tls_cert` and `tls_key` are this
        client's certificate for mutual TLS, `tls_server_name` the name the server's certificate must carry
        when it is not the target's host."""
        self.target = target
        self.timeout = timeout
        limit = max_message_mb * 1024 * 1024
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ]
        channel: grpc.Channel
        if tls or tls_ca is not None or tls_cert is not None or tls_key is not None:
            from .tls import channel_credentials

            if tls_server_name:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            creds = channel_credentials(*(Path(f) if f is not None else None for f in (tls_ca, tls_cert, tls_key)))
            channel = grpc.secure_channel(target, creds, options=options)
        else:
            channel = grpc.insecure_channel(target, options=options)
        if token is not None:
            from .auth import BearerToken

            channel = grpc.intercept_channel(channel, BearerToken(token))
        self._channel = channel
        self._stubs = _Stubs(
            apb_grpc.AvailabilityServiceStub(self._channel),
            ipb_grpc.InventoryServiceStub(self._channel),
            dpb_grpc.DiagnosticsServiceStub(self._channel),
            health_pb2_grpc.HealthStub(self._channel),
            rpb_grpc.ReservationServiceStub(self._channel),
            rpb_grpc.AdminServiceStub(self._channel),
            gpb_grpc.RoutingServiceStub(self._channel),
        )

    # -------------------------------------------------------------- plumbing
    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @property
    def channel(self) -> grpc.Channel:
        """The underlying channel, for the generated stubs (omniroute.v1) when a raw call is wanted."""
        return self._channel

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self.timeout if timeout is None else timeout)
        except grpc.RpcError as err:
            raise ServiceError.from_rpc_error(err) from None

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Block until the server's health check says SERVING (the read model is loaded)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.health(timeout=max(0.1, min(2.0, deadline - time.monotonic()))) == "SERVING":
                    return
            except ServiceError as err:
                if err.status not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.target} not SERVING after {timeout:.0f} s")
            time.sleep(0.05)

    # -------------------------------------------------------------- availability
    def get_availability(
        self,
        skus: Sequence[str],
        *,
        channel: str,
        method: Method | str = Method.SHIP,
        group: str | None = None,
        locations: Sequence[str] | None = None,
        near: tuple[float, float] | None = None,
        radius_km: float | None = None,
        as_of: date | None = None,
        per_location: bool = False,
        min_sequence: int = 0,
        timeout: float | None = None,
    ) -> Availability:
        """ATP of SKUs for a channel and method: over the network (default), a group, listed locations,
        or within `radius_km` of `near` (lat, lon); give at most one of them."""
        given = sum(x is not None for x in (group, locations, near))
        if given > 1:
            raise ValueError("give at most one of group, locations and near")
        if (near is None) != (radius_km is None):
            raise ValueError("near and radius_km go together")
        req = apb.GetAvailabilityRequest(
            skus=skus,
            channel=channel,
            method=_method_pb(method),
            per_location=per_location,
            min_sequence=min_sequence,
        )
        if group is not None:
            req.scope.group = group
        elif locations is not None:
            req.scope.locations.ids.extend(locations)
        elif near is not None and radius_km is not None:
            req.scope.radius.center.latitude, req.scope.radius.center.longitude = near
            req.scope.radius.radius_km = radius_km
        if as_of is not None:
            req.as_of.year, req.as_of.month, req.as_of.day = as_of.year, as_of.month, as_of.day
        resp = self._call(self._stubs.availability.GetAvailability, req, timeout)
        cols = resp.locations
        sku_list = tuple(skus)
        rows = tuple(
            LocationRow(sku_list[k], loc, q, _status(s))
            for k, loc, q, s in zip(cols.sku_index, cols.location, cols.quantity, cols.status, strict=True)
        )
        return Availability(
            skus=sku_list,
            quantity=tuple(resp.quantity),
            status=tuple(_STATUS_OF_PB[s] for s in resp.status),
            unknown=tuple(resp.unknown),
            sequence=resp.sequence,
            stale=resp.stale,
            locations=rows,
        )

    def find_nearby_stores(
        self,
        lines: Mapping[str, int] | Sequence[tuple[str, int]],
        *,
        near: tuple[float, float],
        radius_km: float,
        channel: str,
        methods: Sequence[Method | str] = (),
        limit: int = 0,
        whole_cart_only: bool = False,
        timeout: float | None = None,
    ) -> NearbyStores:
        """Stores within `radius_km` of `near` offering pickup or curbside (or `methods`), nearest first;
        `lines` is {sku: quantity} or [(sku, quantity), ...]."""
        pairs = list(lines.items()) if isinstance(lines, Mapping) else list(lines)
        req = apb.FindNearbyStoresRequest(
            lines=[cpb.CartLine(sku=s, quantity=q) for s, q in pairs],
            near=cpb.Point(latitude=near[0], longitude=near[1]),
            radius_km=radius_km,
            channel=channel,
            methods=[_method_pb(m) for m in methods],
            limit=limit,
            whole_cart_only=whole_cart_only,
        )
        resp = self._call(self._stubs.availability.FindNearbyStores, req, timeout)
        return NearbyStores(
            tuple(
                NearbyStore(
                    s.location,
                    s.name,
                    s.distance_km,
                    tuple(_METHOD_OF_PB[m] for m in s.methods),
                    tuple(s.available),
                    s.whole_cart,
                    s.point.latitude,
                    s.point.longitude,
                )
                for s in resp.stores
            ),
            resp.sequence,
            resp.stale,
        )

    def watch_availability(
        self,
        skus: Sequence[str],
        *,
        channel: str,
        method: Method | str = Method.SHIP,
        locations: Sequence[str] = (),
        status_changes_only: bool = False,
        include_initial: bool = False,
        timeout: float | None = None,
    ) -> Watch:
        """A stream of changes (network totals, and per location when `locations` are given). No timeout
        by default: a watch lives until cancelled."""
        req = apb.WatchAvailabilityRequest(
            skus=skus,
            locations=locations,
            channel=channel,
            method=_method_pb(method),
            status_changes_only=status_changes_only,
            include_initial=include_initial,
        )
        return Watch(self._stubs.availability.WatchAvailability(req, timeout=timeout))

    def export_local_inventory(
        self,
        *,
        channel: str = "",
        locations: Sequence[str] = (),
        chunk_rows: int = 0,
        timeout: float | None = None,
    ) -> Iterator[FeedChunk]:
        """The local inventory feed in column chunks (default channel: the server's feed channel)."""
        req = apb.ExportLocalInventoryRequest(channel=channel, locations=locations, chunk_rows=chunk_rows)
        stream = self._stubs.availability.ExportLocalInventory(
            req, timeout=self.timeout if timeout is None else timeout
        )
        try:
            for m in stream:
                yield FeedChunk(
                    tuple(m.store_code),
                    tuple(m.id),
                    tuple(m.quantity),
                    tuple(m.availability),
                    tuple(m.pickup_method),
                    tuple(m.pickup_sla),
                    m.stale,
                )
        except grpc.RpcError as err:
            raise ServiceError.from_rpc_error(err) from None
        finally:
            stream.cancel()

    # -------------------------------------------------------------- inventory
    def apply_stock_events(
        self, events: Iterable[StockEvent | ipb.StockEvent], *, timeout: float | None = None
    ) -> EventBatch:
        """Apply a batch (at most 50,000); each event gets an outcome. Prebuilt protobuf events are sent
        as they are (the fast path for loaders)."""
        req = ipb.ApplyStockEventsRequest(
            events=[e if isinstance(e, ipb.StockEvent) else e.to_pb() for e in events]
        )
        resp = self._call(self._stubs.inventory.ApplyStockEvents, req, timeout)
        return EventBatch(
            outcomes=tuple(_OUTCOME_OF_PB[o] for o in resp.outcome),
            notes=tuple((n.index, n.reason) for n in resp.notes),
            sequence=resp.sequence,
            applied=resp.applied,
            duplicates=resp.duplicates,
            stale=resp.stale,
            rejected=resp.rejected,
        )

    def load_snapshot(self, path: str, *, timeout: float | None = None) -> SnapshotLoaded:
        """Replace the whole picture with a snapshot directory on the server's file system."""
        resp = self._call(
            self._stubs.inventory.LoadSnapshot, ipb.LoadSnapshotRequest(path=str(path)), timeout
        )
        return SnapshotLoaded(resp.sequence, resp.positions, resp.locations, resp.skus, resp.seconds)

    def get_positions(
        self, skus: Sequence[str], *, locations: Sequence[str] = (), timeout: float | None = None
    ) -> Positions:
        resp = self._call(
            self._stubs.inventory.GetPositions,
            ipb.GetPositionsRequest(skus=skus, locations=locations),
            timeout,
        )
        return Positions(
            positions=tuple(
                Position(
                    p.sku,
                    p.location,
                    p.on_hand,
                    p.reserved,
                    p.safety_stock,
                    p.safety_stock_explicit,
                    tuple(
                        Inbound(
                            date(i.expected.year, i.expected.month, i.expected.day),
                            i.quantity,
                            i.type,
                            i.promisable,
                        )
                        for i in p.inbound
                    ),
                )
                for p in resp.positions
            ),
            allocations=tuple(Allocation(a.sku, a.channel, a.quantity, a.consumed) for a in resp.allocations),
            unknown_skus=tuple(resp.unknown_skus),
            sequence=resp.sequence,
        )

    def set_safety_stock(self, entries: Sequence[SafetyStock], *, timeout: float | None = None) -> int:
        """Returns the ledger sequence of the write (pass it as `min_sequence` to read your write)."""
        req = ipb.SetSafetyStockRequest()
        for e in entries:
            entry = req.entries.add(sku=e.sku, location=e.location)
            if e.quantity is not None:
                entry.quantity = e.quantity
        return int(self._call(self._stubs.inventory.SetSafetyStock, req, timeout).sequence)

    def set_allocations(self, entries: Sequence[Allocation], *, timeout: float | None = None) -> int:
        req = ipb.SetAllocationsRequest(
            entries=[
                ipb.ChannelAllocation(sku=a.sku, channel=a.channel, quantity=a.quantity, consumed=a.consumed)
                for a in entries
            ]
        )
        return int(self._call(self._stubs.inventory.SetAllocations, req, timeout).sequence)

    def upsert_locations(self, locations: Sequence[LocationSpec], *, timeout: float | None = None) -> int:
        req = ipb.UpsertLocationsRequest(locations=[loc.to_pb() for loc in locations])
        return int(self._call(self._stubs.inventory.UpsertLocations, req, timeout).sequence)

    # -------------------------------------------------------------- reservations
    def reserve(
        self,
        reservation_id: str,
        channel: str,
        lines: Sequence[HoldLine | tuple[str, int]],
        *,
        ttl_seconds: int = 0,
        timeout: float | None = None,
    ) -> Reservation:
        """Hold every line or none (FAILED_PRECONDITION with `shortfalls` when stock is short). A line
        given as (sku, quantity) is held at the channel's network. `reservation_id` is the idempotency
        key: retrying with the same lines returns the same reservation. ttl_seconds 0: 15 minutes."""
        req = rpb.ReserveRequest(
            reservation_id=reservation_id,
            channel=channel,
            lines=[_hold_line_pb(ln) for ln in lines],
            ttl_seconds=ttl_seconds,
        )
        return _reservation(self._call(self._stubs.reservation.Reserve, req, timeout))

    def confirm(
        self, reservation_id: str, *, moves: Sequence[LineMove] = (), timeout: float | None = None
    ) -> Reservation:
        """The order is placed: the hold stops expiring; `moves` put group or network lines at locations."""
        req = rpb.ConfirmRequest(
            reservation_id=reservation_id,
            moves=[
                rpb.LineMove(
                    sku=mv.sku,
                    place=mv.place,
                    to=[rpb.Allocation(location=loc, quantity=q) for loc, q in mv.to],
                )
                for mv in moves
            ],
        )
        return _reservation(self._call(self._stubs.reservation.Confirm, req, timeout))

    def extend(self, reservation_id: str, ttl_seconds: int, *, timeout: float | None = None) -> Reservation:
        """A new deadline, `ttl_seconds` from now (0: 15 minutes), for a held (unconfirmed) reservation."""
        req = rpb.ExtendRequest(reservation_id=reservation_id, ttl_seconds=ttl_seconds)
        return _reservation(self._call(self._stubs.reservation.Extend, req, timeout))

    def release(
        self,
        reservation_id: str,
        lines: Sequence[LineQuantity | tuple[str, str, int]] | None = None,
        *,
        operation_id: str = "",
        timeout: float | None = None,
    ) -> Reservation:
        """Cancel everything still held (no lines), or these quantities; lines are (sku, place, quantity).
        A partial release with an `operation_id` can be retried safely."""
        req = rpb.ReleaseRequest(
            reservation_id=reservation_id,
            lines=[_line_quantity_pb(ln) for ln in lines or ()],
            operation_id=operation_id,
        )
        return _reservation(self._call(self._stubs.reservation.Release, req, timeout))

    def fulfill(
        self,
        reservation_id: str,
        lines: Sequence[LineQuantity | tuple[str, str, int]],
        *,
        operation_id: str = "",
        timeout: float | None = None,
    ) -> Reservation:
        """Shipped or picked up: on hand and reserved both go down. Location lines only (confirm group
        lines to locations first); with an `operation_id` a retry changes nothing."""
        req = rpb.FulfillRequest(
            reservation_id=reservation_id,
            lines=[_line_quantity_pb(ln) for ln in lines],
            operation_id=operation_id,
        )
        return _reservation(self._call(self._stubs.reservation.Fulfill, req, timeout))

    def get_reservation(self, reservation_id: str, *, timeout: float | None = None) -> Reservation:
        req = rpb.GetReservationRequest(reservation_id=reservation_id)
        return _reservation(self._call(self._stubs.reservation.GetReservation, req, timeout))

    def reconcile(
        self, *, repair: bool = False, skus: Sequence[str] = (), timeout: float | None = None
    ) -> ReconcileReport:
        """Recompute the ledger's hold counters from the reservation records and list every difference
        (all SKUs, or `skus`); `repair` also fixes them with recorded compensating changes."""
        req = rpb.ReconcileRequest(repair=repair, skus=skus)
        m = self._call(self._stubs.admin.Reconcile, req, timeout)
        return ReconcileReport(
            inconsistencies=tuple(
                Inconsistency(i.sku, i.place, i.counter, i.expected, i.found, tuple(i.reservations), i.repaired)
                for i in m.inconsistencies
            ),
            positions_checked=m.positions_checked,
            reservations_checked=m.reservations_checked,
            sequence=m.sequence,
        )

    # -------------------------------------------------------------- routing
    def route_order(
        self,
        order: Order,
        *,
        policy: str = "",
        hold: bool = False,
        reservation_id: str = "",
        time_limit_s: float = 0.0,
        timeout: float | None = None,
    ) -> RoutedOrder:
        """Route one order (policy "" means optimal). The holds of `reservation_id` (the cart's) count as
        available to the order. With `hold`, the plan is held as confirmed location holds: in that
        reservation (its group and network lines move to the plan's locations) or, without one, in a
        reservation named by the order id. Not enough stock is an answer (status INFEASIBLE, unfulfilled
        lines with reasons), not an error."""
        req = gpb.RouteOrderRequest(
            order=order.to_pb(),
            policy=policy,
            hold=hold,
            reservation_id=reservation_id,
            time_limit_seconds=time_limit_s,
        )
        m = self._call(self._stubs.routing.RouteOrder, req, timeout)
        return RoutedOrder(_routing_result(m.result), _hold(m.hold) if m.HasField("hold") else None)

    def route_orders(
        self, orders: Sequence[Order], *, policy: str = "", time_limit_s: float = 0.0, timeout: float | None = None
    ) -> BatchRouting:
        """Route a batch jointly (shared stock and capacity); the batch routed in sequence is in
        `sequential` for comparison."""
        req = gpb.RouteOrdersRequest(
            orders=[o.to_pb() for o in orders], policy=policy, time_limit_seconds=time_limit_s
        )
        m = self._call(self._stubs.routing.RouteOrders, req, timeout)
        return BatchRouting(
            results=tuple(_routing_result(r) for r in m.results),
            totals=_totals(m.totals),
            status=_solve_status(m.status),
            solver=m.solver,
            solver_status=m.solver_status,
            bound=m.bound if m.HasField("bound") else None,
            gap=m.gap if m.HasField("gap") else None,
            timed_out=m.timed_out,
            solve_time_s=m.solve_time_seconds,
            sequential=tuple(SequentialRouting(s.policy, _totals(s.totals), s.seconds) for s in m.sequential),
            message=m.message,
            sequence=m.sequence,
        )

    def reroute(
        self,
        order: Order,
        rejections: Sequence[Rejection],
        *,
        reservation_id: str = "",
        operation_id: str = "",
        rejected_at: datetime | None = None,
        policy: str = "",
        time_limit_s: float = 0.0,
        timeout: float | None = None,
    ) -> RerouteResult:
        """A store rejected lines of `order`: release its holds of them (in `reservation_id`, default the
        order id), record the stock consequence of each reason, route the rejected units elsewhere and
        hold the new plan in a reservation of its own."""
        req = gpb.RerouteRequest(
            order=order.to_pb(),
            reservation_id=reservation_id,
            rejections=[
                gpb.Rejection(
                    location=r.location, sku=r.sku, quantity=r.quantity, reason=_REJECT_PB[RejectReason(r.reason)]
                )
                for r in rejections
            ],
            operation_id=operation_id,
            policy=policy,
            time_limit_seconds=time_limit_s,
        )
        if rejected_at is not None:
            req.rejected_at.FromDatetime(rejected_at.astimezone(UTC))
        m = self._call(self._stubs.routing.Reroute, req, timeout)
        return RerouteResult(
            released=tuple(LineQuantity(lq.sku, lq.place, lq.quantity) for lq in m.released),
            stock_events=tuple(
                StockConsequence(
                    c.event.event_id,
                    _EVENT_TYPE_NAMES.get(c.event.type, "unspecified"),
                    c.event.location,
                    c.event.sku,
                    c.event.quantity,
                    _datetime(c.event.occurred_at),
                    _OUTCOME_OF_PB[c.outcome] if 0 <= c.outcome < len(_OUTCOME_OF_PB) else Outcome.UNSPECIFIED,
                    c.note,
                )
                for c in m.stock_events
            ),
            result=_routing_result(m.result),
            hold=_hold(m.hold) if m.HasField("hold") else None,
            reservation=_reservation(m.reservation),
        )

    def quote_fulfillment_options(
        self,
        lines: Sequence[tuple[str, int]],
        destination: tuple[float, float],
        *,
        channel: str,
        at: datetime | None = None,
        methods: Sequence[DeliveryMethod | str] = (),
        max_stores: int = 0,
        store_radius_km: float = 0.0,
        timeout: float | None = None,
    ) -> FulfillmentQuote:
        """Every way to receive a cart at `destination` (lat, lon): per ship service level the earliest
        delivery date, its cost and whether it is one parcel; the nearest stores for pickup and curbside
        with their ready times (defaults: 3 stores within 50 km). Unknown SKUs are flagged, not errors."""
        lat, lon = destination
        req = gpb.QuoteFulfillmentOptionsRequest(
            channel=channel,
            lines=[cpb.CartLine(sku=s, quantity=q) for s, q in lines],
            destination=cpb.Point(latitude=lat, longitude=lon),
            methods=[_DELIVERY_PB[DeliveryMethod(m)] for m in methods],
            max_stores=max_stores,
            store_radius_km=store_radius_km,
        )
        if at is not None:
            req.at.FromDatetime(at.astimezone(UTC))
        m = self._call(self._stubs.routing.QuoteFulfillmentOptions, req, timeout)
        return FulfillmentQuote(
            ship=tuple(_ship_option(o) for o in m.ship_options),
            stores=tuple(_store_option(s) for s in m.store_options),
            unknown_skus=tuple(m.unknown_skus),
            sequence=m.sequence,
        )

    # -------------------------------------------------------------- diagnostics
    def ping(self, *, timeout: float | None = None) -> float:
        """Round-trip time of a no-op call, in seconds."""
        started = time.perf_counter()
        self._call(self._stubs.diagnostics.Ping, dpb.PingRequest(), timeout)
        return time.perf_counter() - started

    def server_info(self, *, timeout: float | None = None) -> ServerInfo:
        m = self._call(self._stubs.diagnostics.GetServerInfo, dpb.GetServerInfoRequest(), timeout)
        return ServerInfo(
            m.version,
            m.backend,
            m.sequence,
            m.positions,
            m.locations,
            m.skus,
            m.channels,
            m.read_model_bytes,
            m.stale,
            m.pid,
            m.worker,
        )

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The grpc.health.v1 status name: SERVING, NOT_SERVING, ..."""
        resp = self._call(self._stubs.health.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))
