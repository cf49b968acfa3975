"""A simulation scenario: one TOML file a planner keeps and shares (README "Simulation").

Every key is optional and has the default of the dataclass field below; unknown sections and keys are
refused, and every bad value raises InvalidArgument naming the file, the key and the value, before any
work starts. Paths (a snapshot directory, a cost model) are relative to the scenario file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from availability.errors import InvalidArgument
from availability.model import check_toml_layout, read_toml
from omniroute.networkgen import DEFAULT_BASE_DATE, SIZES
from router import POLICIES
from router.model import DeliveryMethod

ALL_POLICIES = ("optimal", "nearest", "priority", "high_stock", "fewest_shipments")
assert set(ALL_POLICIES) == set(POLICIES), "a policy was added to the router: list it here too"

MAX_DAYS = 366
MAX_ORDERS_PER_DAY = 1_000_000


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """The network: a generated one (`omniroute generate`'s size and seed) or a snapshot directory."""

    size: str = "small"
    seed: int = 7
    snapshot: Path | None = None  # a snapshot directory instead of size and seed
    routing_config: Path | None = None  # the cost model; default the snapshot's routing.toml, else built in

    def describe(self) -> str:
        return f"snapshot {self.snapshot}" if self.snapshot else f"generated {self.size} network, seed {self.seed}"


@dataclass(frozen=True, slots=True)
class RunSpec:
    days: int = 3
    start_date: date = DEFAULT_BASE_DATE
    seed: int = 1  # the demand stream's seed: the same seed gives every policy the same shoppers
    policies: tuple[str, ...] = ALL_POLICIES
    time_limit_s: float = 1.0  # the optimiser's limit per order
    max_shipments: int = 0  # per order; 0: no limit


@dataclass(frozen=True, slots=True)
class DemandSpec:
    online_orders_per_day: float = 600.0  # carts placed per day (mean of a Poisson draw), abandoned ones included
    walk_ins_per_store_per_day: float = 40.0  # walk-in POS sales per enabled store and day (mean)
    mean_lines: float = 1.6  # lines per order: 1 + Poisson(mean_lines - 1), at most max_lines
    max_lines: int = 6
    multi_unit_share: float = 0.15  # share of lines asking for 2 or 3 units instead of 1
    destination_radius_km: float = 80.0  # shoppers live in cities within this distance of a store
    checkout_minutes: float = 8.0  # mean time from cart to checkout (exponential, below the cart's TTL)
    # shares of online orders by channel and by delivery method (normalised; a method no location offers
    # for the channel, e.g. pickup on the marketplace, is redrawn among the ones that are offered)
    channels: tuple[tuple[str, float], ...] = (
        ("web", 0.55),
        ("app", 0.25),
        ("marketplace", 0.12),
        ("call_center", 0.08),
    )
    methods: tuple[tuple[str, float], ...] = (
        ("standard", 0.57),
        ("express", 0.10),
        ("same_day", 0.03),
        ("pickup", 0.20),
        ("curbside", 0.10),
    )


@dataclass(frozen=True, slots=True)
class Rates:
    cart_abandonment: float = 0.3  # share of carts never checked out: their holds expire
    cart_ttl_minutes: int = 30  # a cart's hold expires this long after it was made
    returns: float = 0.08  # share of served order lines returned into a store
    return_after_days: int = 7  # returns come back 1 to this many days after the order
    phantom_stock: float = 0.02  # share of store positions whose record overstates the shelf
    backorder: float = 0.1  # share of orders that accept back orders (the rest cancel what cannot ship)
    walk_ins_respect_holds: bool = True  # false: walk-ins may take units held for online orders


@dataclass(frozen=True, slots=True)
class Replenishment:
    every_days: int = 1  # stores are refilled from DCs every this many days (0: never)
    hour_utc: int = 6  # when the transfers leave the DCs
    lead_hours: int = 12  # how long they travel
    reorder_below: float = 0.5  # a store position below this share of its starting stock is refilled to it


@dataclass(frozen=True, slots=True)
class Promise:
    """Days after the day an order is placed by which checkout promised it (the on-time measure)."""

    standard_days: int = 5
    express_days: int = 2
    same_day_days: int = 0
    pickup_days: int = 1
    curbside_days: int = 1
    # Route each order to its promise (the promised day is the order's deliver-by date, which every
    # policy's candidates respect), shipping late only what no location can deliver in time; off: the
    # router never sees the promise, as when checkout promises without asking it.
    route_to_promise: bool = True

    def days(self, method: DeliveryMethod) -> int:
        days: int = getattr(self, f"{method.value}_days")
        return days


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "scenario"
    network: NetworkSpec = field(default_factory=NetworkSpec)
    run: RunSpec = field(default_factory=RunSpec)
    demand: DemandSpec = field(default_factory=DemandSpec)
    rates: Rates = field(default_factory=Rates)
    replenishment: Replenishment = field(default_factory=Replenishment)
    promise: Promise = field(default_factory=Promise)
    source: str = ""  # the file it was read from


_SECTIONS: dict[str, type[Any]] = {
    "network": NetworkSpec,
    "run": RunSpec,
    "demand": DemandSpec,
    "rates": Rates,
    "replenishment": Replenishment,
    "promise": Promise,
}


def load_scenario(path: Path) -> Scenario:
    data = read_toml(path, "scenario")
    return scenario_from_mapping(data, source=str(path), base_dir=Path(path).resolve().parent)


def scenario_from_mapping(
    data: Mapping[str, Any], *, source: str = "scenario", base_dir: Path | None = None
) -> Scenario:
    """A Scenario from the TOML layout; paths relative to `base_dir` (default the working directory)."""
    base = base_dir or Path.cwd()
    body = dict(data)
    name = body.pop("name", Path(source).stem if source != "scenario" else "scenario")
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"{source}: name", name, "must be a non-empty string")
    allowed: dict[str, tuple[str, ...]] = {s: tuple(f for f in cls.__slots__) for s, cls in _SECTIONS.items()}
    allowed["demand"] = (*allowed["demand"], "channels", "methods")
    check_toml_layout(body, allowed, source)
    for section in ("channels", "methods"):
        sub = body.get("demand", {}).get(section)
        if sub is not None and not isinstance(sub, dict):
            raise InvalidArgument(f"{source}: demand.{section}", sub, "must be a table of name = share")
    return Scenario(
        name=name,
        network=_network(body.get("network", {}), source, base),
        run=_run(body.get("run", {}), source),
        demand=_demand(body.get("demand", {}), source),
        rates=_rates(body.get("rates", {}), source),
        replenishment=_replenishment(body.get("replenishment", {}), source),
        promise=_promise(body.get("promise", {}), source),
        source=source,
    )


