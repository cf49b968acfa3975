"""The read model itself: building from snapshots, the CSR layout's invariants, in-place inserts and
rebuilds (checked against a dict model with hypothesis), array swaps and the id catalog."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from availability import (
    AtpConfig,
    Channel,
    IdIndex,
    InvalidArgument,
    LocationGroup,
    LocationTable,
    Method,
    Scope,
    Sku,
    Snapshot,
    StockStore,
)
from availability import _kernels as K
from tests.availability.reference import examples
from tests.scenarios import Stock, everyday_stock, grid_network, grid_store, north_east, north_east_locations


def check_layout(store: StockStore) -> None:
    """Invariants every generation keeps: slices inside their capacity, never overlapping, below the
    spare tail's first free slot, sorted and unique by location; inbound and ring-fence starts a CSR."""
    g = store.generation
    n = len(store.skus)
    idx = g.idx
    assert idx.shape[1] == 5 and idx.shape[0] == g.sku_capacity + 1 >= n + 1
    tail = int(idx[-1, K.START])
    assert tail <= g.pos.shape[1]
    assert np.all(idx[:-1, K.USED] <= idx[:-1, K.CAP])
    assert np.all(idx[n:-1, K.USED] == 0)
    order = np.argsort(idx[:-1, K.START], kind="stable")
    ends = idx[order, K.START] + idx[order, K.CAP]
    assert np.all(ends[:-1] <= idx[order[1:], K.START]) and int(ends[-1]) <= tail
    for s in range(n):
        a, u = int(idx[s, K.START]), int(idx[s, K.USED])
        locs = g.pos[K.LOC, a : a + u]
        assert np.all(np.diff(locs) > 0), f"slice of SKU {s} not strictly sorted"
    starts = idx[:, K.INB]
    assert starts[0] == 0 and starts[-1] == g.inb.shape[1] and np.all(np.diff(starts) >= 0)
    starts = idx[:, K.ALLOC]
    assert starts[0] == 0 and starts[-1] == g.alloc.shape[1]
    assert np.array_equal(np.diff(starts), np.bincount(g.alloc[K.A_SKU], minlength=g.sku_capacity))


def test_a_snapshot_in_any_order_builds_the_same_store() -> None:
    from tests.scenarios import north_east_groups, snapshot_of

    snap = snapshot_of(north_east_locations(), everyday_stock(), groups=north_east_groups())
    order = np.random.default_rng(1).permutation(snap.positions)
    shuffled = dataclasses.replace(
        snap,
        stock_sku=snap.stock_sku[order],
        stock_loc=snap.stock_loc[order],
        stock_on_hand=snap.stock_on_hand[order],
        stock_safety=snap.stock_safety[order],
    )
    a, b = StockStore.from_snapshot(snap), StockStore.from_snapshot(shuffled)
    check_layout(a)
    check_layout(b)
    from tests.scenarios import full_state

    assert full_state(a) == full_state(b)
    assert a.position_count == snap.positions == 10
    assert a.totals() == (85, 0)


def test_an_empty_network_and_skus_without_stock() -> None:
    locs = grid_network(3)
    store = StockStore.from_snapshot(Snapshot(locs, [Channel("web"), Channel("app")], [Sku("A"), Sku("B")]))
    check_layout(store)
    assert store.position_count == 0
    assert store.atp(0, 0, Method.SHIP) == 0
    assert store.sku_locations(1).tolist() == []
    empty = StockStore.empty(LocationTable(locs, [Channel("web"), Channel("app")]))
    assert len(empty.skus) == 0 and empty.totals() == (0, 0)
    assert empty.atp_many(np.array([0, -1]), 0, Method.SHIP).tolist() == [0, 0]


def test_memory_is_about_17_bytes_per_position() -> None:
    on_hand = {(f"S{s}", f"L{i:04d}"): 1 for s in range(200) for i in range(100)}
    store = grid_store(100, on_hand)
    assert store.position_count == 20_000
    per_position = store.nbytes() / store.position_count
    assert 16 <= per_position <= 20


def test_slots_are_validated(store: StockStore | None = None) -> None:
    store = grid_store(5, {("A", "L0000"): 1})
    with pytest.raises(InvalidArgument):
        store.ensure_slots(np.array([1]), np.array([0]))  # no SKU 1
    with pytest.raises(InvalidArgument):
        store.ensure_slots(np.array([0]), np.array([5]))  # no location 5
    assert store.ensure_slots(np.array([], np.int64), np.array([], np.int64)).shape == (0,)


