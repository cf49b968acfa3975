"""The cost model: distances, transit times, cut-offs and what a shipment costs. One TOML file per network
(`routing.toml`, beside a snapshot's files; every key optional, defaults below), compiled against a
location table into per-location arrays (`NetworkCosts`) that candidate building reads with numpy.

Money is integer cents. A shipment from location l with units n_j of line j costs

    parcel(distance, service) + handling_per_order(l)
    + sum_j n_j * (weight_kg(sku_j) * per_kg(distance, service) + handling_per_unit(l))
    + protection_penalty * (units taken below l's protection level)
    + extra_shipment_cost for every shipment of the order after the first.

Dates: an order placed at T is ready at a location at T + processing hours (local time). It ships that
day if ready by the location's cut-off, else the next day, rolled on to the location's next working day
(`Calendar`: ship days per location type, network holidays); it arrives after the transit days of its
distance band and service level, counted in the carriers' working days (delivery days, not holidays).
Same day: 0 days, within the courier's range, shipped today only. The default calendar works every day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from availability.errors import InvalidArgument
from availability.locations import LocationTable, haversine_km
from availability.model import LocationType, check_quantity, check_toml_layout, day_number, read_toml

from .model import ServiceLevel

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

ROUTING_CONFIG_FILE = "routing.toml"
MINUTES_PER_DAY = 1440


def _check_money(field_name: str, value: object) -> int:
    """A non-negative whole number of cents."""
    return check_quantity(field_name, value)


def _check_rate(field_name: str, value: object) -> float:
    """A non-negative finite number (rates may be fractional cents; results are rounded)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidArgument(field_name, value, "must be a non-negative number")
    return float(value)


def _check_bands(field_name: str, bands: object) -> tuple[float, ...]:
    if not isinstance(bands, tuple) or not bands:
        raise InvalidArgument(field_name, bands, "must be a non-empty list of distances in km")
    out = tuple(_check_rate(field_name, b) for b in bands)
    if out[0] <= 0 or any(b >= a for a, b in zip(out[1:], out, strict=False)):
        raise InvalidArgument(field_name, bands, "must be positive and strictly increasing")
    return out


def _check_per_band(field_name: str, values: object, bands: tuple[float, ...], *, money: bool) -> None:
    if not isinstance(values, tuple) or len(values) != len(bands) + 1:
        raise InvalidArgument(
            field_name, values, f"needs {len(bands) + 1} values: one per band and one beyond the last"
        )
    for v in values:
        _check_money(field_name, v) if money else _check_rate(field_name, v)


@dataclass(frozen=True, slots=True)
class ParcelRates:
    """Carrier rates for standard service. `zones`: a flat cost per distance band (upper bounds in
    `zone_max_km`, one more cost for beyond the last) plus a per-kg rate per band. `per_km`: base +
    per_km * km, plus a flat per-kg rate."""

    mode: str = "zones"
    zone_max_km: tuple[float, ...] = (100.0, 300.0, 600.0, 1000.0, 1600.0, 2400.0)
    zone_cost: tuple[int, ...] = (600, 700, 820, 950, 1100, 1250, 1400)
    zone_cost_per_kg: tuple[float, ...] = (30.0, 45.0, 60.0, 80.0, 100.0, 125.0, 150.0)
    base: int = 550
    per_km: float = 0.35
    per_kg: float = 80.0

    def __post_init__(self) -> None:
        if self.mode not in ("zones", "per_km"):
            raise InvalidArgument("parcel.mode", self.mode, "must be 'zones' or 'per_km'")
        bands = _check_bands("parcel.zone_max_km", self.zone_max_km)
        _check_per_band("parcel.zone_cost", self.zone_cost, bands, money=True)
        _check_per_band("parcel.zone_cost_per_kg", self.zone_cost_per_kg, bands, money=False)
        _check_money("parcel.base", self.base)
        _check_rate("parcel.per_km", self.per_km)
        _check_rate("parcel.per_kg", self.per_kg)


