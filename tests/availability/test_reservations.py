"""Reservations on the embedded ledger: holds at locations, groups and the channel network, every
transition, expiry, and reconcile. (The same rules run on every backend in tests/contract.)"""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from availability import AtpConfig, InsufficientStock, InvalidArgument, NotFound, Scope
from availability.errors import AlreadyExists, FailedPrecondition
from availability.ledger import MemoryLedger
from availability.reservations import (
    HoldLine,
    LineMove,
    LineQuantity,
    ReservationStatus,
    ReserveRequest,
)
from availability.store import StockStore
from tests.scenarios import (
    FakeClock,
    Stock,
    full_state,
    grid_store,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)

MIN = 60_000


def grid_ledger(on_hand: dict[tuple[str, str], int], clock: FakeClock | None = None) -> MemoryLedger:
    return MemoryLedger(grid_store(4, on_hand), clock_ms=clock or FakeClock(), sweep_interval_s=0)


def web_atp(led: MemoryLedger, sku: str, scope: Scope | None = None) -> int:
    store = led.store
    return store.hold_atp(store.skus.index(sku), store.network.channel_index("web"), scope or Scope())


def req(rid: str, *lines: HoldLine, ttl_ms: int = 15 * MIN, channel: str = "web") -> ReserveRequest:
    return ReserveRequest(rid, channel, tuple(lines), ttl_ms)


def test_a_location_hold_reduces_that_location_and_the_network() -> None:
    led = grid_ledger({("A", "L0000"): 5, ("A", "L0001"): 3})
    res = led.reserve(req("r1", HoldLine("A", 4, location="L0000")))
    assert res.status is ReservationStatus.HELD and res.held == 4
    assert web_atp(led, "A", Scope.of_locations(["L0000"])) == 1
    assert web_atp(led, "A") == 4
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and pos.reserved == 4 and pos.on_hand == 5


def test_a_network_hold_reduces_the_network_but_no_single_location() -> None:
    led = grid_ledger({("A", "L0000"): 5, ("A", "L0001"): 3})
    led.reserve(req("r1", HoldLine("A", 6)))
    assert web_atp(led, "A") == 2
    # a single location keeps its own figure, capped by what the network can still give
    assert web_atp(led, "A", Scope.of_locations(["L0000"])) == 2
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and pos.reserved == 0


def test_holds_never_promise_the_same_unit_twice() -> None:
    led = grid_ledger({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 3)))  # network hold
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("r2", HoldLine("A", 3, location="L0000")))
    assert err.value.shortfalls[0].available == 2
    led.reserve(req("r3", HoldLine("A", 2, location="L0000")))
    assert web_atp(led, "A") == 0


def test_all_or_nothing_with_every_shortfall_and_nothing_held() -> None:
    led = grid_ledger({("A", "L0000"): 5, ("B", "L0001"): 1})
    before = full_state(led.store)
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("r1", HoldLine("A", 2), HoldLine("B", 3, location="L0001"), HoldLine("C", 1)))
    assert [(s.sku, s.requested, s.available) for s in err.value.shortfalls] == [("B", 3, 1), ("C", 1, 0)]
    assert full_state(led.store) == before
    with pytest.raises(NotFound):
        led.get_reservation("r1")


def test_idempotent_reserve_and_conflicting_payload() -> None:
    led = grid_ledger({("A", "L0000"): 5})
    first = led.reserve(req("r1", HoldLine("A", 2)))
    again = led.reserve(req("r1", HoldLine("A", 2)))
    assert again == first and web_atp(led, "A") == 3
    with pytest.raises(AlreadyExists):
        led.reserve(req("r1", HoldLine("A", 3)))


def test_bad_requests_name_the_field_and_change_nothing() -> None:
    led = grid_ledger({("A", "L0000"): 5})
    before = full_state(led.store)
    bad = [
        (req("r 1", HoldLine("A", 1)), "reservation_id"),
        (req("r1", HoldLine("A", 0)), "lines[0].quantity"),
        (req("r1", HoldLine("A", -2)), "lines[0].quantity"),
        (req("r1", HoldLine("A", 10**12)), "lines[0].quantity"),
        (req("r1", HoldLine("A", 1, location="NOPE")), "lines[0].location"),
        (req("r1", HoldLine("A", 1, group="NOPE")), "lines[0].group"),
        (req("r1", HoldLine("A", 1), HoldLine("A", 1)), "lines[1]"),
        (req("r1", HoldLine("A", 1), ttl_ms=0), "ttl_ms"),
        (req("r1", HoldLine("A", 1), channel="nope"), "channel"),
        (ReserveRequest("r1", "web", ()), "lines"),
    ]
    for request, field in bad:
        with pytest.raises(InvalidArgument) as err:
            led.reserve(request)
        assert err.value.field == field
    assert full_state(led.store) == before