@settings(max_examples=examples(40))
@given(
    st.lists(st.tuples(st.integers(0, 11), st.integers(0, 29)), max_size=300),
    st.lists(st.integers(1, 40), min_size=1, max_size=8),
)
def test_inserts_and_rebuilds_keep_every_position(pairs: list[tuple[int, int]], chunks: list[int]) -> None:
    """Positions created in batches of random sizes: slices overflow, generations are rebuilt, SKUs are
    added past the table's capacity; the store always matches a plain dict of positions."""
    initial = {("S0", "L0000"): 5, ("S3", "L0007"): 2}
    store = grid_store(30, initial, skus=[f"S{i}" for i in range(4)])
    model = {(store.skus.index(s), int(lo[1:])): q for (s, lo), q in initial.items()}
    start = 0
    for size in chunks:
        part = pairs[start : start + size]
        start += size
        for s, _ in part:
            store.add_sku(Sku(f"S{s}"))
        if not part:
            continue
        skus = np.array([store.skus.index(f"S{s}") for s, _ in part], dtype=np.int64)
        locs = np.array([lo for _, lo in part], dtype=np.int64)
        slots = store.ensure_slots(skus, locs)
        store.apply_deltas(
            slots, np.ones(len(part), np.int64), np.zeros(len(part), np.int64), store.sequence + 1
        )
        for s, lo in zip(skus.tolist(), locs.tolist(), strict=True):
            model[(s, lo)] = model.get((s, lo), 0) + 1
        check_layout(store)
    got = {}
    for s in range(len(store.skus)):
        for lo in store.sku_locations(s).tolist():
            p = store.position(s, lo)
            assert p is not None
            got[(s, lo)] = p.on_hand
    assert got == model


def test_a_full_slice_moves_to_the_tail_and_a_full_tail_rebuilds() -> None:
    """One SKU grows location by location: its slice moves to the spare tail (same generation, other
    slices untouched) until the tail is used up, then the store rebuilds once and carries on."""
    store = grid_store(2_000, {("A", "L0000"): 1, ("B", "L0001"): 2})
    first = store.generation
    b_start = int(first.idx[1, K.START])
    moved_to = set()
    rebuilt = False
    for lo in range(2, 2_000):
        store.ensure_slots(np.array([0]), np.array([lo]))
        g = store.generation
        if g.pos is first.pos:
            moved_to.add(int(g.idx[0, K.START]))
            assert int(g.idx[1, K.START]) == b_start
        else:
            rebuilt = True
        check_layout(store)
    assert len(moved_to) > 3 and rebuilt
    assert store.sku_locations(0).tolist() == [0, *range(2, 2_000)]
    p = store.position(1, 1)
    assert p is not None and p.on_hand == 2


def test_adding_skus_never_renumbers_them() -> None:
    store = grid_store(3, {("A", "L0000"): 1})
    cap = store.generation.sku_capacity
    ids = [store.add_sku(Sku(f"N{i}")) for i in range(cap + 10)]
    assert ids == list(range(1, cap + 11))
    assert store.add_sku(Sku("A")) == 0
    assert store.generation.sku_capacity > cap
    check_layout(store)


def test_array_swaps_bump_the_version_and_in_place_writes_do_not() -> None:
    store = grid_store(4, {("A", "L0000"): 3, ("A", "L0001"): 3})
    v = store.version
    slots = store.ensure_slots(np.array([0]), np.array([0]))
    store.apply_deltas(slots, np.array([1]), np.array([0]), 1)
    store.set_safety_many(slots, np.array([2]))
    assert store.version == v
    store.set_allocations(np.array([0]), np.array([1]), np.array([2]), np.array([-1]))
    assert store.version == v + 1
    store.set_network(store.network.with_config(AtpConfig(low_stock_network=3)))
    assert store.version == v + 2


def test_a_reader_retries_when_the_arrays_are_swapped_under_it() -> None:
    store = grid_store(4, {("A", "L0000"): 3})
    calls: list[int] = []

    def read(view: object) -> int:
        calls.append(1)
        if len(calls) == 1:  # a writer swaps arrays while this read runs
            store.set_allocations(np.array([0]), np.array([1]), np.array([2]), np.array([-1]))
        return len(calls)

    assert store.read(read) == 2


def test_locations_are_never_removed() -> None:
    store = north_east(everyday_stock())
    with pytest.raises(InvalidArgument):
        store.set_network(LocationTable(north_east_locations()[:3], store.network.channel_list))