@dataclass(frozen=True, slots=True)
class SameDayRates:
    """A local courier: base + per_km * km per trip, a per-kg rate, and a range beyond which it does not go."""

    base: int = 800
    per_km: float = 40.0
    per_kg: float = 20.0
    max_km: float = 60.0

    def __post_init__(self) -> None:
        _check_money("same_day.base", self.base)
        _check_rate("same_day.per_km", self.per_km)
        _check_rate("same_day.per_kg", self.per_kg)
        if _check_rate("same_day.max_km", self.max_km) <= 0:
            raise InvalidArgument("same_day.max_km", self.max_km, "must be positive")


@dataclass(frozen=True, slots=True)
class TransitTimes:
    """Days in transit per distance band (upper bounds in km; one more value for beyond the last)."""

    max_km: tuple[float, ...] = (100.0, 300.0, 600.0, 1000.0, 1600.0, 2400.0)
    standard_days: tuple[int, ...] = (1, 2, 2, 3, 4, 5, 6)
    express_days: tuple[int, ...] = (1, 1, 1, 1, 2, 2, 3)

    def __post_init__(self) -> None:
        bands = _check_bands("transit.max_km", self.max_km)
        _check_per_band("transit.standard_days", self.standard_days, bands, money=True)
        _check_per_band("transit.express_days", self.express_days, bands, money=True)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_WEEK = 0b111_1111  # a weekday mask with every day set (bit 0: Monday)


_DAY_NAMES = {
    **{w: w for w in WEEKDAYS},
    **dict(zip(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), WEEKDAYS, strict=True)),
}


def _check_weekdays(field_name: str, days: object) -> tuple[str, ...]:
    """Weekday names ("mon" .. "sun" or in full, any case, each once, at least one), in week order."""
    if isinstance(days, str) or not isinstance(days, (tuple, list)) or not days:
        raise InvalidArgument(field_name, days, f"must be a non-empty list of weekdays from {list(WEEKDAYS)}")
    names: list[str] = []
    for d in days:
        name = _DAY_NAMES.get(d.strip().lower()) if isinstance(d, str) else None
        if name is None:
            raise InvalidArgument(field_name, d, f"unknown weekday; use {list(WEEKDAYS)}")
        if name in names:
            raise InvalidArgument(field_name, d, "listed twice")
        names.append(name)
    return tuple(w for w in WEEKDAYS if w in names)


def weekday_mask(days: tuple[str, ...]) -> int:
    return sum(1 << WEEKDAYS.index(d) for d in days)


@dataclass(frozen=True, slots=True)
class Calendar:
    """The network's working days. Locations ship on `ship_days` (a location type may override them);
    carriers deliver, and count transit days, on `delivery_days`; nobody ships or delivers on a holiday.
    The default works every day of the year (dates are then plain calendar days)."""

    ship_days: tuple[str, ...] = WEEKDAYS
    delivery_days: tuple[str, ...] = WEEKDAYS
    holidays: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        # normalised in place (frozen): equal calendars compare equal however they were spelled
        object.__setattr__(self, "ship_days", _check_weekdays("calendar.ship_days", self.ship_days))
        object.__setattr__(self, "delivery_days", _check_weekdays("calendar.delivery_days", self.delivery_days))
        object.__setattr__(self, "holidays", _check_holidays("calendar.holidays", self.holidays))