# ------------------------------------------------------------------------------------------- checks
class _Reader:
    """Typed reads of one section, each error naming `file: section.key` and the value."""

    def __init__(self, body: Mapping[str, Any], source: str, section: str) -> None:
        self.body, self.source, self.section = body, source, section

    def name(self, key: str) -> str:
        return f"{self.source}: {self.section}.{key}"

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        v = self.body.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise InvalidArgument(self.name(key), v, f"must be an integer in [{lo}, {hi}]")
        return v

    def number(self, key: str, default: float, lo: float, hi: float, *, lo_open: bool = False) -> float:
        v = self.body.get(key, default)
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        if not ok or not (lo < v if lo_open else lo <= v) or not v <= hi:
            bracket = "(" if lo_open else "["
            raise InvalidArgument(self.name(key), v, f"must be a number in {bracket}{lo:g}, {hi:g}]")
        return float(v)

    def share(self, key: str, default: float) -> float:
        return self.number(key, default, 0.0, 1.0)

    def flag(self, key: str, default: bool) -> bool:
        v = self.body.get(key, default)
        if not isinstance(v, bool):
            raise InvalidArgument(self.name(key), v, "must be true or false")
        return v

    def path(self, key: str, base: Path) -> Path | None:
        v = self.body.get(key)
        if v is None:
            return None
        if not isinstance(v, str) or not v:
            raise InvalidArgument(self.name(key), v, "must be a path")
        p = Path(v)
        return p if p.is_absolute() else base / p


def _network(body: Mapping[str, Any], source: str, base: Path) -> NetworkSpec:
    r = _Reader(body, source, "network")
    snapshot = r.path("snapshot", base)
    if snapshot is not None:
        for key in ("size", "seed"):
            if key in body:
                raise InvalidArgument(r.name(key), body[key], "give a snapshot or a generated size and seed, not both")
        if not snapshot.is_dir():
            raise InvalidArgument(r.name("snapshot"), str(snapshot), "is not a directory")
    size = body.get("size", NetworkSpec().size)
    if size not in SIZES:
        raise InvalidArgument(r.name("size"), size, f"must be one of {list(SIZES)}")
    routing = r.path("routing_config", base)
    if routing is not None and not routing.is_file():
        raise InvalidArgument(r.name("routing_config"), str(routing), "is not a file")
    return NetworkSpec(size, r.integer("seed", NetworkSpec().seed, 0, 2**32 - 1), snapshot, routing)