def test_inbound_and_allocation_rows_round_trip() -> None:
    from datetime import date

    from tests.scenarios import future_supply, marketplace_ring_fence

    d = date(2030, 1, 1)
    store = north_east(
        Stock(
            on_hand={**future_supply(d).on_hand, **marketplace_ring_fence().on_hand},
            inbound=future_supply(d).inbound,
            allocations=marketplace_ring_fence().allocations,
        )
    )
    check_layout(store)
    sku, _, qty, _, _ = store.inbound_rows()
    assert sorted(qty.tolist()) == [20, 50, 100]
    assert set(sku.tolist()) == {store.skus.index("SOFA")}
    a_sku, a_chan, a_qty, a_used = store.allocation_rows()
    assert sorted(zip(a_chan.tolist(), a_qty.tolist(), a_used.tolist(), strict=True)) == [
        (0, 2, 0),
        (2, 8, 3),
    ]
    assert set(a_sku.tolist()) == {store.skus.index("LAMP")}


# ---------------------------------------------------------------------------------------------- catalog
def test_id_index_is_an_append_only_bijection() -> None:
    ix = IdIndex("sku", ["a", "b"])
    assert ix.add("c") == 2
    assert ix.add("a") == 0
    assert (len(ix), ix.index("b"), ix.id(2), ix.get("zz")) == (3, 1, "c", None)
    assert "a" in ix and "zz" not in ix
    assert ix.lookup_many(["c", "zz", "a"]).tolist() == [2, -1, 0]
    copy = ix.copy()
    copy.add("d")
    assert len(ix) == 3 and len(copy) == 4


# ---------------------------------------------------------------------------------------------- locations
def test_location_table_rejects_duplicates_and_unknown_members() -> None:
    locs = north_east_locations()
    chans = [Channel(c) for c in ("web", "app", "marketplace", "pos", "callcentre")]
    with pytest.raises(InvalidArgument):
        LocationTable([*locs, locs[0]], chans)
    with pytest.raises(InvalidArgument):
        LocationTable(locs, [*chans, chans[0]])
    with pytest.raises(InvalidArgument):
        LocationTable(locs, chans, [LocationGroup("G", ("NOWHERE",))])
    with pytest.raises(InvalidArgument):
        LocationTable(locs, chans, [LocationGroup("G", ("ST-BOS",)), LocationGroup("G", ("ST-CAM",))])
    with pytest.raises(InvalidArgument):
        LocationTable(locs, chans[:2])  # DC-EAST serves channels the table does not know
    with pytest.raises(InvalidArgument):
        LocationTable(locs, [Channel(f"c{i}") for i in range(65)])


def test_masks_carry_scope_enablement_and_default_safety() -> None:
    store = north_east(everyday_stock(), AtpConfig(default_safety=(2, 3, 4, 0)))
    net = store.network
    web = net.channel_index("web")
    full = net.mask(web, Method.SHIP, Scope())
    n = len(net)
    # location words, then one word per hold group (all contained in the network), then the sentinel
    assert full.shape == (n + net.hold_group_count + 1,) and full[-1] == 0
    assert all(int(w) >> 61 == 3 for w in full[n:-1])
    m = full[: n + 1]
    # DC-EAST, DC-WEST, ST-BOS, ST-CAM, ST-NYC, ST-OFF, DK-BOS
    assert (m & 1).tolist()[:-1] == [1, 1, 1, 0, 1, 0, 1]
    assert ((m >> 1) & 1).tolist()[:-1] == [1, 1, 1, 1, 1, 0, 1]
    assert (m >> 2).tolist()[:-1] == [2, 2, 3, 3, 3, 3, 4]
    m = full
    # equal scopes share one cached mask; a different method does not
    assert net.mask(web, Method.SHIP, Scope()) is m
    assert net.mask(web, Method.SHIP, Scope.of_group("DCS")) is net.mask(
        web, Method.SHIP, Scope.of_group("DCS")
    )
    assert net.mask(web, Method.PICKUP, Scope()) is not m


def test_the_mask_cache_stays_bounded() -> None:
    store = north_east(everyday_stock())
    net = store.network
    for i in range(3_000):
        net.mask(0, Method.SHIP, Scope.within(42.0, -71.0, 1 + i))
    assert len(net._by_id) <= 1_025 and len(net._masks) <= 4_097


def test_kernel_scopes_match_numpy_for_a_location_added_after_the_mask() -> None:
    """A reader holding an old network reads positions at a location the network does not know yet: the
    mask's sentinel makes them count as not eligible, with no default safety."""
    store = grid_store(3, {("A", "L0000"): 5, ("A", "L0001"): 5})
    old = store.view()
    mask = old.network.mask(0, Method.SHIP, Scope())
    new = grid_network(4)[3]
    store.set_network(store.network.with_locations([new]))
    slots = store.ensure_slots(np.array([0]), np.array([3]))
    store.apply_deltas(slots, np.array([7]), np.array([0]), 1)
    g = store.generation
    assert K.sku_atp(g.idx, g.pos, g.inb, g.alloc, mask, 0, 0, -1) == 10
    assert store.atp(0, 0, Method.SHIP) == 17
