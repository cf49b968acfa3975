"""The write model's interface. Every backend applies each change atomically and idempotently, and
publishes change records (sku, location, delta on hand, delta reserved, sequence) after the write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ..model import AllocationRow, EventBatchResult, Location, Snapshot, StockEvent
from ..reservations import LineMove, LineQuantity, ReconcileReport, Reservation, ReserveRequest
from ..store import StockStore

I64 = npt.NDArray[np.int64]


def _empty() -> I64:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Change records of one write, columnar. `skus_touched` also covers changes that are not deltas
    (safety stock, ring-fences); `everything` says the whole picture changed (snapshot, locations)."""

    sequence: int
    sku: I64 = field(default_factory=_empty)
    loc: I64 = field(default_factory=_empty)
    d_on_hand: I64 = field(default_factory=_empty)
    d_reserved: I64 = field(default_factory=_empty)
    seq: I64 = field(default_factory=_empty)
    skus_touched: I64 = field(default_factory=_empty)
    everything: bool = False

    def affected_skus(self) -> I64:
        return np.unique(np.concatenate([self.sku, self.skus_touched]))


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """How far a replica's read model is behind its shared ledger in one partition of the change stream."""

    partition: int
    records: int  # sequences the ledger had (at its last look) that this replica has not applied yet
    seconds: float  # how long ago the ledger was first seen at a sequence this replica has not applied yet


@dataclass(frozen=True, slots=True)
class SafetyStockEntry:
    sku: str
    location: str
    quantity: int | None  # None: back to the location type's default


ChangeListener = Callable[[ChangeBatch], None]


class Ledger(Protocol):
    """What the service needs from a write model. `store` is this replica's read model."""

    @property
    def store(self) -> StockStore: ...

    @property
    def sequence(self) -> int: ...

    @property
    def stale(self) -> bool:
        """True while this replica cannot confirm that its read model is up to date (its shared ledger
        is unreachable or lost its data): reads still answer, from the last known state, and say so."""
        ...

    @property
    def blocking_io(self) -> bool:
        """True when writes wait on the network (Redis): the service then runs every write on a worker
        thread, never on its event loop. False for a ledger that is the state itself (memory), whose
        small writes are cheaper inline than a thread hand-off."""
        ...

    def apply_stock_events(self, events: Sequence[StockEvent]) -> EventBatchResult: ...

    def set_safety_stock(self, entries: Sequence[SafetyStockEntry]) -> int: ...

    def set_allocations(self, entries: Sequence[AllocationRow]) -> int: ...

    def upsert_locations(self, locations: Sequence[Location]) -> int: ...

    def load_snapshot(self, snapshot: Snapshot) -> int: ...

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]: ...

    # reservations (see availability/reservations.py for the rules every backend shares)
    def reserve(self, request: ReserveRequest) -> Reservation: ...

    def confirm(self, reservation_id: str, moves: tuple[LineMove, ...] = ()) -> Reservation: ...

    def extend(self, reservation_id: str, ttl_ms: int) -> Reservation: ...

    def release(
        self, reservation_id: str, lines: tuple[LineQuantity, ...] = (), operation_id: str = ""
    ) -> Reservation: ...

    def fulfill(self, reservation_id: str, lines: tuple[LineQuantity, ...], operation_id: str = "") -> Reservation: ...

    def get_reservation(self, reservation_id: str) -> Reservation: ...

    def expire_due(self, now_ms: int | None = None) -> int: ...

    def reconcile(self, *, repair: bool = False, skus: frozenset[str] = frozenset()) -> ReconcileReport: ...

    def close(self) -> None: ...
