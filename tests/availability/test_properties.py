"""Properties, checked with hypothesis against the pure-Python reference model (reference.py):
- ATP (scope totals and per-location figures) equals the model for random networks, stock, inbound,
  ring-fences and queries, and is never negative; without other channels' fences the per-location
  figures add up to the total;
- random batches of events (good, bad, duplicated, late, counts) give the model's outcomes and stock;
- applying a batch twice equals applying it once;
- the final stock does not depend on the order events arrive in.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from availability import (
    AtpConfig,
    AvailabilityQuery,
    EventOutcome,
    EventType,
    InboundType,
    Location,
    LocationGroup,
    LocationType,
    Method,
    Scope,
    StockEvent,
    StockStore,
    get_availability,
)
from availability.model import day_number
from tests.availability.reference import RefLedger, RefPosition, RefStock, examples
from tests.scenarios import T0, FakeClock, Stock, ledger_over, snapshot_of

CHANNELS = ("web", "app", "marketplace")
SKUS = ("P0", "P1", "P2")
TODAY = date(2031, 3, 1)


@st.composite
def networks(draw: st.DrawFn) -> tuple[list[Location], list[LocationGroup]]:
    n = draw(st.integers(1, 7))
    locs = []
    for i in range(n):
        locs.append(
            Location(
                id=f"L{i}",
                name=f"L{i}",
                type=draw(st.sampled_from(list(LocationType))),
                latitude=42.0 + draw(st.integers(0, 10)) * 0.1,
                longitude=-71.0 - draw(st.integers(0, 10)) * 0.1,
                methods=frozenset(draw(st.sets(st.sampled_from(list(Method)), min_size=1))),
                channels=frozenset(draw(st.sets(st.sampled_from(CHANNELS)))),
                enabled=draw(st.booleans()),
            )
        )
    members = draw(st.sets(st.sampled_from([lo.id for lo in locs]), min_size=1))
    return locs, [LocationGroup("G", tuple(sorted(members)))]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[StockStore, RefStock]:
    """A random network holding random stock, the same in the engine and in the model."""
    locs, groups = draw(networks())
    config = AtpConfig(
        inbound_share_bp=(draw(st.integers(0, 10_000)), draw(st.integers(0, 10_000))),
        default_safety=tuple(draw(st.integers(0, 5)) for _ in LocationType),  # type: ignore[arg-type]
    )
    ids = [lo.id for lo in locs]
    pairs = draw(st.sets(st.tuples(st.sampled_from(SKUS), st.sampled_from(ids))))
    on_hand = {p: draw(st.integers(-20, 60)) for p in sorted(pairs)}
    safety = {p: draw(st.integers(0, 15)) for p in sorted(pairs) if draw(st.booleans())}
    inbound = [
        (s, lo, draw(st.integers(1, 100)), TODAY + timedelta(days=draw(st.integers(-3, 20))),
         draw(st.sampled_from(list(InboundType))))
        for s, lo in sorted(draw(st.sets(st.tuples(st.sampled_from(SKUS), st.sampled_from(ids)))))
    ]  # fmt: skip
    fences = []
    for s, c in sorted(draw(st.sets(st.tuples(st.sampled_from(SKUS), st.sampled_from(CHANNELS))))):
        q = draw(st.integers(0, 60))
        fences.append((s, c, q, draw(st.integers(0, q))))
    stock = Stock(on_hand=on_hand, safety=safety, inbound=inbound, allocations=fences, skus=SKUS)
    store = StockStore.from_snapshot(snapshot_of(locs, stock, channels=CHANNELS, groups=groups), config)
    ref = RefStock(locs, groups, config)
    for (s, lo), q in on_hand.items():
        ref.positions[(s, lo)] = RefPosition(q, 0, safety.get((s, lo)))
    for s, lo, q, d, t in inbound:
        ref.positions.setdefault((s, lo), RefPosition(0))
        ref.inbound.setdefault((s, lo), []).append((day_number(d), q, int(t)))
    for s, c, q, used in fences:
        if q > 0:
            ref.fences[(s, c)] = [q, used]
    # some stock is reserved
    reserved = {p: draw(st.integers(0, 20)) for p in sorted(ref.positions) if draw(st.booleans())}
    if reserved:
        keys = sorted(reserved)
        slots = store.ensure_slots(
            np.array([store.skus.index(s) for s, _ in keys]),
            np.array([store.network.index.index(lo) for _, lo in keys]),
        )
        store.apply_deltas(slots, np.zeros(len(keys), np.int64), np.array([reserved[k] for k in keys]), 1)
        for k in keys:
            ref.positions[k].reserved = reserved[k]
    return store, ref


@st.composite
def scopes(draw: st.DrawFn, locs: list[str]) -> Scope:
    kind = draw(st.sampled_from(["network", "group", "locations", "radius"]))
    if kind == "network":
        return Scope()
    if kind == "group":
        return Scope.of_group("G")
    if kind == "locations":
        return Scope.of_locations(draw(st.lists(st.sampled_from([*locs, "G"]), min_size=1, max_size=4)))
    return Scope.within(
        42.0 + draw(st.integers(0, 10)) * 0.1, -71.5, draw(st.sampled_from([1.0, 20.0, 60.0, 500.0]))
    )


@settings(max_examples=examples(150))
@given(worlds(), st.data())
def test_atp_matches_the_model_and_is_never_negative(
    world: tuple[StockStore, RefStock], data: st.DataObject
) -> None:
    store, ref = world
    channel = data.draw(st.sampled_from(CHANNELS))
    method = data.draw(st.sampled_from(list(Method)))
    scope = data.draw(scopes([lo.id for lo in ref.locations]))
    as_of = data.draw(st.none() | st.integers(0, 25).map(lambda d: TODAY + timedelta(days=d)))
    day = -1 if as_of is None else day_number(as_of)
    res = get_availability(
        store, AvailabilityQuery(list(SKUS), channel, method, scope, as_of, per_location=True)
    )
    assert res.locations is not None
    for k, sku in enumerate(SKUS):
        total, per = ref.atp(sku, channel, method, scope, day)
        s = store.skus.index(sku)
        chan = store.network.channel_index(channel)
        assert store.atp(s, chan, method, scope, day) == total
        locs, qty = store.atp_by_location(s, chan, method, scope, day)
        got = {store.network.index.id(int(li)): int(q) for li, q in zip(locs, qty, strict=True)}
        assert got == per
        assert total >= 0 and all(q >= 0 for q in got.values())
        assert total <= sum(got.values())
        others = any(c != channel and q > u for (sk, c), (q, u) in ref.fences.items() if sk == sku)
        if not others:
            assert total == sum(got.values())
        assert int(res.quantity[k]) == total
        rows = res.locations.sku_row == k
        assert dict(zip([res.locations.location[i] for i in np.flatnonzero(rows)],
                        res.locations.quantity[rows].tolist(), strict=True)) == per  # fmt: skip
    chan = store.network.channel_index(channel)
    many = store.atp_many(np.array([store.skus.index(s) for s in SKUS] * 3), chan, method, scope, day)
    assert many.tolist() == [ref.atp(s, channel, method, scope, day)[0] for s in SKUS] * 3


# ---------------------------------------------------------------------------------------------- events
@st.composite
def events(draw: st.DrawFn, n_max: int = 25, ids: int = 30, span: int = 60) -> list[StockEvent]:
    """Random events over two SKUs at three locations (and one unknown), ids from a small pool so that
    duplicates and reused ids are common, times in a short span so counts and deltas interleave. Now and
    then a malformed one."""
    out = []
    for _ in range(draw(st.integers(1, n_max))):
        kind = draw(st.sampled_from(list(EventType)))
        if kind is EventType.ADJUSTMENT:
            qty = draw(st.integers(-8, 8).filter(bool))
        elif kind is EventType.CYCLE_COUNT:
            qty = draw(st.integers(0, 30))
        else:
            qty = draw(st.integers(1, 8))
        e = StockEvent(
            event_id=f"e{draw(st.integers(0, ids))}",
            type=kind,
            location=draw(st.sampled_from(["A", "B", "C", "A", "B", "NOWHERE"])),
            sku=draw(st.sampled_from(["X", "Y", "X", "NEW"])),
            quantity=qty,
            occurred_at=T0 + draw(st.integers(0, span)),
            channel=draw(st.sampled_from(["", "", "web", "app"])),
        )
        if draw(st.integers(0, 19)) == 0:
            e = dataclasses.replace(e, quantity=-abs(qty) - 1 if kind is not EventType.ADJUSTMENT else 0)
        out.append(e)
    return out


def event_world(window_ms: int) -> tuple[StockStore, RefLedger]:
    locs = [
        Location(c, c, LocationType.STORE, 42.0, -71.0, channels=frozenset({"web", "app"})) for c in "ABC"
    ]
    stock = Stock(on_hand={("X", "A"): 5, ("X", "B"): 0, ("Y", "C"): 12}, allocations=[("X", "web", 6, 1)])
    store = StockStore.from_snapshot(snapshot_of(locs, stock, channels=("web", "app")))
    ref_stock = RefStock(locs)
    for (s, lo), q in stock.on_hand.items():
        ref_stock.positions[(s, lo)] = RefPosition(q)
    ref_stock.fences[("X", "web")] = [6, 1]
    clock = FakeClock()
    return store, RefLedger(ref_stock, ("web", "app"), clock.now, count_window_ms=window_ms)


def stock_of(store: StockStore) -> dict[tuple[str, str], int]:
    out = {}
    for s, sku in enumerate(store.skus.ids):
        for li in store.sku_locations(s).tolist():
            p = store.position(s, li)
            assert p is not None
            out[(sku, p.location)] = p.on_hand
    return out


@settings(max_examples=examples(120))
@given(
    st.sampled_from([4, 60]).flatmap(lambda span: st.lists(events(span=span), min_size=1, max_size=5)),
    st.sampled_from([20, 24 * 3_600_000]),
)
def test_event_batches_follow_the_model(batches: list[list[StockEvent]], window: int) -> None:
    """A span of 4 ms makes counts and deltas at the same instant common (the tie rule); a 20 ms window
    makes late counts fall out of it."""
    store, ref = event_world(window)
    ledger = ledger_over(store, FakeClock(ref.now), count_window_ms=window)
    for batch in batches:
        got = [r.outcome for r in ledger.apply_stock_events(batch).results]
        assert got == ref.apply(batch)
        assert stock_of(store) == {k: p.on_hand for k, p in ref.stock.positions.items()}
        assert ledger.sequence == ref.sequence
        x = store.skus.index("X")
        assert store.allocations(x) == [(0, 6, ref.stock.fences[("X", "web")][1])]
        for s in range(len(store.skus)):
            for chan in (0, 1):
                assert store.atp(s, chan, Method.SHIP) >= 0


@settings(max_examples=examples(100))
@given(events(n_max=30))
def test_applying_a_batch_twice_equals_applying_it_once(batch: list[StockEvent]) -> None:
    once, _ = event_world(24 * 3_600_000)
    twice, _ = event_world(24 * 3_600_000)
    first = ledger_over(once).apply_stock_events(batch)
    ledger = ledger_over(twice)
    ledger.apply_stock_events(batch)
    again = ledger.apply_stock_events(batch)
    assert stock_of(once) == stock_of(twice)
    assert once.allocations(0) == twice.allocations(0)
    for a, b in zip(first.results, again.results, strict=True):
        if a.outcome in (EventOutcome.APPLIED, EventOutcome.STALE):
            assert b.outcome is EventOutcome.DUPLICATE
        else:
            assert b.outcome in (EventOutcome.REJECTED, EventOutcome.DUPLICATE)


@settings(max_examples=examples(100))
@given(st.data())
def test_the_final_stock_does_not_depend_on_arrival_order(data: st.DataObject) -> None:
    """Well-formed events with distinct ids (and distinct count times per position), in two random
    orders and batchings: the same final stock, which is also the declarative rule's: the newest count
    plus every delta at or after it, or the initial stock plus every delta."""
    raw = data.draw(events(n_max=30, ids=10_000, span=data.draw(st.sampled_from([6, 40]))))
    batch = []
    count_times: set[tuple[str, str, int]] = set()
    for i, e in enumerate(raw):
        if e.location == "NOWHERE" or (e.quantity < 0 and e.type is not EventType.ADJUSTMENT):
            continue
        if e.type is EventType.CYCLE_COUNT:
            if (e.sku, e.location, e.occurred_at) in count_times:
                continue
            count_times.add((e.sku, e.location, e.occurred_at))
        batch.append(dataclasses.replace(e, event_id=f"u{i}", quantity=e.quantity or 1))
    finals = []
    for _ in range(2):
        order = data.draw(st.permutations(batch))
        cut = data.draw(st.integers(0, len(order)))
        store, _ = event_world(24 * 3_600_000)
        ledger = ledger_over(store)
        for part in (order[:cut], order[cut:]):
            if part:
                ledger.apply_stock_events(list(part))
        finals.append(stock_of(store))
    assert finals[0] == finals[1]
    initial = {("X", "A"): 5, ("X", "B"): 0, ("Y", "C"): 12}
    from tests.availability.reference import SIGN as sign

    for key in {(e.sku, e.location) for e in batch} | set(initial):
        counts = [e for e in batch if (e.sku, e.location) == key and e.type is EventType.CYCLE_COUNT]
        deltas = [e for e in batch if (e.sku, e.location) == key and e.type is not EventType.CYCLE_COUNT]
        if counts:
            last = max(counts, key=lambda e: e.occurred_at)
            expected = last.quantity + sum(
                sign[e.type] * e.quantity for e in deltas if e.occurred_at >= last.occurred_at
            )
        else:
            expected = initial.get(key, 0) + sum(sign[e.type] * e.quantity for e in deltas)
        assert finals[0].get(key, 0) == expected
