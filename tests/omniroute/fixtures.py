"""Named scenario fixtures for the service tests: a tiny network built directly as a Snapshot, and a real
server running in-process on its own event loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from availability import StockStore
from availability.ledger import Ledger, MemoryLedger
from availability.model import (
    Channel,
    InboundType,
    Location,
    LocationGroup,
    LocationType,
    Method,
    Sku,
    Snapshot,
    day_number,
)
from omniroute.config import ServerConfig
from omniroute.server import OmnirouteServer

T = TypeVar("T")

# Boston-area stores (pickup/curbside), a dark store, a DC, one New York store and one disabled store.
BOSTON = (42.3601, -71.0589)
LOCATIONS = [
    Location(
        "DC-EAST",
        "East DC",
        LocationType.DISTRIBUTION_CENTER,
        42.2626,
        -71.8023,
        methods=frozenset({Method.SHIP}),
        channels=frozenset({"web", "marketplace"}),
    ),
    Location(
        "S-BOS",
        "Boston Downtown",
        LocationType.STORE,
        42.3555,
        -71.0605,
        methods=frozenset({Method.SHIP, Method.PICKUP, Method.CURBSIDE}),
        channels=frozenset({"web", "pos"}),
    ),
    Location(
        "S-CAM",
        "Cambridge",
        LocationType.STORE,
        42.3736,
        -71.1097,
        methods=frozenset({Method.PICKUP}),
        channels=frozenset({"web", "pos"}),
    ),
    Location(
        "DK-SOM",
        "Somerville dark store",
        LocationType.DARK_STORE,
        42.3876,
        -71.0995,
        methods=frozenset({Method.CURBSIDE, Method.SAME_DAY}),
        channels=frozenset({"web"}),
    ),
    Location(
        "S-NYC",
        "New York",
        LocationType.STORE,
        40.7128,
        -74.0060,
        methods=frozenset({Method.PICKUP, Method.CURBSIDE}),
        channels=frozenset({"web", "pos"}),
    ),
    Location(
        "S-OFF",
        "Closed for works",
        LocationType.STORE,
        42.3601,
        -71.0589,
        methods=frozenset({Method.PICKUP}),
        channels=frozenset({"web"}),
        enabled=False,
    ),
]
LOC = {loc.id: i for i, loc in enumerate(LOCATIONS)}
SKUS = ["SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5"]
# (sku, location, on hand); stores keep a default safety stock of 1, the DC and the dark store 0
STOCK = [
    ("SKU-1", "DC-EAST", 100),
    ("SKU-1", "S-BOS", 5),
    ("SKU-1", "S-CAM", 2),
    ("SKU-1", "DK-SOM", 8),
    ("SKU-1", "S-NYC", 10),
    ("SKU-1", "S-OFF", 50),
    ("SKU-2", "DC-EAST", 0),
    ("SKU-2", "S-BOS", 1),
    ("SKU-3", "S-CAM", 20),
    ("SKU-5", "DC-EAST", 7),
]
INBOUND_DAYS = 10


def tiny_network() -> Snapshot:
    """Six locations around Boston (and one in New York), five SKUs. SKU-1 is everywhere with 30 units
    ring-fenced for the marketplace; SKU-2 is nearly sold out; SKU-3 only in Cambridge; SKU-4 has no stock
    but 100 units in transit to the DC, due in INBOUND_DAYS days; SKU-5 only at the DC."""
    sku_ix = {s: i for i, s in enumerate(SKUS)}
    inbound_day = day_number(datetime.now(UTC).date() + timedelta(days=INBOUND_DAYS))
    return Snapshot(
        locations=list(LOCATIONS),
        channels=[Channel("web"), Channel("marketplace"), Channel("pos")],
        skus=[Sku(s) for s in SKUS],
        groups=[LocationGroup("boston", ("S-BOS", "S-CAM", "DK-SOM"), "Boston stores")],
        stock_sku=np.array([sku_ix[s] for s, _, _ in STOCK], dtype=np.int32),
        stock_loc=np.array([LOC[loc] for _, loc, _ in STOCK], dtype=np.int32),
        stock_on_hand=np.array([q for _, _, q in STOCK], dtype=np.int32),
        stock_safety=np.full(len(STOCK), -1, dtype=np.int32),
        inbound_sku=np.array([sku_ix["SKU-4"]], dtype=np.int32),
        inbound_loc=np.array([LOC["DC-EAST"]], dtype=np.int32),
        inbound_qty=np.array([100], dtype=np.int32),
        inbound_day=np.array([inbound_day], dtype=np.int32),
        inbound_type=np.array([int(InboundType.IN_TRANSIT)], dtype=np.int32),
        alloc_sku=np.array([sku_ix["SKU-1"]], dtype=np.int32),
        alloc_channel=np.array([1], dtype=np.int32),
        alloc_qty=np.array([30], dtype=np.int32),
        alloc_consumed=np.array([0], dtype=np.int32),
    )


def inbound_date() -> date:
    return datetime.now(UTC).date() + timedelta(days=INBOUND_DAYS)


def tiny_ledger() -> MemoryLedger:
    return MemoryLedger(StockStore.from_snapshot(tiny_network()))


class ServerThread:
    """A real OmnirouteServer on its own event loop in a background thread (port 0 unless configured)."""

    def __init__(
        self, config: ServerConfig | None = None, load: Callable[[], Ledger] | Ledger | None = None
    ) -> None:
        self.config = config or ServerConfig(port=0, grace_seconds=2.0)
        self._load = load if load is not None else tiny_ledger
        self.loop = asyncio.new_event_loop()
        self.server = OmnirouteServer(self.config, self._load)
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="omniroute-test-server", daemon=True
        )

    def start(self, *, wait_loaded: bool = True) -> ServerThread:
        self._thread.start()
        self.call(self.server.start())
        if wait_loaded:
            self.call(self.server.wait_until_loaded())
        return self

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    def submit(self, coro: Any) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    @property
    def target(self) -> str:
        return self.server.target

    @property
    def ledger(self) -> Ledger:
        assert self.server.runtime is not None
        return self.server.runtime.ledger

    def stop(self, grace: float | None = 0.0) -> None:
        if self._thread.is_alive():
            try:
                self.call(self.server.stop(grace))
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(10)
        self.loop.close()


def with_config(**changes: Any) -> ServerConfig:
    return replace(ServerConfig(port=0, grace_seconds=2.0), **changes)


# ---------------------------------------------------------------------------------------------- helpers
def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def state_of(client: Any) -> tuple[Any, ...]:
    """Everything a write could change, as the API shows it: positions and ring-fences of every SKU at
    every location, the catalogue sizes and the ledger sequence. Equal before and after a rejected write."""
    positions = client.get_positions([*SKUS, "SKU-NEW"])
    info = client.server_info()
    return (
        positions.positions,
        positions.allocations,
        positions.unknown_skus,
        info.sequence,
        info.skus,
        info.locations,
    )


class LedgerDouble:
    """A MemoryLedger whose writes can be slowed down or made to raise a given error: for the error
    rows no memory-ledger write produces yet (reservations come later), and for drain/deadline tests."""

    def __init__(self, inner: MemoryLedger | None = None) -> None:
        self.inner = inner or tiny_ledger()
        self.raise_on_write: BaseException | None = None
        self.delay_s = 0.0
        self.entered = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def store(self) -> StockStore:
        return self.inner.store

    @property
    def sequence(self) -> int:
        return self.inner.sequence

    def _write(self) -> None:
        self.entered.set()
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if self.raise_on_write is not None:
            raise self.raise_on_write

    def apply_stock_events(self, events: Any) -> Any:
        self._write()
        return self.inner.apply_stock_events(events)

    def set_allocations(self, entries: Any) -> int:
        self._write()
        return self.inner.set_allocations(entries)

    def set_safety_stock(self, entries: Any) -> int:
        self._write()
        return self.inner.set_safety_stock(entries)