def _run(body: Mapping[str, Any], source: str) -> RunSpec:
    r = _Reader(body, source, "run")
    d = RunSpec()
    start = body.get("start_date", d.start_date)
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise InvalidArgument(r.name("start_date"), start, "must be a date YYYY-MM-DD") from None
    if not isinstance(start, date) or hasattr(start, "hour"):
        raise InvalidArgument(r.name("start_date"), start, "must be a date YYYY-MM-DD")
    policies = body.get("policies", list(d.policies))
    if not isinstance(policies, list) or not policies:
        raise InvalidArgument(r.name("policies"), policies, f"must be a non-empty list of {list(ALL_POLICIES)}")
    for i, p in enumerate(policies):
        if p not in POLICIES:
            raise InvalidArgument(f"{r.name('policies')}[{i}]", p, f"must be one of {list(ALL_POLICIES)}")
    if len(set(policies)) != len(policies):
        raise InvalidArgument(r.name("policies"), policies, "names a policy twice")
    return RunSpec(
        days=r.integer("days", d.days, 1, MAX_DAYS),
        start_date=start,
        seed=r.integer("seed", d.seed, 0, 2**32 - 1),
        policies=tuple(policies),
        time_limit_s=r.number("time_limit_s", d.time_limit_s, 0.0, 60.0, lo_open=True),
        max_shipments=r.integer("max_shipments", d.max_shipments, 0, 100),
    )


Mix = tuple[tuple[str, float], ...]


def _mix(body: Mapping[str, Any], source: str, key: str, default: Mix) -> Mix:
    given = body.get(key)
    if given is None:
        return default
    r = _Reader(given, source, f"demand.{key}")
    out = tuple((str(k), r.number(str(k), 0.0, 0.0, 1e9)) for k in given)
    if not out or sum(w for _, w in out) <= 0:
        raise InvalidArgument(f"{source}: demand.{key}", dict(given), "needs at least one share above 0")
    return out


def _demand(body: Mapping[str, Any], source: str) -> DemandSpec:
    r = _Reader(body, source, "demand")
    d = DemandSpec()
    methods = _mix(body, source, "methods", d.methods)
    for m, _ in methods:
        try:
            DeliveryMethod(m)
        except ValueError:
            raise InvalidArgument(
                f"{source}: demand.methods.{m}", m, f"must be one of {[x.value for x in DeliveryMethod]}"
            ) from None
    max_lines = r.integer("max_lines", d.max_lines, 1, 50)
    return DemandSpec(
        online_orders_per_day=r.number("online_orders_per_day", d.online_orders_per_day, 0, MAX_ORDERS_PER_DAY),
        walk_ins_per_store_per_day=r.number("walk_ins_per_store_per_day", d.walk_ins_per_store_per_day, 0, 100_000),
        mean_lines=r.number("mean_lines", d.mean_lines, 1.0, float(max_lines)),
        max_lines=max_lines,
        multi_unit_share=r.share("multi_unit_share", d.multi_unit_share),
        destination_radius_km=r.number("destination_radius_km", d.destination_radius_km, 1.0, 5000.0),
        checkout_minutes=r.number("checkout_minutes", d.checkout_minutes, 0.0, 24 * 60.0, lo_open=True),
        channels=_mix(body, source, "channels", d.channels),
        methods=methods,
    )


def _rates(body: Mapping[str, Any], source: str) -> Rates:
    r = _Reader(body, source, "rates")
    d = Rates()
    return Rates(
        cart_abandonment=r.share("cart_abandonment", d.cart_abandonment),
        cart_ttl_minutes=r.integer("cart_ttl_minutes", d.cart_ttl_minutes, 2, 7 * 24 * 60),
        returns=r.share("returns", d.returns),
        return_after_days=r.integer("return_after_days", d.return_after_days, 1, 90),
        phantom_stock=r.share("phantom_stock", d.phantom_stock),
        backorder=r.share("backorder", d.backorder),
        walk_ins_respect_holds=r.flag("walk_ins_respect_holds", d.walk_ins_respect_holds),
    )


def _replenishment(body: Mapping[str, Any], source: str) -> Replenishment:
    r = _Reader(body, source, "replenishment")
    d = Replenishment()
    return Replenishment(
        every_days=r.integer("every_days", d.every_days, 0, MAX_DAYS),
        hour_utc=r.integer("hour_utc", d.hour_utc, 0, 23),
        lead_hours=r.integer("lead_hours", d.lead_hours, 0, 24 * 14),
        reorder_below=r.share("reorder_below", d.reorder_below),
    )


def _promise(body: Mapping[str, Any], source: str) -> Promise:
    r = _Reader(body, source, "promise")
    d = Promise()
    days = {key: r.integer(key, getattr(d, key), 0, 60) for key in Promise.__slots__ if key.endswith("_days")}
    return Promise(**days, route_to_promise=r.flag("route_to_promise", d.route_to_promise))