def test_confirm_moves_a_network_line_to_locations_and_stops_expiry() -> None:
    clock = FakeClock()
    led = grid_ledger({("A", "L0000"): 5, ("A", "L0001"): 3}, clock)
    led.reserve(req("r1", HoldLine("A", 4), ttl_ms=MIN))
    res = led.confirm("r1", (LineMove("A", "@network", (("L0000", 3), ("L0001", 1))),))
    assert res.status is ReservationStatus.CONFIRMED and res.expires_at_ms == 0
    assert {(ln.place, ln.held, ln.at_location) for ln in res.lines} == {("L0000", 3, True), ("L0001", 1, True)}
    assert led.store.group_holds(led.store.skus.index("A")) == {}
    assert web_atp(led, "A") == 4
    clock.now += 10 * MIN
    assert led.expire_due() == 0 and led.get_reservation("r1").status is ReservationStatus.CONFIRMED
    assert led.confirm("r1") == res  # confirming again changes nothing


def test_a_move_that_does_not_fit_fails_and_keeps_the_hold() -> None:
    led = grid_ledger({("A", "L0000"): 5, ("A", "L0001"): 3})
    led.reserve(req("r1", HoldLine("A", 4)))
    before = full_state(led.store)
    with pytest.raises(InsufficientStock):
        led.confirm("r1", (LineMove("A", "@network", (("L0001", 4),)),))
    assert full_state(led.store) == before
    assert led.get_reservation("r1").status is ReservationStatus.HELD


def test_release_part_then_all_and_idempotent_operations() -> None:
    led = grid_ledger({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 4, location="L0000")))
    part = (LineQuantity("A", "L0000", 1),)
    led.release("r1", part, operation_id="op1")
    led.release("r1", part, operation_id="op1")  # replay: no change
    assert web_atp(led, "A") == 2
    with pytest.raises(FailedPrecondition):
        led.release("r1", (LineQuantity("A", "L0000", 9),))
    res = led.release("r1")
    assert res.status is ReservationStatus.RELEASED and web_atp(led, "A") == 5
    assert led.release("r1") == res
    with pytest.raises(FailedPrecondition):
        led.fulfill("r1", (LineQuantity("A", "L0000", 1),))


def test_fulfil_takes_on_hand_and_reserved_down_partially() -> None:
    led = grid_ledger({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 3, location="L0000")))
    led.confirm("r1")
    led.fulfill("r1", (LineQuantity("A", "L0000", 2),), operation_id="ship-1")
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and (pos.on_hand, pos.reserved) == (3, 1)
    res = led.fulfill("r1", (LineQuantity("A", "L0000", 1),))
    assert res.status is ReservationStatus.FULFILLED
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and (pos.on_hand, pos.reserved) == (2, 0)


def test_group_lines_must_be_moved_before_fulfilment() -> None:
    led = grid_ledger({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 3)))
    with pytest.raises(FailedPrecondition):
        led.fulfill("r1", (LineQuantity("A", "@network", 1),))


def test_expiry_returns_the_stock_and_extend_moves_the_deadline() -> None:
    clock = FakeClock()
    led = grid_ledger({("A", "L0000"): 5}, clock)
    led.reserve(req("r1", HoldLine("A", 2), ttl_ms=MIN))
    led.reserve(req("r2", HoldLine("A", 2, location="L0000"), ttl_ms=MIN))
    led.extend("r2", 5 * MIN)
    clock.now += 2 * MIN
    assert led.expire_due() == 1
    assert led.get_reservation("r1").status is ReservationStatus.EXPIRED
    assert web_atp(led, "A") == 3
    with pytest.raises(FailedPrecondition):
        led.extend("r1", MIN)
    clock.now += 10 * MIN
    assert led.expire_due() == 1 and web_atp(led, "A") == 5
    assert led.expire_due() == 0


def test_closed_reservations_are_forgotten_a_day_after_creation_open_ones_never() -> None:
    clock = FakeClock()
    led = grid_ledger({("A", "L0000"): 5}, clock)
    led.reserve(req("done", HoldLine("A", 1)))
    led.release("done")
    led.reserve(req("open", HoldLine("A", 1)))
    led.confirm("open")
    led.holds.forget_closed(clock.now + 23 * 60 * MIN)
    assert led.get_reservation("done").status is ReservationStatus.RELEASED
    led.holds.forget_closed(clock.now + 25 * 60 * MIN)
    with pytest.raises(NotFound):
        led.get_reservation("done")
    assert led.get_reservation("open").status is ReservationStatus.CONFIRMED


def test_the_sweeper_expires_holds_without_anyone_asking() -> None:
    import time

    led = MemoryLedger(grid_store(2, {("A", "L0000"): 5}), sweep_interval_s=0.05)
    try:
        led.reserve(req("r1", HoldLine("A", 5), ttl_ms=100))
        deadline = time.monotonic() + 5
        while led.get_reservation("r1").status is ReservationStatus.HELD and time.monotonic() < deadline:
            time.sleep(0.02)
        assert led.get_reservation("r1").status is ReservationStatus.EXPIRED
        assert web_atp(led, "A") == 5
    finally:
        led.close()