def _check_holidays(field_name: str, days: object) -> tuple[date, ...]:
    if isinstance(days, str) or not isinstance(days, (tuple, list)):
        raise InvalidArgument(field_name, days, "must be a list of dates YYYY-MM-DD")
    out: set[date] = set()
    for d in days:
        if isinstance(d, str):
            try:
                d = date.fromisoformat(d.strip())
            except ValueError:
                raise InvalidArgument(field_name, d, "must be a date YYYY-MM-DD") from None
        if isinstance(d, datetime) or not isinstance(d, date):
            raise InvalidArgument(field_name, d, "must be a date YYYY-MM-DD")
        out.add(d)
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class LocationTypeRules:
    """What a location type adds to (handling, protection) or overrides of (cut-off, processing) each
    location's own figures from the locations file."""

    handling_per_order: int = 0  # cents, added to the location's handling_cost_per_order
    handling_per_unit: int = 0  # cents, added to the location's handling_cost_per_unit
    protection_level: int = 0  # units of each SKU kept for walk-in shoppers (above safety stock)
    cutoff: time | None = None  # None: each location's own cut-off
    processing_hours: int | None = None  # None: each location's own processing hours
    ship_days: tuple[str, ...] | None = None  # None: the calendar's ship days

    def __post_init__(self) -> None:
        if self.ship_days is not None:
            object.__setattr__(self, "ship_days", _check_weekdays("ship_days", self.ship_days))
        _check_money("handling_per_order", self.handling_per_order)
        _check_money("handling_per_unit", self.handling_per_unit)
        check_quantity("protection_level", self.protection_level)
        if self.cutoff is not None and not isinstance(self.cutoff, time):
            raise InvalidArgument("cutoff", self.cutoff, "must be a time of day")
        if self.processing_hours is not None:
            check_quantity("processing_hours", self.processing_hours)


def _default_type_rules() -> tuple[LocationTypeRules, ...]:
    # Picking in a store costs more than in a DC (walk the floor, pack at the till), and stores keep a
    # couple of units on the shelf for walk-in shoppers.
    return (
        LocationTypeRules(),  # distribution centre
        LocationTypeRules(handling_per_order=150, handling_per_unit=25, protection_level=2),  # store
        LocationTypeRules(handling_per_order=50, handling_per_unit=10),  # dark store
        LocationTypeRules(),  # drop-ship vendor
    )


@dataclass(frozen=True, slots=True)
class CostModel:
    parcel: ParcelRates = field(default_factory=ParcelRates)
    express_percent: int = 180  # express parcel and weight cost, in percent of standard
    same_day: SameDayRates = field(default_factory=SameDayRates)
    transit: TransitTimes = field(default_factory=TransitTimes)
    extra_shipment_cost: int = 500  # every shipment after the first: packaging, a second delivery
    protection_penalty_per_unit: int = 400
    default_unit_weight_g: int = 500  # SKUs without a weight
    location_types: tuple[LocationTypeRules, ...] = field(default_factory=_default_type_rules)
    calendar: Calendar = field(default_factory=Calendar)

    def __post_init__(self) -> None:
        for name, kind in (
            ("parcel", ParcelRates),
            ("same_day", SameDayRates),
            ("transit", TransitTimes),
            ("calendar", Calendar),
        ):
            if not isinstance(getattr(self, name), kind):
                raise InvalidArgument(name, getattr(self, name), f"must be {kind.__name__}")
        check_quantity("express_percent", self.express_percent)
        _check_money("extra_shipment_cost", self.extra_shipment_cost)
        _check_money("protection_penalty_per_unit", self.protection_penalty_per_unit)
        check_quantity("default_unit_weight_g", self.default_unit_weight_g)
        if len(self.location_types) != len(LocationType) or not all(
            isinstance(r, LocationTypeRules) for r in self.location_types
        ):
            raise InvalidArgument("location_types", self.location_types, "needs one rule set per location type")

    def type_rules(self, kind: LocationType) -> LocationTypeRules:
        return self.location_types[int(kind)]

    # ------------------------------------------------------------------ vectorised rates
    def _band(self, bands: tuple[float, ...], distance_km: F64) -> I64:
        out: I64 = np.searchsorted(np.asarray(bands), distance_km, side="left").astype(np.int64)
        return out

    def parcel_cost(self, distance_km: F64, service: ServiceLevel) -> I64:
        """Cents per parcel (without weight) for each distance."""
        p = self.parcel
        if service is ServiceLevel.SAME_DAY:
            cost = self.same_day.base + self.same_day.per_km * distance_km
        else:
            if p.mode == "zones":
                cost = np.asarray(p.zone_cost, dtype=np.float64)[self._band(p.zone_max_km, distance_km)]
            else:
                cost = p.base + p.per_km * distance_km
            if service is ServiceLevel.EXPRESS:
                cost = cost * (self.express_percent / 100.0)
        out: I64 = np.rint(cost).astype(np.int64)
        return out

    def per_kg_cost(self, distance_km: F64, service: ServiceLevel) -> F64:
        """Cents per kg for each distance (fractional: rounded per unit by the caller)."""
        p = self.parcel
        if service is ServiceLevel.SAME_DAY:
            return np.full(distance_km.shape[0], self.same_day.per_kg, dtype=np.float64)
        if p.mode == "zones":
            rate = np.asarray(p.zone_cost_per_kg, dtype=np.float64)[self._band(p.zone_max_km, distance_km)]
        else:
            rate = np.full(distance_km.shape[0], p.per_kg, dtype=np.float64)
        if service is ServiceLevel.EXPRESS:
            rate = rate * (self.express_percent / 100.0)
        return rate

    def transit_days(self, distance_km: F64, service: ServiceLevel) -> I64:
        if service is ServiceLevel.SAME_DAY:
            return np.zeros(distance_km.shape[0], dtype=np.int64)
        t = self.transit
        days = t.standard_days if service is ServiceLevel.STANDARD else t.express_days
        out: I64 = np.asarray(days, dtype=np.int64)[self._band(t.max_km, distance_km)]
        return out

    def in_range(self, distance_km: F64, service: ServiceLevel) -> npt.NDArray[np.bool_]:
        if service is ServiceLevel.SAME_DAY:
            out: npt.NDArray[np.bool_] = distance_km <= self.same_day.max_km
            return out
        return np.ones(distance_km.shape[0], dtype=np.bool_)


