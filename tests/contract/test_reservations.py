"""The reservation contract, on every backend: holds at locations, groups and the channel network,
every transition, expiry, ring-fences, concurrency, and counters that reconcile (the fixture also
checks after every test that reconcile finds nothing). Ported from tests/availability/test_reservations.py,
which keeps the embedded ledger's own internals (forgetting closed records, injected drift)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from availability import AtpConfig, InsufficientStock, InvalidArgument, NotFound, Scope, Snapshot
from availability.errors import AlreadyExists, FailedPrecondition
from availability.ledger import Ledger
from availability.reservations import (
    HoldLine,
    LineMove,
    LineQuantity,
    ReservationStatus,
    ReserveRequest,
)
from tests.contract.conftest import LedgerFactory, observable
from tests.scenarios import (
    FakeClock,
    Stock,
    grid_network,
    north_east_groups,
    north_east_locations,
    snapshot_of,
)

MIN = 60_000
ZERO_SAFETY = AtpConfig(default_safety=(0, 0, 0, 0))


def grid_snapshot(on_hand: dict[tuple[str, str], int]) -> Snapshot:
    return snapshot_of(grid_network(4), Stock(on_hand=on_hand), channels=("web", "app"))


def web_atp(led: Ledger, sku: str, scope: Scope | None = None) -> int:
    store = led.store
    return store.hold_atp(store.skus.index(sku), store.network.channel_index("web"), scope or Scope())


def req(rid: str, *lines: HoldLine, ttl_ms: int = 15 * MIN, channel: str = "web") -> ReserveRequest:
    return ReserveRequest(rid, channel, tuple(lines), ttl_ms)


Grid = Callable[..., Ledger]


@pytest.fixture
def grid(ledger_factory: LedgerFactory) -> Grid:
    def make(on_hand: dict[tuple[str, str], int], clock: FakeClock | None = None) -> Ledger:
        return ledger_factory(grid_snapshot(on_hand), config=ZERO_SAFETY, clock=clock or FakeClock())

    return make


def test_a_location_hold_reduces_that_location_and_the_network(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5, ("A", "L0001"): 3})
    res = led.reserve(req("r1", HoldLine("A", 4, location="L0000")))
    assert res.status is ReservationStatus.HELD and res.held == 4
    assert web_atp(led, "A", Scope.of_locations(["L0000"])) == 1
    assert web_atp(led, "A") == 4
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and pos.reserved == 4 and pos.on_hand == 5


def test_a_network_hold_reduces_the_network_but_no_single_location(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5, ("A", "L0001"): 3})
    led.reserve(req("r1", HoldLine("A", 6)))
    assert web_atp(led, "A") == 2
    # a single location keeps its own figure, capped by what the network can still give
    assert web_atp(led, "A", Scope.of_locations(["L0000"])) == 2
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and pos.reserved == 0


def test_holds_never_promise_the_same_unit_twice(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 3)))  # network hold
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("r2", HoldLine("A", 3, location="L0000")))
    assert err.value.shortfalls[0].available == 2
    led.reserve(req("r3", HoldLine("A", 2, location="L0000")))
    assert web_atp(led, "A") == 0


def test_all_or_nothing_with_every_shortfall_and_nothing_held(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5, ("B", "L0001"): 1})
    before = observable(led.store)
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("r1", HoldLine("A", 2), HoldLine("B", 3, location="L0001"), HoldLine("C", 1)))
    assert [(s.sku, s.requested, s.available) for s in err.value.shortfalls] == [("B", 3, 1), ("C", 1, 0)]
    assert observable(led.store) == before
    with pytest.raises(NotFound):
        led.get_reservation("r1")


def test_idempotent_reserve_and_conflicting_payload(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5})
    first = led.reserve(req("r1", HoldLine("A", 2)))
    again = led.reserve(req("r1", HoldLine("A", 2)))
    assert again == first and web_atp(led, "A") == 3
    with pytest.raises(AlreadyExists):
        led.reserve(req("r1", HoldLine("A", 3)))


def test_bad_requests_name_the_field_and_change_nothing(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5})
    before = observable(led.store)
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
    assert observable(led.store) == before


def test_confirm_moves_a_network_line_to_locations_and_stops_expiry(grid: Grid) -> None:
    clock = FakeClock()
    led = grid({("A", "L0000"): 5, ("A", "L0001"): 3}, clock)
    led.reserve(req("r1", HoldLine("A", 4), ttl_ms=MIN))
    res = led.confirm("r1", (LineMove("A", "@network", (("L0000", 3), ("L0001", 1))),))
    assert res.status is ReservationStatus.CONFIRMED and res.expires_at_ms == 0
    assert {(ln.place, ln.held, ln.at_location) for ln in res.lines} == {("L0000", 3, True), ("L0001", 1, True)}
    assert led.store.group_holds(led.store.skus.index("A")) == {}
    assert web_atp(led, "A") == 4
    clock.now += 10 * MIN
    assert led.expire_due() == 0 and led.get_reservation("r1").status is ReservationStatus.CONFIRMED
    assert led.confirm("r1") == res  # confirming again changes nothing


def test_a_move_that_does_not_fit_fails_and_keeps_the_hold(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5, ("A", "L0001"): 3})
    led.reserve(req("r1", HoldLine("A", 4)))
    before = observable(led.store)
    with pytest.raises(InsufficientStock):
        led.confirm("r1", (LineMove("A", "@network", (("L0001", 4),)),))
    assert observable(led.store) == before
    assert led.get_reservation("r1").status is ReservationStatus.HELD


def test_release_part_then_all_and_idempotent_operations(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5})
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


def test_fulfil_takes_on_hand_and_reserved_down_partially(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 3, location="L0000")))
    led.confirm("r1")
    led.fulfill("r1", (LineQuantity("A", "L0000", 2),), operation_id="ship-1")
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and (pos.on_hand, pos.reserved) == (3, 1)
    res = led.fulfill("r1", (LineQuantity("A", "L0000", 1),))
    assert res.status is ReservationStatus.FULFILLED
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and (pos.on_hand, pos.reserved) == (2, 0)


def test_group_lines_must_be_moved_before_fulfilment(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5})
    led.reserve(req("r1", HoldLine("A", 3)))
    with pytest.raises(FailedPrecondition):
        led.fulfill("r1", (LineQuantity("A", "@network", 1),))


def test_expiry_returns_the_stock_and_extend_moves_the_deadline(grid: Grid) -> None:
    clock = FakeClock()
    led = grid({("A", "L0000"): 5}, clock)
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


def test_holds_respect_other_channels_ring_fences_and_consume_their_own(ledger_factory: LedgerFactory) -> None:
    stock = Stock(on_hand={("LAMP", "DC-EAST"): 10}, allocations=[("LAMP", "marketplace", 4, 0)])
    snap = snapshot_of(north_east_locations(), stock, groups=north_east_groups())
    led = ledger_factory(snap, config=ZERO_SAFETY)
    lamp = led.store.skus.index("LAMP")
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("w", HoldLine("LAMP", 7)))
    assert err.value.shortfalls[0].available == 6
    led.reserve(req("m", HoldLine("LAMP", 4), channel="marketplace"))
    assert led.store.allocations(lamp)[0][2] == 4  # marketplace consumed its ring-fence
    led.reserve(req("w", HoldLine("LAMP", 6)))
    led.release("m")
    assert led.store.allocations(lamp)[0][2] == 0  # given back


def test_a_group_hold_counts_inside_enclosing_groups(ledger_factory: LedgerFactory) -> None:
    stock = Stock(on_hand={("TEE", "ST-BOS"): 2, ("TEE", "DK-BOS"): 2, ("TEE", "DC-EAST"): 5})
    led = ledger_factory(snapshot_of(north_east_locations(), stock, groups=north_east_groups()), config=ZERO_SAFETY)
    led.reserve(req("b", HoldLine("TEE", 4, group="BOSTON")))
    assert web_atp(led, "TEE", Scope.of_group("BOSTON")) == 0
    assert web_atp(led, "TEE") == 5
    # a location hold inside BOSTON would leave the BOSTON hold uncovered
    with pytest.raises(InsufficientStock):
        led.reserve(req("x", HoldLine("TEE", 1, location="ST-BOS")))
    led.reserve(req("y", HoldLine("TEE", 5, location="DC-EAST")))


def test_lines_in_different_partitions_are_all_or_nothing(grid: Grid) -> None:
    # many SKUs: with four partitions the lines land in several, so this takes the saga path
    skus = [f"S{i}" for i in range(12)]
    led = grid({(s, "L0000"): 2 for s in skus})
    before = observable(led.store)
    lines = [HoldLine(s, 2, location="L0000") for s in skus[:-1]] + [HoldLine(skus[-1], 3, location="L0000")]
    with pytest.raises(InsufficientStock) as err:
        led.reserve(req("big", *lines))
    assert [(s.line, s.sku, s.available) for s in err.value.shortfalls] == [(11, "S11", 2)]
    assert observable(led.store) == before
    with pytest.raises(NotFound):
        led.get_reservation("big")
    res = led.reserve(req("big", *lines[:-1], HoldLine(skus[-1], 2, location="L0000")))
    assert res.held == 24 and all(web_atp(led, s) == 0 for s in skus)
    res = led.confirm("big")
    done = led.fulfill("big", tuple(LineQuantity(s, "L0000", 2) for s in skus), operation_id="ship")
    assert done.status is ReservationStatus.FULFILLED
    assert all(led.store.position(led.store.skus.index(s), 0).on_hand == 0 for s in skus)  # type: ignore[union-attr]


def test_concurrent_callers_never_oversell(grid: Grid) -> None:
    led = grid({("A", "L0000"): 7})
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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
def test_property_atp_never_negative_and_counters_reconcile(grid: Grid, ops: list[tuple[str, int, int]]) -> None:
    clock = FakeClock()
    led = grid({("A", "L0000"): 6, ("A", "L0001"): 4}, clock)
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
    held = 0
    for i in range(6):
        with contextlib.suppress(NotFound):
            held += led.get_reservation(f"r{i}").held
    s = led.store.skus.index("A")
    reserved = sum(p.reserved for p in (led.store.position(s, 0), led.store.position(s, 1)) if p is not None)
    assert held == reserved + sum(led.store.group_holds(s).values())


def test_a_snapshot_load_keeps_open_holds_and_drops_closed_ones(grid: Grid) -> None:
    led = grid({("A", "L0000"): 5, ("A", "L0001"): 5, ("B", "L0000"): 2})
    led.reserve(req("loc", HoldLine("A", 2, location="L0000"), HoldLine("B", 1, location="L0000")))
    led.reserve(req("net", HoldLine("A", 3)))
    led.confirm("net")
    led.reserve(req("gone", HoldLine("A", 1)))
    led.release("gone")
    # the new count has more A and no B at all: B's hold has nothing left to hold
    led.load_snapshot(grid_snapshot({("A", "L0000"): 8, ("A", "L0001"): 5}))
    assert web_atp(led, "A") == 13 - 5
    assert web_atp(led, "A", Scope.of_locations(["L0000"])) == 6
    pos = led.store.position(led.store.skus.index("A"), 0)
    assert pos is not None and (pos.on_hand, pos.reserved) == (8, 2)
    assert led.get_reservation("net").status is ReservationStatus.CONFIRMED
    led.release("loc", (LineQuantity("A", "L0000", 2),))
    assert web_atp(led, "A", Scope.of_locations(["L0000"])) == 8
