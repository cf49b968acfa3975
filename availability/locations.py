"""The network's locations as arrays, location groups, and the eligibility masks ATP queries use."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .catalog import IdIndex
from .errors import InvalidArgument
from .model import AtpConfig, Channel, Location, LocationGroup, Method, check_id

NETWORK_GROUP = "@network"  # the place of a network hold: the channel's enabled locations
MAX_CHANNELS = 64  # channels are bits of a uint64 per location
K_SAFETY_SHIFT = 2  # the mask word's default safety stock starts at bit 2 (see _kernels.py)
K_GROUP_WORD = 1 << 62  # mask words of hold groups (see _kernels.py)
K_CONTAINED = 1 << 61
EARTH_RADIUS_KM = 6371.0088


SCOPE_KINDS = ("network", "group", "locations", "radius")


@dataclass(frozen=True, slots=True)
class Scope:
    """Where an ATP question looks: the network, a group, listed locations, or a radius around a point.
    Checked where it is made; whether a group or location exists is checked against a network when used."""

    kind: str = "network"  # network | group | locations | radius
    group: str = ""
    locations: tuple[str, ...] = ()
    latitude: float = 0.0
    longitude: float = 0.0
    radius_km: float = 0.0

    def __post_init__(self) -> None:
        if self.kind == "network":
            return
        if self.kind not in SCOPE_KINDS:
            raise InvalidArgument("scope.kind", self.kind, "must be network, group, locations or radius")
        if self.kind == "group":
            check_id("scope.group", self.group)
        elif self.kind == "locations":
            if isinstance(self.locations, str) or not isinstance(self.locations, tuple):
                raise InvalidArgument("scope.locations", self.locations, "must be a tuple of location ids")
            if not self.locations:
                raise InvalidArgument("scope.locations", [], "must list at least one location")
            for lid in self.locations:
                check_id("scope.locations", lid)
        else:
            for name, v, lo, hi in (
                ("latitude", self.latitude, -90, 90),
                ("longitude", self.longitude, -180, 180),
            ):
                if isinstance(v, bool) or not (
                    isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi
                ):
                    raise InvalidArgument(f"scope.{name}", v, f"must be a number in [{lo}, {hi}]")
            r = self.radius_km
            if isinstance(r, bool) or not (
                isinstance(r, (int, float)) and math.isfinite(r) and 0 < r <= 20_100
            ):
                raise InvalidArgument("scope.radius_km", r, "must be a number in (0, 20100]")

    @staticmethod
    def network() -> Scope:
        return Scope()

    @staticmethod
    def of_group(group: str) -> Scope:
        return Scope(kind="group", group=group)

    @staticmethod
    def of_locations(locations: Iterable[str]) -> Scope:
        if isinstance(locations, str):
            raise InvalidArgument(
                "scope.locations", locations, "must be a list of location ids, not one string"
            )
        return Scope(kind="locations", locations=tuple(locations))

    @staticmethod
    def within(latitude: float, longitude: float, radius_km: float) -> Scope:
        return Scope(kind="radius", latitude=latitude, longitude=longitude, radius_km=radius_km)


def haversine_km(
    lat: float, lon: float, lats: npt.NDArray[np.float64], lons: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    p1 = math.radians(lat)
    p2 = np.radians(lats)
    dp = p2 - p1
    dl = np.radians(lons) - math.radians(lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    return out


class LocationTable:
    """Immutable: an upsert makes a new table, so a reader holding one always sees a consistent network."""

    def __init__(
        self,
        locations: Sequence[Location],
        channels: Sequence[Channel],
        groups: Sequence[LocationGroup] = (),
        config: AtpConfig | None = None,
    ) -> None:
        self.config = config or AtpConfig()
        self.locations: tuple[Location, ...] = tuple(locations)
        self.index = IdIndex("location")
        for loc in self.locations:
            if loc.id in self.index:
                raise InvalidArgument("location.id", loc.id, "duplicate location id")
            self.index.add(loc.id)
        self.channel_list: tuple[Channel, ...] = tuple(channels)
        self.channels = IdIndex("channel")
        for ch in self.channel_list:
            if ch.id in self.channels:
                raise InvalidArgument("channel.id", ch.id, "duplicate channel id")
            self.channels.add(ch.id)
        if len(self.channels) > MAX_CHANNELS:
            raise InvalidArgument(
                "channels", len(self.channels), f"at most {MAX_CHANNELS} channels are supported"
            )
        self.groups: dict[str, npt.NDArray[np.int64]] = {}
        self.group_list: tuple[LocationGroup, ...] = tuple(groups)
        for g in self.group_list:
            if g.id in self.groups:
                raise InvalidArgument("group.id", g.id, "duplicate group id")
            members = []
            for lid in g.locations:
                li = self.index.get(lid)
                if li is None:
                    raise InvalidArgument("group.locations", lid, f"unknown location in group {g.id!r}")
                members.append(li)
            self.groups[g.id] = np.array(sorted(set(members)), dtype=np.int64)
        n = len(self.locations)
        self.enabled = np.array([loc.enabled for loc in self.locations], dtype=np.uint8).reshape(n)
        self.methods = np.array([loc.methods_mask for loc in self.locations], dtype=np.uint8).reshape(n)
        self.ltype = np.array([int(loc.type) for loc in self.locations], dtype=np.int8).reshape(n)
        self.lat = np.array([loc.latitude for loc in self.locations], dtype=np.float64).reshape(n)
        self.lon = np.array([loc.longitude for loc in self.locations], dtype=np.float64).reshape(n)
        bits = np.zeros(n, dtype=np.uint64)
        for i, loc in enumerate(self.locations):
            b = 0
            for ch_id in loc.channels:
                ci = self.channels.get(ch_id)
                if ci is None:
                    raise InvalidArgument(
                        "location.channels", ch_id, f"unknown channel at location {loc.id!r}"
                    )
                b |= 1 << ci
            bits[i] = b
        self.channel_bits = bits
        self.default_safety = np.array(
            [self.config.default_safety[int(t)] for t in self.ltype], dtype=np.int32
        ).reshape(n)
        self._masks: dict[tuple[int, int, Scope], npt.NDArray[np.int64]] = {}
        self._by_id: dict[int, tuple[Scope, list[list[npt.NDArray[np.int64] | None]]]] = {}

    def __len__(self) -> int:
        return len(self.locations)

    def location(self, idx: int) -> Location:
        return self.locations[idx]

    def with_locations(self, upserts: Sequence[Location]) -> LocationTable:
        """A new table with these locations added or replaced (indices of existing ones unchanged)."""
        by_id = {loc.id: loc for loc in self.locations}
        order = list(self.locations)
        seen: set[str] = set()
        for loc in upserts:
            if loc.id in seen:
                raise InvalidArgument("locations.id", loc.id, "duplicate location id in one request")
            seen.add(loc.id)
            if loc.id in by_id:
                order[self.index.index(loc.id)] = loc
            else:
                order.append(loc)
        return LocationTable(order, self.channel_list, self.group_list, self.config)

    def with_config(self, config: AtpConfig) -> LocationTable:
        return LocationTable(self.locations, self.channel_list, self.group_list, config)

    def channel_index(self, channel: str) -> int:
        ci = self.channels.get(channel)
        if ci is None:
            raise InvalidArgument("channel", channel, "unknown channel")
        return ci

    def resolve_locations(self, field: str, ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Dense indices for location ids or group ids (groups are usable wherever a location list is)."""
        out: list[int] = []
        for lid in ids:
            li = self.index.get(lid)
            if li is not None:
                out.append(li)
                continue
            members = self.groups.get(lid)
            if members is not None:
                out.extend(int(m) for m in members)
                continue
            check_id(field, lid)
            raise InvalidArgument(field, lid, "unknown location or location group")
        return np.array(sorted(set(out)), dtype=np.int64)

    def scope_members(self, scope: Scope) -> npt.NDArray[np.bool_]:
        n = len(self.locations)
        if scope.kind == "network":
            return np.ones(n, dtype=np.bool_)
        inside = np.zeros(n, dtype=np.bool_)
        if scope.kind == "group":
            members = self.groups.get(scope.group)
            if members is None:
                raise InvalidArgument("scope.group", scope.group, "unknown location group")
            inside[members] = True
        elif scope.kind == "locations":
            if not scope.locations:
                raise InvalidArgument("scope.locations", [], "must list at least one location")
            inside[self.resolve_locations("scope.locations", scope.locations)] = True
        elif scope.kind == "radius":
            inside = haversine_km(scope.latitude, scope.longitude, self.lat, self.lon) <= scope.radius_km
        else:
            raise InvalidArgument("scope.kind", scope.kind, "must be network, group, locations or radius")
        return inside

    def eligible(self, chan: int, method: Method) -> npt.NDArray[np.bool_]:
        """Enabled locations that serve the channel and offer the method."""
        serves = (self.channel_bits >> np.uint64(chan)) & np.uint64(1)
        out: npt.NDArray[np.bool_] = (
            (self.enabled == 1) & (serves == 1) & ((self.methods & np.uint8(method.bit)) != 0)
        )
        return out

    def mask(self, chan: int, method: Method, scope: Scope) -> npt.NDArray[np.int64]:
        """The int64 mask the kernels read, one word per location plus a zero sentinel: bit 0 eligible and
        in scope, bit 1 enabled (network headroom), bits 2.. the location's default safety stock.

        Cached per (channel, method, scope). The first lookup is by the scope object's identity, then a
        list index per channel and method: hashing a Scope (or building a tuple key) costs about as much
        as summing a SKU over 500 locations. The entry holds the scope, so its id cannot be reused while
        cached. Callers must not modify the returned array."""
        hit = self._by_id.get(id(scope))
        if hit is not None and hit[0] is scope:
            m = hit[1][chan][method]
            if m is not None:
                return m
        return self._mask_slow(chan, method, scope)

    def _mask_slow(self, chan: int, method: Method, scope: Scope) -> npt.NDArray[np.int64]:
        if (
            isinstance(chan, bool)
            or not isinstance(chan, (int, np.integer))
            or not 0 <= chan < len(self.channels)
        ):
            raise InvalidArgument("channel", chan, "unknown channel index")
        if not isinstance(method, Method):
            raise InvalidArgument("method", method, "unknown fulfilment method")
        if not isinstance(scope, Scope):
            raise InvalidArgument("scope", scope, "must be a Scope")
        chan = int(chan)
        vkey = (chan, int(method), scope)
        m = self._masks.get(vkey)
        if m is None:
            n = len(self.locations)
            n_groups = self.hold_group_count
            m = np.zeros(n + n_groups + 1, dtype=np.int64)
            members = self.scope_members(scope)
            m[:n] = self.eligible(chan, method) & members
            m[:n] |= (self.enabled == 1).astype(np.int64) << 1
            m[:n] |= self.default_safety.astype(np.int64) << K_SAFETY_SHIFT
            outside = ~members & (self.enabled == 1)
            for g in range(n_groups):
                contained = not bool(np.any(self.hold_group_members(g) & outside))
                m[n + n_groups - 1 - g] = K_GROUP_WORD | (K_CONTAINED if contained else 0)
            if len(self._masks) > 4096:
                self._masks.clear()
            self._masks[vkey] = m
        hit = self._by_id.get(id(scope))
        if hit is None or hit[0] is not scope:
            if len(self._by_id) > 1024:
                self._by_id.clear()
            hit = (scope, [[None] * len(Method) for _ in range(len(self.channels))])
            self._by_id[id(scope)] = hit
        hit[1][chan][int(method)] = m
        return m

    def hold_mask(self, chan: int, scope: Scope) -> npt.NDArray[np.int64]:
        """A mask like mask() where every enabled location serving the channel is eligible, whatever
        its fulfilment methods: what a hold may draw on."""
        key = (chan, -1, scope)
        m = self._masks.get(key)
        if m is None:
            any_method = np.zeros(len(self.locations), dtype=np.bool_)
            for method in Method:
                any_method |= self.eligible(chan, method)
            m = self._mask_slow(chan, Method.SHIP, scope).copy()
            n = len(self.locations)
            m[:n] = (m[:n] & ~np.int64(1)) | (any_method & self.scope_members(scope)).astype(np.int64)
            self._masks[key] = m
        return m

    # ------------------------------------------------------------------ hold groups
    # Group and network holds are counted per hold group: the named groups in order, then one network
    # per channel (the enabled locations that serve it). See _kernels.py for how ATP reads them.
    @property
    def hold_group_count(self) -> int:
        return len(self.group_list) + len(self.channels)

    def hold_group_index(self, place: str, chan: int) -> int:
        """Hold group of a group id, or of the channel's network for NETWORK_GROUP ('@network')."""
        if place == NETWORK_GROUP:
            return len(self.group_list) + chan
        for i, g in enumerate(self.group_list):
            if g.id == place:
                return i
        raise InvalidArgument("group", place, "unknown location group")

    def hold_place(self, place: str, chan: int, at_location: bool) -> tuple[int, int]:
        """(location index, -1) of a location line, or (-1, hold group) of a group or network line."""
        if at_location:
            li = self.index.get(place)
            if li is None:
                raise InvalidArgument("location", place, "unknown location")
            return li, -1
        return -1, self.hold_group_index(place, chan)

    def hold_group_name(self, g: int) -> str:
        """A hold group as reconcile reports show it: the group id, or '@network:<channel>'."""
        if g < len(self.group_list):
            return self.group_list[g].id
        return f"{NETWORK_GROUP}:{self.channels.id(g - len(self.group_list))}"

    def hold_group_members(self, g: int) -> npt.NDArray[np.bool_]:
        n = len(self.locations)
        out = np.zeros(n, dtype=np.bool_)
        if g < len(self.group_list):
            out[self.groups[self.group_list[g].id]] = True
            return out
        chan = g - len(self.group_list)
        serves = (self.channel_bits >> np.uint64(chan)) & np.uint64(1)
        result: npt.NDArray[np.bool_] = (serves == 1) & (self.enabled == 1)
        return result

    def distances_km(self, latitude: float, longitude: float) -> npt.NDArray[np.float64]:
        return haversine_km(latitude, longitude, self.lat, self.lon)
