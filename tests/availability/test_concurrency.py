"""Lock-free readers against a writer. Every batch the writer applies moves stock between locations of a
SKU (a transfer out and the matching transfer in, often to a location where the SKU has no position yet,
so slices fill and generations are rebuilt), and now and then swaps arrays (ring-fences set to their
current value, the same locations upserted). The network total of every SKU is therefore the same in
every state the ledger ever commits: a reader that saw a batch half applied, or one state's index with
another's positions, would see a different total.
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from availability import (
    AllocationRow,
    AvailabilityQuery,
    EventOutcome,
    EventType,
    Method,
    StockEvent,
    StockStore,
    get_availability,
)
from tests.scenarios import T0, grid_store, ledger_over

N_LOC = 48
N_SKU = 24
TOTAL = 100
FENCE = 30  # the app channel's ring-fence on odd SKUs: the web channel then sees TOTAL - FENCE


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads every 10 us instead of every 5 ms: many more interleavings per second."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def start_state(rng: random.Random) -> tuple[StockStore, dict[tuple[int, int], int]]:
    on_hand: dict[tuple[str, str], int] = {}
    for s in range(N_SKU):
        locs = rng.sample(range(N_LOC), 4)
        for k, lo in enumerate(locs):
            on_hand[(f"S{s:02d}", f"L{lo:04d}")] = TOTAL // 4 if k else TOTAL - 3 * (TOTAL // 4)
    store = grid_store(N_LOC, on_hand)
    ledger = ledger_over(store)
    ledger.set_allocations([AllocationRow(f"S{s:02d}", "app", FENCE) for s in range(1, N_SKU, 2)])
    model = {(store.skus.index(s), store.network.index.index(lo)): q for (s, lo), q in on_hand.items()}
    return store, model


def expected_web(s: int) -> int:
    return TOTAL - FENCE if s % 2 else TOTAL


def test_readers_never_see_a_torn_state(fast_switching: None) -> None:
    rng = random.Random(7)
    store, model = start_state(rng)
    ledger = ledger_over(store)
    web = store.network.channel_index("web")
    all_skus = np.arange(N_SKU, dtype=np.int64)
    want = [expected_web(s) for s in range(N_SKU)]
    sku_ids = [f"S{s:02d}" for s in range(N_SKU)]
    done = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader(seed: int) -> None:
        r = random.Random(seed)
        last_seq = 0
        while not done.is_set():
            s = r.randrange(N_SKU)
            got = store.atp(s, web, Method.SHIP)
            if got != want[s]:
                problems.append(f"atp S{s}: {got} != {want[s]}")
            many = store.atp_many(all_skus, web, Method.SHIP).tolist()
            if many != want:
                problems.append(f"atp_many: {many}")
            res = get_availability(store, AvailabilityQuery(sku_ids, "web", Method.SHIP, per_location=True))
            assert res.locations is not None
            if res.quantity.tolist() != want:
                problems.append(f"get_availability: {res.quantity.tolist()}")
            sums = np.bincount(res.locations.sku_row, weights=res.locations.quantity, minlength=N_SKU)
            for k in range(0, N_SKU, 2):  # no other channel's fence: the rows add up to the total
                if sums[k] != TOTAL:
                    problems.append(f"rows of S{k} add up to {sums[k]}")
            if res.sequence < last_seq:
                problems.append(f"sequence went back from {last_seq} to {res.sequence}")
            last_seq = res.sequence
            reads[0] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    try:
        generations = {id(store.generation.pos)}
        starts = {int(a) for a in store.generation.idx[:N_SKU, 0]}  # slices moving to the spare tail
        for b in range(150):
            events = []
            for k, s in enumerate(rng.sample(range(N_SKU), 6)):
                holders = [lo for (ss, lo), q in model.items() if ss == s and q > 0]
                src = rng.choice(holders)
                dst = rng.randrange(N_LOC)  # often a location where the SKU has no position yet
                if dst == src:
                    continue
                q = rng.randint(1, model[(s, src)])
                model[(s, src)] -= q
                model[(s, dst)] = model.get((s, dst), 0) + q
                at = T0 + b * 100 + k
                events.append(
                    StockEvent(f"o{b}-{k}", EventType.TRANSFER_OUT, f"L{src:04d}", sku_ids[s], q, at)
                )
                events.append(
                    StockEvent(f"i{b}-{k}", EventType.TRANSFER_IN, f"L{dst:04d}", sku_ids[s], q, at)
                )
            res = ledger.apply_stock_events(events)
            assert res.count(EventOutcome.APPLIED) == len(events)
            if b % 30 == 15:
                # array swaps with no change of value: readers holding the old arrays must retry
                ledger.set_allocations([AllocationRow(sku_ids[s], "app", FENCE) for s in range(1, N_SKU, 2)])
                ledger.upsert_locations(list(store.network.locations[:3]))
            generations.add(id(store.generation.pos))
            starts.update(int(a) for a in store.generation.idx[:N_SKU, 0])
    finally:
        done.set()
        for t in threads:
            t.join()
    assert problems == []
    assert reads[0] > 0
    assert len(generations) > 1, "the writer never forced a rebuild: the test lost its point"
    assert len(starts) > N_SKU, "no slice ever moved to the spare tail"
    for (s, lo), q in model.items():
        p = store.position(s, lo)
        assert p is not None and p.on_hand == q
