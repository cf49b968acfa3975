"""Domain types of routing: the order as asked, and the plan as answered. Frozen dataclasses, validated
where they are made; ids are strings here, dense indices only inside a RoutingProblem."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum

from availability.errors import InvalidArgument
from availability.model import Method, check_id, check_quantity, day_date

MAX_LINES = 500


class ServiceLevel(IntEnum):
    """Columns of the transit-time and parcel-rate tables."""

    STANDARD = 0
    EXPRESS = 1
    SAME_DAY = 2


class DeliveryMethod(StrEnum):
    """How the shopper gets the order: the issue's five methods. Each maps to the fulfilment method whose
    ATP it draws on and to the service level whose rates and transit times it pays."""

    STANDARD = "standard"
    EXPRESS = "express"
    PICKUP = "pickup"
    CURBSIDE = "curbside"
    SAME_DAY = "same_day"

    @property
    def atp_method(self) -> Method:
        return _ATP_METHOD[self]

    @property
    def service(self) -> ServiceLevel:
        return _SERVICE[self]

    @property
    def ships(self) -> bool:
        """True when a parcel travels to the shopper (as opposed to collection at a store)."""
        return self not in (DeliveryMethod.PICKUP, DeliveryMethod.CURBSIDE)

    @classmethod
    def parse(cls, value: str, field_name: str = "method") -> DeliveryMethod:
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        key = {"ship": "standard", "standard_ship": "standard", "express_ship": "express"}.get(key, key)
        try:
            return cls(key)
        except ValueError:
            raise InvalidArgument(field_name, value, f"must be one of {[m.value for m in cls]}") from None


_ATP_METHOD = {
    DeliveryMethod.STANDARD: Method.SHIP,
    DeliveryMethod.EXPRESS: Method.SHIP,
    DeliveryMethod.PICKUP: Method.PICKUP,
    DeliveryMethod.CURBSIDE: Method.CURBSIDE,
    DeliveryMethod.SAME_DAY: Method.SAME_DAY,
}
_SERVICE = {
    DeliveryMethod.STANDARD: ServiceLevel.STANDARD,
    DeliveryMethod.EXPRESS: ServiceLevel.EXPRESS,
    DeliveryMethod.PICKUP: ServiceLevel.STANDARD,
    DeliveryMethod.CURBSIDE: ServiceLevel.STANDARD,
    DeliveryMethod.SAME_DAY: ServiceLevel.SAME_DAY,
}


def check_solver_limits(time_limit_s: object, seed: object) -> None:
    """The time limit and seed every solver entry point takes."""
    if (
        isinstance(time_limit_s, bool)
        or not isinstance(time_limit_s, (int, float))
        or not (math.isfinite(time_limit_s) and time_limit_s > 0)
    ):
        raise InvalidArgument("time_limit_s", time_limit_s, "must be a positive number of seconds")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        raise InvalidArgument("seed", seed, "must be an integer in [0, 2**31)")


def _check_locations(field_name: str, ids: object) -> None:
    if isinstance(ids, str) or not isinstance(ids, tuple):
        raise InvalidArgument(field_name, ids, "must be a tuple of location or group ids")
    for lid in ids:
        check_id(field_name, lid)


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    # locations (or groups) that must not serve this line, e.g. a store that just failed to find it
    excluded_locations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Destination:
    """A point to ship to, or a store for pickup and curbside (exactly one of the two)."""

    latitude: float | None = None
    longitude: float | None = None
    store: str = ""

    def __post_init__(self) -> None:
        has_point = self.latitude is not None or self.longitude is not None
        if has_point == bool(self.store):
            raise InvalidArgument("destination", self, "give a point (latitude and longitude) or a store")
        if self.store:
            check_id("destination.store", self.store)
            return
        for name, v, lo, hi in (("latitude", self.latitude, -90, 90), ("longitude", self.longitude, -180, 180)):
            if isinstance(v, bool) or not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise InvalidArgument(f"destination.{name}", v, f"must be a number in [{lo}, {hi}]")

    @staticmethod
    def point(latitude: float, longitude: float) -> Destination:
        return Destination(latitude=latitude, longitude=longitude)

    @staticmethod
    def at_store(store: str) -> Destination:
        return Destination(store=store)


@dataclass(frozen=True, slots=True)
class RoutingOptions:
    max_shipments: int = 0  # 0: no limit
    allow_partial: bool = False  # ship what can be shipped, cancel the rest
    allow_backorder: bool = False  # ship what can be shipped, keep the rest on back order
    excluded_locations: tuple[str, ...] = ()  # location or group ids that must not serve the order

    def __post_init__(self) -> None:
        check_quantity("options.max_shipments", self.max_shipments)
        for name in ("allow_partial", "allow_backorder"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(f"options.{name}", getattr(self, name), "must be a boolean")
        _check_locations("options.excluded_locations", self.excluded_locations)

    @property
    def accepts_shortfall(self) -> bool:
        return self.allow_partial or self.allow_backorder


@dataclass(frozen=True, slots=True)
class Order:
    """One order to route. `placed_at` fixes "now" for cut-offs and dates (None: the time of routing)."""

    order_id: str
    channel: str
    lines: tuple[OrderLine, ...]
    destination: Destination
    method: DeliveryMethod = DeliveryMethod.STANDARD
    deliver_by: date | None = None
    placed_at: datetime | None = None
    options: RoutingOptions = field(default_factory=RoutingOptions)

    def __post_init__(self) -> None:
        check_id("order_id", self.order_id)
        check_id("channel", self.channel)
        if not isinstance(self.lines, tuple) or not self.lines:
            raise InvalidArgument("lines", self.lines, "must be a non-empty tuple of order lines")
        if len(self.lines) > MAX_LINES:
            raise InvalidArgument("lines", len(self.lines), f"at most {MAX_LINES} lines per order")
        seen: set[str] = set()
        for i, line in enumerate(self.lines):
            if not isinstance(line, OrderLine):
                raise InvalidArgument(f"lines[{i}]", line, "must be an OrderLine")
            check_id(f"lines[{i}].sku", line.sku)
            check_quantity(f"lines[{i}].quantity", line.quantity, allow_zero=False)
            _check_locations(f"lines[{i}].excluded_locations", line.excluded_locations)
            if line.sku in seen:
                # one SKU, one line: the plan's quantities per (location, SKU) would be ambiguous otherwise
                raise InvalidArgument(f"lines[{i}].sku", line.sku, "duplicate SKU in one order; merge the lines")
            seen.add(line.sku)
        if not isinstance(self.method, DeliveryMethod):
            raise InvalidArgument("method", self.method, "must be a DeliveryMethod")
        if not isinstance(self.destination, Destination):
            raise InvalidArgument("destination", self.destination, "must be a Destination")
        if self.method.ships and self.destination.store:
            raise InvalidArgument("destination.store", self.destination.store, f"{self.method} ships to a point")
        if not self.method.ships and not self.destination.store:
            raise InvalidArgument("destination", self.destination, f"{self.method} needs the store to collect from")
        if self.deliver_by is not None and (
            isinstance(self.deliver_by, datetime) or not isinstance(self.deliver_by, date)
        ):
            raise InvalidArgument("deliver_by", self.deliver_by, "must be a date")
        if self.placed_at is not None and (not isinstance(self.placed_at, datetime) or self.placed_at.tzinfo is None):
            raise InvalidArgument("placed_at", self.placed_at, "must be a timezone-aware datetime")
        if not isinstance(self.options, RoutingOptions):
            raise InvalidArgument("options", self.options, "must be RoutingOptions")

    def placed_at_or_now(self) -> datetime:
        return self.placed_at if self.placed_at is not None else datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- results


class SolveStatus(StrEnum):
    OPTIMAL = "optimal"  # proven best (by the solver, or by the candidate bound)
    FEASIBLE = "feasible"  # a valid plan without a proof: a baseline, or a solver time-out (see gap)
    INFEASIBLE = "infeasible"  # nothing can be shipped, or only part while the order wants all of it


class UnfulfilledReason(StrEnum):
    """Why units of a line are not in the plan; the first that applies, in this order."""

    UNKNOWN_SKU = "unknown_sku"
    NO_STOCK = "no_stock"  # the eligible locations together hold too little
    EXCLUDED = "excluded"  # enough only counting excluded locations
    DELIVER_BY = "deliver_by"  # enough only counting locations that deliver too late (or out of range)
    CAPACITY = "capacity"  # enough only counting locations without capacity left on their ship day
    MAX_SHIPMENTS = "max_shipments"  # the stock is there, but not within the allowed number of shipments


class Block(IntEnum):
    """Why a candidate location cannot ship this order (0: it can)."""

    USABLE = 0
    EXCLUDED = 1
    DELIVER_BY = 2
    OUT_OF_RANGE = 3  # same day: too far for the courier, or not ready today
    CAPACITY = 4


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cents. `parcel` is the carrier's base rate, `weight` its per-kg part, `handling` the picking cost
    (per order and per unit), `protection` the penalty for taking stores below their protection level,
    `extra_shipment` the cost of every shipment after the first."""

    parcel: int = 0
    weight: int = 0
    handling: int = 0
    protection: int = 0
    extra_shipment: int = 0

    @property
    def total(self) -> int:
        return self.parcel + self.weight + self.handling + self.protection + self.extra_shipment

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        return CostBreakdown(
            self.parcel + other.parcel,
            self.weight + other.weight,
            self.handling + other.handling,
            self.protection + other.protection,
            self.extra_shipment + other.extra_shipment,
        )


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

    @property
    def units(self) -> int:
        return sum(ln.quantity for ln in self.lines)


