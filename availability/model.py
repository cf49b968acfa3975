"""Domain types of the inventory engine: plain frozen dataclasses, validated where they are made."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import InvalidArgument

I32 = npt.NDArray[np.int32]

# Quantities are int32 in the arrays; a single quantity or count above this is certainly a typo.
MAX_QUANTITY = 1_000_000_000
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#@+-]{0,127}\Z")
EPOCH = date(1970, 1, 1)


def check_id(field_name: str, value: object) -> str:
    """Ids are 1-128 printable ASCII characters without spaces, starting with a letter or digit."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidArgument(
            field_name, value, "must be 1-128 characters [A-Za-z0-9._:/#@+-], starting with a letter or digit"
        )
    return value


def check_quantity(field_name: str, value: object, *, allow_zero: bool = True, allow_negative: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(field_name, value, "must be an integer")
    if value < 0 and not allow_negative:
        raise InvalidArgument(field_name, value, "must not be negative")
    if value == 0 and not allow_zero:
        raise InvalidArgument(field_name, value, "must not be zero")
    if abs(value) > MAX_QUANTITY:
        raise InvalidArgument(field_name, value, f"magnitude must be at most {MAX_QUANTITY}")
    return value


def day_number(d: date) -> int:
    """Dates are int day numbers (days since 1970-01-01) inside the engine."""
    return (d - EPOCH).days


def day_date(n: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + n)


def today_number(now: datetime | None = None) -> int:
    return day_number((now or datetime.now(UTC)).date())


class LocationType(IntEnum):
    DISTRIBUTION_CENTER = 0
    STORE = 1
    DARK_STORE = 2
    DROP_SHIP_VENDOR = 3

    @classmethod
    def parse(cls, value: str, field_name: str = "type") -> LocationType:
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        aliases = {
            "DC": "DISTRIBUTION_CENTER",
            "DISTRIBUTION_CENTRE": "DISTRIBUTION_CENTER",
            "VENDOR": "DROP_SHIP_VENDOR",
        }
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise InvalidArgument(field_name, value, f"must be one of {[m.name.lower() for m in cls]}") from None


class Method(IntEnum):
    """Fulfilment methods; a location's offer is a bit mask of 1 << method."""

    SHIP = 0
    PICKUP = 1
    CURBSIDE = 2
    SAME_DAY = 3

    @property
    def bit(self) -> int:
        return 1 << int(self)

    @classmethod
    def parse(cls, value: str, field_name: str = "method") -> Method:
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        try:
            return cls[key]
        except KeyError:
            raise InvalidArgument(field_name, value, f"must be one of {[m.name.lower() for m in cls]}") from None


ALL_METHODS_MASK = sum(m.bit for m in Method)


class StockStatus(IntEnum):
    OUT_OF_STOCK = 0
    LOW_STOCK = 1
    IN_STOCK = 2


class InboundType(IntEnum):
    IN_TRANSIT = 0
    ON_ORDER = 1

    @classmethod
    def parse(cls, value: str, field_name: str = "type") -> InboundType:
        key = value.strip().upper().replace("-", "_").replace(" ", "_")
        aliases = {"PO": "ON_ORDER", "PURCHASE_ORDER": "ON_ORDER", "TRANSIT": "IN_TRANSIT"}
        key = aliases.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise InvalidArgument(field_name, value, f"must be one of {[m.name.lower() for m in cls]}") from None


class EventType(StrEnum):
    RECEIPT = "receipt"
    SALE = "sale"
    RETURN_SELLABLE = "return_sellable"
    RETURN_DAMAGED = "return_damaged"
    ADJUSTMENT = "adjustment"
    CYCLE_COUNT = "cycle_count"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"

    @classmethod
    def parse(cls, value: str, field_name: str = "type") -> EventType:
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise InvalidArgument(field_name, value, f"must be one of {[m.value for m in cls]}") from None


# Sign applied to quantity for delta events; CYCLE_COUNT is absolute and ADJUSTMENT carries its own sign.
EVENT_SIGN: dict[EventType, int] = {
    EventType.RECEIPT: 1,
    EventType.SALE: -1,
    EventType.RETURN_SELLABLE: 1,
    EventType.RETURN_DAMAGED: 0,  # recorded, but damaged units never become sellable stock
    EventType.ADJUSTMENT: 1,
    EventType.TRANSFER_OUT: -1,
    EventType.TRANSFER_IN: 1,
}


class EventOutcome(IntEnum):
    APPLIED = 0
    DUPLICATE = 1
    STALE = 2
    REJECTED = 3


@dataclass(frozen=True, slots=True)
class Location:
    id: str
    name: str
    type: LocationType
    latitude: float
    longitude: float
    timezone: str = "UTC"
    methods: frozenset[Method] = frozenset({Method.SHIP})
    channels: frozenset[str] = frozenset()
    processing_hours: int = 24
    cutoff: time = time(14, 0)
    daily_capacity: int = 1000
    handling_cost_per_order: int = 0  # cents
    handling_cost_per_unit: int = 0  # cents
    priority: int = 100
    enabled: bool = True

    def __post_init__(self) -> None:
        check_id("location.id", self.id)
        if not isinstance(self.type, LocationType):
            raise InvalidArgument("location.type", self.type, "must be a LocationType")
        if not (
            isinstance(self.latitude, (int, float)) and math.isfinite(self.latitude) and -90 <= self.latitude <= 90
        ):
            raise InvalidArgument("location.latitude", self.latitude, "must be a number in [-90, 90]")
        if not (
            isinstance(self.longitude, (int, float)) and math.isfinite(self.longitude) and -180 <= self.longitude <= 180
        ):
            raise InvalidArgument("location.longitude", self.longitude, "must be a number in [-180, 180]")
        for ch in self.channels:
            check_id("location.channels", ch)
        check_quantity("location.processing_hours", self.processing_hours)
        check_quantity("location.daily_capacity", self.daily_capacity)
        check_quantity("location.handling_cost_per_order", self.handling_cost_per_order)
        check_quantity("location.handling_cost_per_unit", self.handling_cost_per_unit)
        check_quantity("location.priority", self.priority, allow_negative=True)
        if not self.timezone:
            raise InvalidArgument("location.timezone", self.timezone, "must not be empty")

    @property
    def methods_mask(self) -> int:
        return sum(m.bit for m in self.methods)


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str = ""

    def __post_init__(self) -> None:
        check_id("channel.id", self.id)


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    unit_weight_g: int | None = None

    def __post_init__(self) -> None:
        check_id("sku.id", self.id)
        if self.unit_weight_g is not None:
            check_quantity("sku.unit_weight_g", self.unit_weight_g)


@dataclass(frozen=True, slots=True)
class LocationGroup:
    id: str
    locations: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        check_id("group.id", self.id)
        for loc in self.locations:
            check_id("group.locations", loc)


@dataclass(frozen=True, slots=True)
class StockEvent:
    """One fact from a POS or warehouse system. `quantity` is positive except for adjustments
    (a signed delta) and cycle counts (absolute, zero allowed). `occurred_at` is epoch milliseconds."""

    event_id: str
    type: EventType
    location: str
    sku: str
    quantity: int
    occurred_at: int
    channel: str = ""

    def payload_key(self) -> tuple[object, ...]:
        return (self.type, self.location, self.sku, self.quantity, self.occurred_at, self.channel)


def stock_event_problem(e: StockEvent, now_ms: int, max_future_ms: int) -> str:
    """Why a stock event is malformed, or '' when it is well formed: the one rule every ledger applies,
    in this order, so both backends reject the same events with the same reasons."""
    try:
        check_id("event_id", e.event_id)
        check_id("sku", e.sku)
        check_id("location", e.location)
        if not isinstance(e.type, EventType):
            return f"type={e.type!r}: unknown event type"
        if e.type is EventType.ADJUSTMENT:
            check_quantity("quantity", e.quantity, allow_zero=False, allow_negative=True)
        elif e.type is EventType.CYCLE_COUNT:
            check_quantity("quantity", e.quantity)
        else:
            check_quantity("quantity", e.quantity, allow_zero=False)
        if not isinstance(e.channel, str):
            return f"channel={e.channel!r}: must be a string"
        if e.channel:
            check_id("channel", e.channel)
    except InvalidArgument as err:
        return str(err)
    if isinstance(e.occurred_at, bool) or not isinstance(e.occurred_at, int) or e.occurred_at <= 0:
        return f"occurred_at={e.occurred_at!r}: must be a positive epoch time in milliseconds"
    if e.occurred_at > now_ms + max_future_ms:
        return f"occurred_at={e.occurred_at}: more than {max_future_ms // 3_600_000}h in the future"
    return ""


@dataclass(frozen=True, slots=True)
class EventResult:
    event_id: str
    outcome: EventOutcome
    reason: str = ""
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class EventBatchResult:
    results: list[EventResult]
    sequence: int

    def count(self, outcome: EventOutcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)


@dataclass(frozen=True, slots=True)
class AtpConfig:
    """ATP rules that are configuration rather than data."""

    # Share of inbound supply counted for promising, in basis points (9500 = 95%).
    inbound_share_bp: tuple[int, int] = (9500, 4000)  # indexed by InboundType
    # Default safety stock per location type when a position has none of its own.
    default_safety: tuple[int, int, int, int] = (0, 1, 0, 0)  # indexed by LocationType
    # Status thresholds: LOW_STOCK when 0 < atp <= threshold.
    low_stock_network: int = 10
    low_stock_location: int = 2

    def __post_init__(self) -> None:
        if len(self.inbound_share_bp) != len(InboundType):
            raise InvalidArgument("inbound_share_bp", self.inbound_share_bp, "needs one share per inbound type")
        for bp in self.inbound_share_bp:
            if not (isinstance(bp, int) and 0 <= bp <= 10_000):
                raise InvalidArgument("inbound_share_bp", bp, "must be an integer in [0, 10000] basis points")
        if len(self.default_safety) != len(LocationType):
            raise InvalidArgument("default_safety", self.default_safety, "needs one value per location type")
        for s in self.default_safety:
            check_quantity("default_safety", s)
        check_quantity("low_stock_network", self.low_stock_network)
        check_quantity("low_stock_location", self.low_stock_location)


_SHARE_KEYS = ("in_transit_percent", "on_order_percent")
_SAFETY_KEYS = ("distribution_center", "store", "dark_store", "drop_ship_vendor")


def check_toml_layout(data: dict[str, Any], allowed: Mapping[str, Sequence[str]], source: str) -> None:
    """Every section of a configuration file is a table of known keys; an error names the file, the
    section or key, and what is allowed (so a typo in a deployment fails at start-up, not later)."""
    for section, body in data.items():
        if section not in allowed:
            raise InvalidArgument(f"{source}: [{section}]", section, f"unknown section; use {sorted(allowed)}")
        if not isinstance(body, dict):
            raise InvalidArgument(f"{source}: [{section}]", body, "must be a table")
        for key in body:
            if key not in allowed[section]:
                raise InvalidArgument(
                    f"{source}: {section}.{key}", body[key], f"unknown key; use {list(allowed[section])}"
                )


def atp_config_from_mapping(data: object, source: str = "atp config") -> AtpConfig:
    """An AtpConfig from the documented TOML layout (README "ATP configuration"): every key optional,
    unknown keys rejected, each error naming the key and value."""
    if not isinstance(data, dict):
        raise InvalidArgument(source, data, "must be a table")
    allowed = {
        "promising": _SHARE_KEYS,
        "safety_stock": _SAFETY_KEYS,
        "status": ("low_stock_network", "low_stock_location"),
    }
    check_toml_layout(data, allowed, source)
    base = AtpConfig()
    promising = data.get("promising", {})
    shares = list(base.inbound_share_bp)
    for i, key in enumerate(_SHARE_KEYS):
        if key in promising:
            v = promising[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= 100:
                raise InvalidArgument(f"{source}: promising.{key}", v, "must be a number in [0, 100]")
            shares[i] = round(v * 100)
    safety = list(base.default_safety)
    for i, key in enumerate(_SAFETY_KEYS):
        if key in data.get("safety_stock", {}):
            safety[i] = check_quantity(f"{source}: safety_stock.{key}", data["safety_stock"][key])
    status = data.get("status", {})
    return AtpConfig(
        inbound_share_bp=(shares[0], shares[1]),
        default_safety=(safety[0], safety[1], safety[2], safety[3]),
        low_stock_network=check_quantity(
            f"{source}: status.low_stock_network", status.get("low_stock_network", base.low_stock_network)
        ),
        low_stock_location=check_quantity(
            f"{source}: status.low_stock_location", status.get("low_stock_location", base.low_stock_location)
        ),
    )


def read_toml(path: Path, field: str) -> dict[str, Any]:
    """A configuration file's TOML; one that cannot be read or parsed is the caller's `field` error."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as err:
        raise InvalidArgument(field, str(path), f"cannot be read: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise InvalidArgument(field, str(path), f"is not valid TOML: {err}") from None


def load_atp_config(path: Path) -> AtpConfig:
    return atp_config_from_mapping(read_toml(path, "atp_config"), str(path))


@dataclass(frozen=True, slots=True)
class StockRow:
    sku: str
    location: str
    on_hand: int
    safety_stock: int | None = None


@dataclass(frozen=True, slots=True)
class InboundRow:
    sku: str
    location: str
    quantity: int
    expected: date
    type: InboundType = InboundType.IN_TRANSIT


@dataclass(frozen=True, slots=True)
class AllocationRow:
    sku: str
    channel: str
    quantity: int
    consumed: int = 0


def _empty() -> I32:
    return np.zeros(0, dtype=np.int32)


@dataclass(slots=True)
class Snapshot:
    """A whole network and its stock, as loaded from files or generated. Columnar for size:
    stock, inbound and allocations are int32 numpy arrays of dense indices into the id lists."""

    locations: list[Location]
    channels: list[Channel]
    skus: list[Sku]
    groups: list[LocationGroup] = field(default_factory=list)
    # ATP rules that travel with the data (atp.toml in a snapshot directory); None: the defaults
    config: AtpConfig | None = None
    # stock: sku index, location index, on hand, safety stock (-1: the location type's default)
    stock_sku: I32 = field(default_factory=_empty)
    stock_loc: I32 = field(default_factory=_empty)
    stock_on_hand: I32 = field(default_factory=_empty)
    stock_safety: I32 = field(default_factory=_empty)
    # inbound: sku index, location index, quantity, expected day number, InboundType
    inbound_sku: I32 = field(default_factory=_empty)
    inbound_loc: I32 = field(default_factory=_empty)
    inbound_qty: I32 = field(default_factory=_empty)
    inbound_day: I32 = field(default_factory=_empty)
    inbound_type: I32 = field(default_factory=_empty)
    # allocations: sku index, channel index, quantity ring-fenced, quantity already consumed
    alloc_sku: I32 = field(default_factory=_empty)
    alloc_channel: I32 = field(default_factory=_empty)
    alloc_qty: I32 = field(default_factory=_empty)
    alloc_consumed: I32 = field(default_factory=_empty)

    @property
    def positions(self) -> int:
        return int(self.stock_sku.shape[0])


def utc_now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
