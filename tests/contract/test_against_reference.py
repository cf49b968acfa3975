"""The same seeded stream of writes through the embedded ledger (the reference) and the backend under
test: every per-event outcome and reason, the whole observable state and every ATP answer must match.
The stream mixes everything the rules distinguish: replays, ids reused with another payload or another
SKU, copies inside a batch, deltas before a count, late counts, counts older than the window, results
out of range, new SKUs and locations, channel sales against ring-fences, safety stock and ring-fence
writes in between."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from availability import AllocationRow, EventType, Method, Scope, StockEvent, StockStore
from availability.ledger import Ledger, MemoryLedger, SafetyStockEntry
from availability.model import MAX_QUANTITY
from tests.contract.conftest import PARTITIONS, LedgerFactory, observable
from tests.scenarios import (
    HOUR,
    T0,
    FakeClock,
    Stock,
    everyday_stock,
    marketplace_ring_fence,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)

SKUS = ("TEE", "MUG", "CAP", "LAMP", *(f"N{i}" for i in range(8)))
LOCATIONS = tuple(lo.id for lo in north_east_locations())
CHANNELS = ("", "", "", "web", "marketplace", "pos")
KINDS = list(EventType)


def stream(seed: int, batches: int) -> list[tuple[int, list[StockEvent]]]:
    """(clock advance in ms, batch) pairs."""
    rng = random.Random(seed)
    sent: list[StockEvent] = []
    out: list[tuple[int, list[StockEvent]]] = []
    t = 0
    n = 0
    for _ in range(batches):
        batch: list[StockEvent] = []
        t += rng.randrange(0, 20 * 60_000)
        for _ in range(rng.randrange(1, 250)):
            roll = rng.random()
            if sent and roll < 0.08:
                batch.append(rng.choice(sent))  # a replay
                continue
            if sent and roll < 0.12:
                old = rng.choice(sent)  # the id again, with something else changed
                batch.append(replace(old, quantity=old.quantity + 1, sku=rng.choice(SKUS)))
                continue
            if batch and roll < 0.15:
                batch.append(rng.choice(batch))  # a copy inside the batch
                continue
            kind = rng.choice(KINDS)
            if kind is EventType.CYCLE_COUNT:
                qty = rng.randrange(0, 60)
                at = t - rng.choice([0, 60_000, 20 * 60_000, 3 * HOUR])  # some fall out of the window
            else:
                qty = rng.randrange(1, 30)
                if kind is EventType.ADJUSTMENT and rng.random() < 0.4:
                    qty = -qty
                at = t - rng.randrange(0, 30 * 60_000)
            if rng.random() < 0.01:
                qty = MAX_QUANTITY if kind is not EventType.CYCLE_COUNT else qty
            location = rng.choice(LOCATIONS) if rng.random() > 0.01 else "NOWHERE"
            channel = rng.choice(CHANNELS) if kind is EventType.SALE else ""
            if rng.random() < 0.005:
                channel = "tiktok"
            n += 1
            e = StockEvent(f"e{n}", kind, location, rng.choice(SKUS), qty, T0 + at, channel)
            batch.append(e)
            sent.append(e)
        out.append((rng.randrange(0, 5 * 60_000), batch))
    return out


def atp_answers(ledger: Ledger) -> dict[tuple[str, str, str, str], int]:
    store = ledger.store
    answers = {}
    for sku in store.skus.ids:
        s = store.skus.index(sku)
        for chan in ("web", "marketplace", "pos"):
            c = store.network.channel_index(chan)
            for method in Method:
                for scope in (Scope(), Scope.of_group("NE-STORES")):
                    answers[(sku, chan, method.name, scope.kind)] = store.atp(s, c, method, scope)
    return answers


@pytest.mark.parametrize("seed", [1, 2])
def test_the_backend_answers_like_the_reference(ledger_factory: LedgerFactory, backend: str, seed: int) -> None:
    base = everyday_stock()
    fence = marketplace_ring_fence()
    snap = snapshot_of(
        north_east_locations(),
        Stock(on_hand={**base.on_hand, **fence.on_hand}, allocations=fence.allocations),
        groups=north_east_groups(),
    )
    ref_clock, clock = FakeClock(T0 + 2 * HOUR), FakeClock(T0 + 2 * HOUR)
    ref = MemoryLedger(StockStore.from_snapshot(snap), clock_ms=ref_clock, count_window_ms=HOUR)
    under_test = ledger_factory(snap, clock=clock, count_window_ms=HOUR)
    rng = random.Random(seed)
    for k, (advance, batch) in enumerate(stream(seed, 25)):
        ref_clock.now += advance
        clock.now += advance
        want = ref.apply_stock_events(batch)
        got = under_test.apply_stock_events(batch)
        assert [(r.event_id, r.outcome, r.reason) for r in got.results] == [
            (r.event_id, r.outcome, r.reason) for r in want.results
        ], f"batch {k}"
        if PARTITIONS.get(backend, 1) == 1:  # with one partition the numbering is the same too
            assert [r.sequence for r in got.results] == [r.sequence for r in want.results]
            assert got.sequence == want.sequence
        if k % 5 == 4:
            sku = rng.choice(["TEE", "LAMP", "MUG"])
            fences = [AllocationRow(sku, "marketplace", rng.randrange(0, 12)), AllocationRow(sku, "web", 3, 1)]
            safety = [SafetyStockEntry(sku, rng.choice(LOCATIONS), rng.choice([None, 0, 2, 5]))]
            for ledger in (ref, under_test):
                ledger.set_allocations(fences)
                ledger.set_safety_stock(safety)
    assert observable(under_test.store) == observable(ref.store)
    assert atp_answers(under_test) == atp_answers(ref)
