"""Reservations on the embedded ledger, what only it has: forgetting closed records, its sweeper
thread, and reconcile against drift injected into its arrays. The rules every backend shares are in
tests/contract/test_reservations.py."""

from __future__ import annotations

import pytest

from availability import NotFound, Scope
from availability.ledger import MemoryLedger
from availability.reservations import (
    HoldLine,
    ReservationStatus,
    ReserveRequest,
)
from tests.scenarios import (
    FakeClock,
    grid_store,
)

MIN = 60_000


def grid_ledger(on_hand: dict[tuple[str, str], int], clock: FakeClock | None = None) -> MemoryLedger:
    return MemoryLedger(grid_store(4, on_hand), clock_ms=clock or FakeClock(), sweep_interval_s=0)


def web_atp(led: MemoryLedger, sku: str, scope: Scope | None = None) -> int:
    store = led.store
    return store.hold_atp(store.skus.index(sku), store.network.channel_index("web"), scope or Scope())


def req(rid: str, *lines: HoldLine, ttl_ms: int = 15 * MIN, channel: str = "web") -> ReserveRequest:
    return ReserveRequest(rid, channel, tuple(lines), ttl_ms)


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