# ------------------------------------------------------------------------------------------ TOML


_SECTIONS: dict[str, tuple[str, ...]] = {
    "parcel": ("mode", "zone_max_km", "zone_cost", "zone_cost_per_kg", "base", "per_km", "per_kg"),
    "express": ("cost_percent",),
    "same_day": ("base", "per_km", "per_kg", "max_km"),
    "transit": ("max_km", "standard_days", "express_days"),
    "shipments": ("extra_shipment_cost",),
    "protection": ("penalty_per_unit",),
    "weights": ("default_unit_weight_g",),
    "location_types": ("distribution_center", "store", "dark_store", "drop_ship_vendor"),
    "calendar": ("ship_days", "delivery_days", "holidays"),
}
# (section, key) in the file -> CostModel attribute
_SCALARS = (
    ("express", "cost_percent", "express_percent"),
    ("shipments", "extra_shipment_cost", "extra_shipment_cost"),
    ("protection", "penalty_per_unit", "protection_penalty_per_unit"),
    ("weights", "default_unit_weight_g", "default_unit_weight_g"),
)
_TYPE_KEYS = (
    "handling_per_order",
    "handling_per_unit",
    "protection_level",
    "cutoff",
    "processing_hours",
    "ship_days",
)


def _as_tuple(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _parse_cutoff(field_name: str, value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidArgument(field_name, value, "must be a local time of day HH:MM")


def cost_model_from_mapping(data: object, source: str = "routing config") -> CostModel:
    """A CostModel from the documented TOML layout (README "Routing"): every key optional, unknown keys
    refused, every error naming the key and value."""
    if not isinstance(data, dict):
        raise InvalidArgument(source, data, "must be a table")
    check_toml_layout(data, _SECTIONS, source)

    def build(kind: type[Any], section: str) -> Any:
        kwargs = {k: _as_tuple(v) for k, v in data.get(section, {}).items()}
        try:
            return kind(**kwargs)
        except InvalidArgument as err:
            raise InvalidArgument(f"{source}: {err.field}", err.value, err.reason) from None

    base = CostModel()
    rules = list(base.location_types)
    for i, name in enumerate(_SECTIONS["location_types"]):
        body = data.get("location_types", {}).get(name)
        if body is None:
            continue
        where = f"{source}: location_types.{name}"
        if not isinstance(body, dict):
            raise InvalidArgument(where, body, "must be a table")
        for key in body:
            if key not in _TYPE_KEYS:
                raise InvalidArgument(f"{where}.{key}", body[key], f"unknown key; use {list(_TYPE_KEYS)}")
        kwargs = dict(body)
        if "cutoff" in kwargs:
            kwargs["cutoff"] = _parse_cutoff(f"{where}.cutoff", kwargs["cutoff"])
        if "ship_days" in kwargs:
            kwargs["ship_days"] = _as_tuple(kwargs["ship_days"])
        # a type's table replaces the defaults of that type as a whole: what it leaves out is 0 / unset
        try:
            rules[i] = LocationTypeRules(**kwargs)
        except InvalidArgument as err:
            raise InvalidArgument(f"{where}.{err.field}", err.value, err.reason) from None

    scalars: dict[str, Any] = {}
    for section, key, attr in _SCALARS:
        if key in data.get(section, {}):
            # checked here, under the file's own key names, so CostModel's check cannot fail on them
            scalars[attr] = check_quantity(f"{source}: {section}.{key}", data[section][key])
    return CostModel(
        parcel=build(ParcelRates, "parcel"),
        same_day=build(SameDayRates, "same_day"),
        transit=build(TransitTimes, "transit"),
        calendar=build(Calendar, "calendar"),
        location_types=tuple(rules),
        **scalars,
    )


def load_cost_model(path: Path) -> CostModel:
    return cost_model_from_mapping(read_toml(path, "routing_config"), str(path))


def cost_model_for_snapshot(directory: Path) -> CostModel:
    """The cost model of a snapshot directory: its routing.toml, or the defaults when it has none."""
    path = Path(directory) / ROUTING_CONFIG_FILE
    return load_cost_model(path) if path.exists() else CostModel()


# --------------------------------------------------------------------------- compiled per network


class NetworkCosts:
    """A cost model applied to one location table: per-location arrays, indexed like the table. Immutable;
    a new table (location upserts) needs a new one (see `network_costs`)."""

    def __init__(self, table: LocationTable, model: CostModel) -> None:
        self.table = table
        self.model = model
        locs = table.locations
        n = len(locs)
        rules = [model.type_rules(loc.type) for loc in locs]
        self.lat = table.lat
        self.lon = table.lon
        self.handling_per_order = np.array(
            [loc.handling_cost_per_order + r.handling_per_order for loc, r in zip(locs, rules, strict=True)],
            dtype=np.int64,
        ).reshape(n)
        self.handling_per_unit = np.array(
            [loc.handling_cost_per_unit + r.handling_per_unit for loc, r in zip(locs, rules, strict=True)],
            dtype=np.int64,
        ).reshape(n)
        self.protection = np.array([r.protection_level for r in rules], dtype=np.int64).reshape(n)
        self.cutoff_min = np.array(
            [_minutes(r.cutoff if r.cutoff is not None else loc.cutoff) for loc, r in zip(locs, rules, strict=True)],
            dtype=np.int64,
        ).reshape(n)
        self.processing_min = np.array(
            [
                60 * (r.processing_hours if r.processing_hours is not None else loc.processing_hours)
                for loc, r in zip(locs, rules, strict=True)
            ],
            dtype=np.int64,
        ).reshape(n)
        cal = model.calendar
        self.ship_mask = np.array(
            [weekday_mask(r.ship_days if r.ship_days is not None else cal.ship_days) for r in rules], dtype=np.int64
        ).reshape(n)
        self.delivery_mask = weekday_mask(cal.delivery_days)
        self.holidays = np.array(sorted(day_number(d) for d in cal.holidays), dtype=np.int64)
        # the default calendar (every day, no holiday) skips the rolling below: the hot path stays as it was
        self.ships_every_day = not cal.holidays and bool((self.ship_mask == ALL_WEEK).all())
        self.delivers_every_day = not cal.holidays and self.delivery_mask == ALL_WEEK
        self.capacity = np.array([loc.daily_capacity for loc in locs], dtype=np.int64).reshape(n)
        self.priority = np.array([loc.priority for loc in locs], dtype=np.int64).reshape(n)
        zones: list[str] = []
        zone_of: dict[str, int] = {}
        tz_idx = np.zeros(n, dtype=np.int64)
        for i, loc in enumerate(locs):
            k = zone_of.get(loc.timezone)
            if k is None:
                k = zone_of[loc.timezone] = len(zones)
                zones.append(loc.timezone)
            tz_idx[i] = k
        self.tz_index = tz_idx
        self._zones = tuple(_zone(z, locs[int(np.argmax(tz_idx == k))].id) for k, z in enumerate(zones))

    def distances_km(self, latitude: float, longitude: float, locs: I64 | None = None) -> F64:
        if locs is None:
            return haversine_km(latitude, longitude, self.lat, self.lon)
        return haversine_km(latitude, longitude, self.lat[locs], self.lon[locs])

    def utc_offsets_min(self, at: datetime) -> I64:
        """Each time zone's offset from UTC at that instant, in minutes."""
        return np.array(
            [int((at.astimezone(z).utcoffset() or _ZERO).total_seconds()) // 60 for z in self._zones],
            dtype=np.int64,
        )

    def ship_days(self, placed_at: datetime, locs: I64) -> I64:
        """Day number on which an order placed at `placed_at` leaves each location (ready, for pickup)."""
        utc_min = int(placed_at.astimezone(UTC).timestamp() // 60)
        local = utc_min + self.utc_offsets_min(placed_at)[self.tz_index[locs]]
        ready = local + self.processing_min[locs]
        day = ready // MINUTES_PER_DAY
        late = (ready % MINUTES_PER_DAY) > self.cutoff_min[locs]
        out: I64 = day + late.astype(np.int64)
        return self.next_ship_days(out, locs)

    def _working(self, days: I64, masks: I64 | int) -> npt.NDArray[np.bool_]:
        weekday = (days + 3) % 7  # day 0 (1970-01-01) was a Thursday
        out: npt.NDArray[np.bool_] = ((np.right_shift(masks, weekday) & 1) == 1) & ~np.isin(days, self.holidays)
        return out

    def next_ship_days(self, days: I64, locs: I64) -> I64:
        """Each day, or the first working ship day after it at the location (same shape as `locs`)."""
        if self.ships_every_day:
            return days
        out = np.array(days, dtype=np.int64, copy=True)
        masks = self.ship_mask[locs]
        # every location ships on some weekday, so this ends within a week past the holidays
        for _ in range(8 + self.holidays.shape[0]):
            off = ~self._working(out, masks)
            if not off.any():
                break
            out[off] += 1
        return out

    def delivery_days(self, ship_days: I64, transit_days: I64) -> I64:
        """The day a parcel shipped on each ship day arrives after its transit days, counted in the
        carriers' working days (a day of transit ends on a delivery day that is not a holiday)."""
        if self.delivers_every_day:
            out: I64 = ship_days + transit_days
            return out
        day = np.array(ship_days, dtype=np.int64, copy=True)
        left = np.array(transit_days, dtype=np.int64, copy=True)
        while (moving := left > 0).any():
            day[moving] += 1
            left[moving & self._working(day, self.delivery_mask)] -= 1
        return day

    def local_days(self, placed_at: datetime, locs: I64) -> I64:
        """The local day number at each location when the order is placed (same-day service's 'today')."""
        utc_min = int(placed_at.astimezone(UTC).timestamp() // 60)
        out: I64 = (utc_min + self.utc_offsets_min(placed_at)[self.tz_index[locs]]) // MINUTES_PER_DAY
        return out


_ZERO = datetime(2000, 1, 1, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _zone(name: str, location: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument("location.timezone", name, f"unknown IANA time zone at location {location!r}") from None


DEFAULT_COST_MODEL = CostModel()
_CACHE: dict[tuple[int, CostModel], NetworkCosts] = {}


def network_costs(table: LocationTable, model: CostModel) -> NetworkCosts:
    """The compiled costs of a table and model, cached: building them walks every location in Python.
    Keyed by the table's identity (an entry holds its table, so the id cannot be reused while cached)
    and the model's value (equal models loaded twice share an entry)."""
    key = (id(table), model)
    hit = _CACHE.get(key)
    if hit is not None and hit.table is table:
        return hit
    if len(_CACHE) >= 16:
        _CACHE.clear()
    costs = _CACHE[key] = NetworkCosts(table, model)
    return costs