@dataclass(frozen=True, slots=True)
class UnfulfilledLine:
    line: int
    sku: str
    requested: int
    missing: int
    reason: UnfulfilledReason
    backordered: bool = False  # the order allows back orders: the missing units wait for supply
    # back orders dated by inbound supply (router.backorders): when supply covering the missing units
    # arrives, where, and when they would then be delivered; None / "" when no supply covers them
    expected_date: date | None = None
    expected_location: str = ""
    expected_delivery_date: date | None = None
    backorder_note: str = ""  # the dating in words, or why there is no date


@dataclass(frozen=True, slots=True)
class Alternative:
    """A plan the router did not choose and why: `extra_cost` (cents, vs the chosen plan) when it was a
    valid plan, None when it could not serve the order at all."""

    locations: tuple[str, ...]
    extra_cost: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class CandidateStats:
    pool: int  # locations with ATP for at least one line, before any filter
    usable: int  # left after exclusions, dates, range and capacity
    considered: int  # given to the optimiser after pruning
    exact: bool  # pruning provably kept an optimal plan
    note: str = ""


@dataclass(frozen=True, slots=True)
class RoutingResult:
    order_id: str
    policy: str
    status: SolveStatus
    shipments: tuple[Shipment, ...]
    unfulfilled: tuple[UnfulfilledLine, ...]
    cost: CostBreakdown
    solver: str  # "cp-sat", "bound" (proven without the solver), "greedy" (a baseline), "none"
    solve_time_s: float
    gap: float | None = None  # relative gap to the best bound when status is FEASIBLE after a time-out
    timed_out: bool = False
    candidates: CandidateStats | None = None
    alternatives: tuple[Alternative, ...] = ()
    message: str = ""

    @property
    def total_cost(self) -> int:
        return self.cost.total

    @property
    def shipment_count(self) -> int:
        return len(self.shipments)

    @property
    def explanation(self) -> str:
        return "; ".join(str(a) for a in self.alternatives)

    def shipped(self) -> dict[tuple[str, str], int]:
        """Units per (location, SKU): what a hold of the plan would take."""
        out: dict[tuple[str, str], int] = {}
        for s in self.shipments:
            for ln in s.lines:
                out[(s.location, ln.sku)] = out.get((s.location, ln.sku), 0) + ln.quantity
        return out


def money(cents: int) -> str:
    """Cents as a decimal amount ("14.20"), for explanations."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def date_of(day: int) -> date:
    return day_date(day)