def test_holds_respect_other_channels_ring_fences_and_consume_their_own() -> None:
    stock = Stock(on_hand={("LAMP", "DC-EAST"): 10}, allocations=[("LAMP", "marketplace", 4, 0)])
    store = StockStore.from_snapshot(
        snapshot_of(north_east_locations(), stock, groups=north_east_groups()), AtpConfig(default_safety=(0, 0, 0, 0))
    )
    led = MemoryLedger(store, clock_ms=FakeClock(), sweep_interval_s=0)
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("w", HoldLine("LAMP", 7)))
    assert err.value.shortfalls[0].available == 6
    led.reserve(req("m", HoldLine("LAMP", 4), channel="marketplace"))
    assert store.allocations(0)[0][2] == 4  # marketplace consumed its ring-fence
    led.reserve(req("w", HoldLine("LAMP", 6)))
    led.release("m")
    assert store.allocations(0)[0][2] == 0  # given back


def test_a_group_hold_counts_inside_enclosing_groups() -> None:
    stock = Stock(on_hand={("TEE", "ST-BOS"): 2, ("TEE", "DK-BOS"): 2, ("TEE", "DC-EAST"): 5})
    store = StockStore.from_snapshot(
        snapshot_of(north_east_locations(), stock, groups=north_east_groups()), AtpConfig(default_safety=(0, 0, 0, 0))
    )
    led = MemoryLedger(store, clock_ms=FakeClock(), sweep_interval_s=0)
    led.reserve(req("b", HoldLine("TEE", 4, group="BOSTON")))
    assert web_atp(led, "TEE", Scope.of_group("BOSTON")) == 0
    assert web_atp(led, "TEE") == 5
    # a location hold inside BOSTON would leave the BOSTON hold uncovered
    with pytest.raises(InsufficientStock):
        led.reserve(req("x", HoldLine("TEE", 1, location="ST-BOS")))
    led.reserve(req("y", HoldLine("TEE", 5, location="DC-EAST")))


def test_reconcile_finds_and_repairs_drift() -> None:
    led = grid_ledger({("A", "L0000"): 5, ("A", "L0001"): 5})
    led.reserve(req("r1", HoldLine("A", 2, location="L0000")))
    led.reserve(req("r2", HoldLine("A", 3)))
    assert led.reconcile().inconsistencies == []
    # simulate drift: a compensation applied twice
    s = led.store.skus.index("A")
    led.holds._apply(s, 0, -1, 1)
    led.holds._apply(s, -1, led.store.network.hold_group_index("@network", 0), -1)
    report = led.reconcile(repair=True)
    assert {(i.place, i.counter, i.expected, i.found) for i in report.inconsistencies} == {
        ("L0000", "reserved", 2, 3),
        ("@network:web", "group_hold", 3, 2),
    }
    assert led.reconcile().inconsistencies == []


def test_concurrent_callers_never_oversell() -> None:
    led = grid_ledger({("A", "L0000"): 7})
    wins: list[str] = []

    def shopper(i: int) -> None:
        try:
            led.reserve(req(f"r{i}", HoldLine("A", 1)))
            wins.append(f"r{i}")
        except InsufficientStock:
            pass

    threads = [threading.Thread(target=shopper, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 7 and web_atp(led, "A") == 0
    assert led.reconcile().inconsistencies == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["reserve_loc", "reserve_net", "release", "confirm", "fulfil", "expire"]),
            st.integers(0, 5),
            st.integers(1, 4),
        ),
        max_size=30,
    )
)
def test_property_atp_never_negative_and_counters_reconcile(ops: list[tuple[str, int, int]]) -> None:
    clock = FakeClock()
    led = grid_ledger({("A", "L0000"): 6, ("A", "L0001"): 4}, clock)
    for kind, i, q in ops:
        rid = f"r{i}"
        try:
            if kind == "reserve_loc":
                led.reserve(req(rid, HoldLine("A", q, location="L0000"), ttl_ms=MIN))
            elif kind == "reserve_net":
                led.reserve(req(rid, HoldLine("A", q), ttl_ms=MIN))
            elif kind == "release":
                led.release(rid)
            elif kind == "confirm":
                led.confirm(rid)
            elif kind == "fulfil":
                res = led.get_reservation(rid)
                lines = tuple(LineQuantity(ln.sku, ln.place, 1) for ln in res.lines if ln.at_location and ln.held)
                if lines:
                    led.fulfill(rid, lines)
            else:
                clock.now += 2 * MIN
                led.expire_due()
        except (InsufficientStock, NotFound, FailedPrecondition, AlreadyExists):
            pass
        assert web_atp(led, "A") >= 0
        for li in ("L0000", "L0001"):
            assert web_atp(led, "A", Scope.of_locations([li])) >= 0
        assert led.reconcile().inconsistencies == []
    held = sum(r.held for r in (led.get_reservation(f"r{i}") for i in range(6) if f"r{i}" in led.holds._records))
    s = led.store.skus.index("A")
    reserved = sum(p.reserved for p in (led.store.position(s, 0), led.store.position(s, 1)) if p is not None)
    assert held == reserved + sum(led.store.group_holds(s).values())
