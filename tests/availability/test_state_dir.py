"""The embedded ledger's state directory (availability/ledger/statedir.py): a restart, or a crash, keeps
stock, configuration, holds in every state, idempotency and sequences; expiries owed during downtime
happen after the start; torn and damaged files; one process per directory; and the on-hand half of
reconcile (also without a state directory)."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from availability import AllocationRow, EventOutcome, EventType, LocationGroup, StockEvent, StockStore
from availability import _kernels as K
from availability.errors import AlreadyExists, FailedPrecondition, OmnirouteError
from availability.ledger import MemoryLedger, SafetyStockEntry
from availability.ledger.statedir import StateDirError, StateDirOptions, open_ledger
from availability.reservations import HoldLine, LineMove, LineQuantity, ReservationStatus, ReserveRequest
from tests.scenarios import FakeClock, Stock, full_state, grid_network, loc, snapshot_of

MIN = 60_000
FAST = StateDirOptions(fsync=False)  # the tests check what is written, not the disk's flush


def grid_with_group(on_hand: dict[tuple[str, str], int]) -> StockStore:
    """Four stores L0000-L0003 serving web and app with every method, zero default safety stock, and a
    group G of the first two: location, group and network holds all have a place."""
    from availability import AtpConfig

    snap = snapshot_of(
        grid_network(4),
        Stock(on_hand=on_hand),
        channels=("web", "app"),
        groups=[LocationGroup("G", ("L0000", "L0001"))],
    )
    return StockStore.from_snapshot(snap, AtpConfig(default_safety=(0, 0, 0, 0)))


STOCK = {
    ("A", "L0000"): 10,
    ("A", "L0001"): 6,
    ("A", "L0002"): 4,
    ("B", "L0001"): 5,
    ("B", "L0003"): 8,
    ("C", "L0000"): 6,
    ("C", "L0001"): 3,
}


def opened(
    directory: Path, clock: FakeClock, boot: Callable[[], MemoryLedger] | None = None, **kw: Any
) -> MemoryLedger:
    def never() -> MemoryLedger:
        raise AssertionError("a directory holding a ledger must not bootstrap")

    kw.setdefault("options", FAST)
    kw.setdefault("sweep_interval_s", 0)
    return open_ledger(directory, boot or never, clock_ms=clock, **kw)


def fresh(directory: Path, clock: FakeClock, **kw: Any) -> MemoryLedger:
    return opened(
        directory, clock, lambda: MemoryLedger(grid_with_group(STOCK), clock_ms=clock, sweep_interval_s=0), **kw
    )


def ev(eid: str, kind: EventType, location: str, sku: str, qty: int, at: int, channel: str = "") -> StockEvent:
    return StockEvent(eid, kind, location, sku, qty, at, channel)


def observable(led: MemoryLedger, reservations: Sequence[str] = ()) -> dict[str, object]:
    """What readers and callers can observe: positions, fences, group holds, SKUs, locations, sequence,
    and the given reservations."""
    gs, gg, gq = led.store.group_hold_rows()
    out = full_state(led.store)
    out["group_holds"] = sorted(zip(gs.tolist(), gg.tolist(), gq.tolist(), strict=True))
    out["ledger_sequence"] = led.sequence
    for rid in reservations:
        try:
            out[rid] = led.get_reservation(rid)
        except OmnirouteError as err:
            out[rid] = type(err).__name__
    return out


def exact(led: MemoryLedger) -> dict[str, object]:
    """The whole internal state that decides what later writes do: the arrays (slot layout, count
    times, the journal of recent deltas), remembered ids and their batches, the reservation records and
    the deadlines still in force. Zero group-hold rows left by a rolled-back reserve (which is not
    journaled, as it changed nothing) and deadlines already superseded are left out."""
    with led.write_lock:
        s = led.export_state()
    a = dict(s.arrays)
    alloc = a.pop("alloc")
    idx = a.pop("idx")
    keep = (alloc[K.A_CHANNEL] >= 0) | (alloc[K.A_QUANTITY] != 0)
    arrays = {k: v.tolist() for k, v in a.items()}
    arrays["idx"] = np.delete(idx, K.ALLOC, axis=1).tolist()
    arrays["alloc"] = alloc[:, keep].tolist()
    holds = dict(s.holds)
    records = {r["id"]: r for r in holds["records"]}
    live = {
        (t, rid)
        for t, rid in holds.pop("deadlines")
        if rid in records and records[rid]["status"] == "held" and records[rid]["expires"] == t
    }
    return {
        "sequence": s.sequence,
        "window_start": s.window_start,
        "skus": s.sku_ids,
        "arrays": arrays,
        "seen": list(zip(s.seen_ids, s.seen_payloads, strict=True)),
        "seen_batches": s.seen_batches,
        "holds": holds,
        "deadlines": sorted(live),
        "locations": s.network.locations,
    }


# ---------------------------------------------------------------------------------------------- restarts
def test_a_restart_keeps_stock_configuration_holds_and_sequences(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    t = clock.now
    led.apply_stock_events(
        [
            ev("rcv-1", EventType.RECEIPT, "L0000", "A", 5, t - 5_000),
            ev("sale-1", EventType.SALE, "L0001", "B", 1, t - 4_000, "web"),
            ev("cnt-1", EventType.CYCLE_COUNT, "L0002", "A", 3, t - 3_000),
            ev("new-sku", EventType.RECEIPT, "L0003", "NEW", 9, t - 2_000),
        ]
    )
    led.set_safety_stock([SafetyStockEntry("A", "L0000", 2), SafetyStockEntry("NEW", "L0002", 1)])
    led.set_allocations([AllocationRow("B", "app", 3)])
    led.upsert_locations([loc("L0099", channels=("web",))])
    led.reserve(ReserveRequest("held", "web", (HoldLine("A", 2, location="L0000"), HoldLine("B", 1, group="G"))))
    led.reserve(ReserveRequest("confirmed", "web", (HoldLine("A", 3),)))
    led.confirm("confirmed", (LineMove("A", "@network", (("L0001", 2), ("L0002", 1))),))
    led.reserve(ReserveRequest("partly", "app", (HoldLine("B", 4, location="L0003"),)))
    led.release("partly", (LineQuantity("B", "L0003", 1),), operation_id="rel-1")
    led.fulfill("partly", (LineQuantity("B", "L0003", 2),), operation_id="ship-1")
    led.reserve(ReserveRequest("gone", "web", (HoldLine("A", 1),)))
    led.release("gone")
    rids = ["held", "confirmed", "partly", "gone"]
    before, internal = observable(led, rids), exact(led)
    led.close()

    again = opened(tmp_path, clock)
    try:
        assert observable(again, rids) == before
        assert exact(again) == internal
        assert again.get_reservation("partly").status is ReservationStatus.CONFIRMED  # fulfilling confirms
        # the next write continues the sequence
        assert again.set_safety_stock([SafetyStockEntry("A", "L0001", 1)]) == before["ledger_sequence"] + 1  # type: ignore[operator]
    finally:
        again.close()


def test_idempotency_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    sale = ev("pos-1", EventType.SALE, "L0000", "A", 2, clock.now - 1_000, "web")
    led.apply_stock_events([sale])
    req = ReserveRequest("cart-1", "web", (HoldLine("A", 2, location="L0001"),))
    first = led.reserve(req)
    led.release("cart-1", (LineQuantity("A", "L0001", 1),), operation_id="op-1")
    led.close()

    led = opened(tmp_path, clock)
    try:
        again = led.apply_stock_events([sale, ev("pos-1", EventType.SALE, "L0000", "A", 3, sale.occurred_at, "web")])
        assert [r.outcome for r in again.results] == [EventOutcome.DUPLICATE, EventOutcome.REJECTED]
        assert "reused with a different payload" in again.results[1].reason
        same = led.reserve(req)
        assert same.reservation_id == first.reservation_id and same.created_at_ms == first.created_at_ms
        assert same.held == 1  # the partial release happened before the restart
        with pytest.raises(AlreadyExists):
            led.reserve(ReserveRequest("cart-1", "web", (HoldLine("A", 3, location="L0001"),)))
        seq = led.sequence
        assert led.release("cart-1", (LineQuantity("A", "L0001", 1),), operation_id="op-1").held == 1
        assert led.sequence == seq  # the operation id was remembered: nothing released twice
    finally:
        led.close()


def test_a_hold_whose_deadline_passed_while_down_is_returned_by_the_sweeper(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    led.reserve(ReserveRequest("cart", "web", (HoldLine("A", 4, location="L0000"),), ttl_ms=5 * MIN))
    led.reserve(ReserveRequest("order", "web", (HoldLine("A", 1, location="L0000"),), ttl_ms=5 * MIN))
    led.confirm("order")
    led.close()

    clock.now += 10 * MIN  # down for ten minutes
    led = opened(tmp_path, clock, sweep_interval_s=0.02)
    try:
        deadline = time.monotonic() + 30  # a bound for a stuck test, not a timing assertion
        while led.get_reservation("cart").status is not ReservationStatus.EXPIRED:
            assert time.monotonic() < deadline, "the sweeper never expired the overdue hold"
            time.sleep(0.01)
        assert led.get_reservation("order").status is ReservationStatus.CONFIRMED
        pos = led.store.position(led.store.skus.index("A"), 0)
        assert pos is not None and pos.reserved == 1
    finally:
        led.close()
    led = opened(tmp_path, clock)  # and the expiry itself was journaled
    try:
        assert led.get_reservation("cart").status is ReservationStatus.EXPIRED
    finally:
        led.close()


def test_a_snapshot_load_is_checkpointed_and_kept(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    led.reserve(ReserveRequest("keep", "web", (HoldLine("B", 2, location="L0003"),)))
    snap = snapshot_of(grid_network(4), Stock(on_hand={("B", "L0003"): 30, ("C", "L0000"): 1}), channels=("web", "app"))
    led.load_snapshot(snap)
    before = observable(led, ["keep"])
    led.close()
    assert len(list(tmp_path.glob("checkpoint-*"))) == 1  # the load's checkpoint replaced the first
    led = opened(tmp_path, clock)
    try:
        assert observable(led, ["keep"]) == before
        pos = led.store.position(led.store.skus.index("B"), 3)
        assert pos is not None and (pos.on_hand, pos.reserved) == (30, 2)  # the open hold was re-applied
    finally:
        led.close()


def test_checkpoints_taken_while_writers_write_lose_nothing(tmp_path: Path) -> None:
    """A tiny checkpoint threshold: the checkpointer copies and writes the state many times while four
    threads write; the restarted ledger equals the one that stopped."""
    clock = FakeClock()
    led = fresh(tmp_path, clock, options=StateDirOptions(fsync=False, checkpoint_bytes=2_000))

    def writer(w: int) -> None:
        for i in range(60):
            led.apply_stock_events([ev(f"w{w}-{i}", EventType.RECEIPT, f"L000{w}", "A", 1, clock.now - 1)])
            rid = f"r{w}-{i}"
            led.reserve(ReserveRequest(rid, "web", (HoldLine("A", 1, location=f"L000{w}"),)))
            if i % 3 == 0:
                led.release(rid)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    rids = [f"r{w}-{i}" for w in range(4) for i in range(60)]
    before, internal = observable(led, rids), exact(led)
    led.close()
    led = opened(tmp_path, clock)
    try:
        assert observable(led, rids) == before
        assert exact(led) == internal
        assert led.reconcile().inconsistencies == []
    finally:
        led.close()


def test_a_start_that_replayed_entries_checkpoints_them_and_idle_restarts_add_no_files(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    led.apply_stock_events([ev("e1", EventType.RECEIPT, "L0000", "A", 1, clock.now - 1)])
    before = observable(led)
    led.close()
    led = opened(tmp_path, clock)  # replays e1, then checkpoints in the background
    try:
        deadline = time.monotonic() + 30  # a bound for a stuck test, not a timing assertion
        while [p.name for p in tmp_path.glob("checkpoint-*")] != ["checkpoint-000000000002"]:
            assert time.monotonic() < deadline, "no checkpoint after the replay"
            time.sleep(0.01)
    finally:
        led.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    for _ in range(3):
        opened(tmp_path, clock).close()
    assert (
        sorted(p.name for p in tmp_path.iterdir())
        == files
        == ["LOCK", "checkpoint-000000000002", "journal-000000000002.log"]
    )
    led = opened(tmp_path, clock)
    try:
        assert observable(led) == before
    finally:
        led.close()


def test_a_batch_that_changed_nothing_is_not_journaled(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    try:
        e1 = ev("e1", EventType.RECEIPT, "L0000", "A", 1, clock.now - 1)
        retry = [e1, ev("bad", EventType.RECEIPT, "NOWHERE", "A", 1, clock.now - 1)]
        led.apply_stock_events([e1])
        # the first retry is journaled: e1 moved the count window's end, and this batch moves its start
        led.apply_stock_events(retry)
        journal = next(tmp_path.glob("journal-*.log"))
        size = journal.stat().st_size
        again = led.apply_stock_events(retry)
        assert [r.outcome for r in again.results] == [EventOutcome.DUPLICATE, EventOutcome.REJECTED]
        assert journal.stat().st_size == size
    finally:
        led.close()


# ---------------------------------------------------------------------------------------------- damage
def _one_write_each(tmp_path: Path, clock: FakeClock) -> tuple[dict[str, object], dict[str, object]]:
    """Two writes after the first checkpoint; returns the observable state after the first and after both."""
    led = fresh(tmp_path, clock)
    led.apply_stock_events([ev("e1", EventType.RECEIPT, "L0000", "A", 1, clock.now - 1)])
    after_one = observable(led)
    led.apply_stock_events([ev("e2", EventType.RECEIPT, "L0000", "A", 2, clock.now - 1)])
    after_two = observable(led)
    led.close()
    return after_one, after_two


@pytest.mark.parametrize("cut", [1, 7, 20])
def test_a_torn_last_entry_is_dropped_with_a_warning(
    tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    after_one, _ = _one_write_each(tmp_path, clock)
    journal = next(tmp_path.glob("journal-*.log"))
    data = journal.read_bytes()
    journal.write_bytes(data[:-cut])  # the process died while writing the second entry
    with caplog.at_level(logging.WARNING, logger="availability.ledger.statedir"):
        led = opened(tmp_path, clock)
    try:
        assert observable(led) == after_one
        assert any("torn entry" in r.getMessage() for r in caplog.records)
        # the writer can send e2 again: it was never applied
        assert (
            led.apply_stock_events([ev("e2", EventType.RECEIPT, "L0000", "A", 2, clock.now - 1)]).results[0].outcome
            is EventOutcome.APPLIED
        )
    finally:
        led.close()


def test_zeros_after_the_last_entry_are_a_torn_tail(tmp_path: Path) -> None:
    clock = FakeClock()
    _, after_two = _one_write_each(tmp_path, clock)
    journal = next(tmp_path.glob("journal-*.log"))
    with open(journal, "ab") as f:
        f.write(b"\x00" * 4096)  # the file grew but the data never reached the disk
    led = opened(tmp_path, clock)
    try:
        assert observable(led) == after_two
    finally:
        led.close()


def test_damage_before_the_last_entry_stops_the_start(tmp_path: Path) -> None:
    clock = FakeClock()
    _one_write_each(tmp_path, clock)
    journal = next(tmp_path.glob("journal-*.log"))
    data = bytearray(journal.read_bytes())
    data[40] ^= 0xFF  # inside the first entry; the second is whole
    journal.write_bytes(bytes(data))
    with pytest.raises(StateDirError, match=r"journal-0+1\.log is damaged at byte 16: .*truncate -s 16"):
        opened(tmp_path, clock)


def test_a_damaged_checkpoint_fails_with_a_clear_message(tmp_path: Path) -> None:
    clock = FakeClock()
    fresh(tmp_path, clock).close()
    pos = next(tmp_path.glob("checkpoint-*")) / "pos.npy"
    data = bytearray(pos.read_bytes())
    data[-1] ^= 0x01
    pos.write_bytes(bytes(data))
    with pytest.raises(
        StateDirError, match=r"checkpoint .* is damaged: pos\.npy has CRC-32 .*restore the state directory"
    ):
        opened(tmp_path, clock)


def test_a_directory_holding_something_else_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a ledger")
    with pytest.raises(StateDirError, match="not empty but holds no checkpoint"):
        fresh(tmp_path, FakeClock())
    assert (tmp_path / "notes.txt").read_text() == "not a ledger"


def test_a_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    path.write_text("precious")
    with pytest.raises(StateDirError, match="exists and is not a directory"):
        fresh(path, FakeClock())
    assert path.read_text() == "precious"


def test_bad_options_name_the_field() -> None:
    with pytest.raises(OmnirouteError, match="checkpoint_bytes=0"):
        StateDirOptions(checkpoint_bytes=0)
    with pytest.raises(OmnirouteError, match="fsync='yes'"):
        StateDirOptions(fsync="yes")  # type: ignore[arg-type]


def test_a_replay_that_ends_elsewhere_is_refused(tmp_path: Path) -> None:
    """A journal written with another count window: its count is rejected on replay, so the sequence
    differs and the start stops rather than serve another state."""
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    led.apply_stock_events([ev("r1", EventType.RECEIPT, "L0000", "A", 1, clock.now - 1)])
    led.apply_stock_events([ev("c1", EventType.CYCLE_COUNT, "L0000", "A", 3, clock.now - 2 * 3_600_000)])
    led.close()
    with pytest.raises(StateDirError, match="ended at sequence 1, the write at 2"):
        opened(tmp_path, clock, count_window_ms=3_600_000)


# ---------------------------------------------------------------------------------------------- one process
def test_two_ledgers_cannot_share_a_directory(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    try:
        with pytest.raises(StateDirError, match="in use by another process"):
            opened(tmp_path, clock)
    finally:
        led.close()
    opened(tmp_path, clock).close()  # free again once closed


def test_another_process_is_refused_while_one_holds_the_directory(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    try:
        code = (
            "import sys\n"
            "from availability.ledger.statedir import StateDirError, open_ledger\n"
            "try:\n"
            f"    open_ledger({str(tmp_path)!r}, lambda: None)\n"
            "except StateDirError as e:\n"
            "    print(e); sys.exit(3)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 3, out.stderr
        assert "in use by another process" in out.stdout
    finally:
        led.close()


def test_writes_after_close_are_refused(tmp_path: Path) -> None:
    clock = FakeClock()
    led = fresh(tmp_path, clock)
    led.close()
    with pytest.raises(OmnirouteError, match="closed"):
        led.set_safety_stock([SafetyStockEntry("A", "L0000", 2)])


def test_checkpoint_needs_a_state_directory() -> None:
    with pytest.raises(FailedPrecondition):
        MemoryLedger(grid_with_group(STOCK), sweep_interval_s=0).checkpoint()


# ---------------------------------------------------------------------------------------------- on hand reconcile
@pytest.mark.parametrize("with_state_dir", [False, True])
def test_reconcile_finds_on_hand_drift_and_repairs_it(with_state_dir: bool, tmp_path: Path) -> None:
    clock = FakeClock()
    led = (
        fresh(tmp_path, clock)
        if with_state_dir
        else MemoryLedger(grid_with_group(STOCK), clock_ms=clock, sweep_interval_s=0)
    )
    try:
        led.apply_stock_events([ev("r1", EventType.RECEIPT, "L0000", "A", 5, clock.now - 1)])
        led.reserve(ReserveRequest("o", "web", (HoldLine("B", 2, location="L0003"),)))
        led.fulfill("o", (LineQuantity("B", "L0003", 2),))
        if with_state_dir:
            led.checkpoint()  # drift measured against a checkpoint base plus later changes
            led.apply_stock_events([ev("r2", EventType.RECEIPT, "L0001", "A", 1, clock.now - 1)])
        assert led.reconcile().inconsistencies == []
        store = led.store
        a, b = store.skus.index("A"), store.skus.index("B")
        # a compensation applied twice, outside the ledger's rules
        store.apply_deltas(
            np.array([store.slot(a, 0), store.slot(b, 3)]), np.array([3, -1]), np.array([0, 0]), led.sequence
        )
        found = led.reconcile().inconsistencies
        assert [(i.sku, i.place, i.counter, i.expected, i.found, i.repaired) for i in found] == [
            ("A", "L0000", "on_hand", 15, 18, False),
            ("B", "L0003", "on_hand", 6, 5, False),
        ]
        assert [i.sku for i in led.reconcile(skus=frozenset({"B"})).inconsistencies] == ["B"]
        seq = led.sequence
        fixed = led.reconcile(repair=True)
        assert all(i.repaired for i in fixed.inconsistencies) and fixed.sequence == seq + 1
        assert led.reconcile().inconsistencies == []
        assert store.position(a, 0).on_hand == 15  # type: ignore[union-attr]
        if with_state_dir:
            before = observable(led, ["o"])
            led.close()
            led = opened(tmp_path, clock)
            assert observable(led, ["o"]) == before
            assert led.reconcile().inconsistencies == []
    finally:
        led.close()


def test_a_cycle_count_makes_the_counted_figure_the_expectation() -> None:
    clock = FakeClock()
    led = MemoryLedger(grid_with_group(STOCK), clock_ms=clock, sweep_interval_s=0)
    store = led.store
    a = store.skus.index("A")
    store.apply_deltas(np.array([store.slot(a, 0)]), np.array([4]), np.array([0]), led.sequence)  # drift
    t = clock.now
    led.apply_stock_events(
        [
            ev("late", EventType.RECEIPT, "L0000", "A", 2, t - 1_000),
            ev("count", EventType.CYCLE_COUNT, "L0000", "A", 7, t - 2_000),  # a late count: adds back "late"
            ev("after", EventType.SALE, "L0000", "A", 1, t - 500),
        ]
    )
    assert store.position(a, 0).on_hand == 8  # type: ignore[union-attr]
    assert led.reconcile().inconsistencies == []  # the shelf was counted: the drift before it is gone


def test_reconcile_of_on_hand_is_off_without_a_base() -> None:
    led = MemoryLedger(grid_with_group(STOCK), sweep_interval_s=0, on_hand_base=False)
    store = led.store
    store.apply_deltas(np.array([store.slot(0, 0)]), np.array([4]), np.array([0]), led.sequence)
    assert led.reconcile().inconsistencies == []


# ---------------------------------------------------------------------------------------------- replay = original
SKUS = ("A", "B", "C")
LOCS = ("L0000", "L0001", "L0002", "L0003")
PICK = st.integers(0, 3)  # which reservation: the k-th most recent one made (see _concrete)

event_st = st.tuples(
    st.integers(0, 7),  # id (a small pool: duplicates and reuse with another payload)
    st.sampled_from([EventType.RECEIPT, EventType.SALE, EventType.ADJUSTMENT, EventType.CYCLE_COUNT]),
    st.sampled_from((*LOCS, "NOWHERE")),
    st.sampled_from(SKUS),
    st.integers(1, 6),
    st.integers(-30, 0),  # minutes before now
    st.sampled_from(["", "web", "app"]),
)
line_st = st.tuples(
    st.sampled_from(SKUS), st.integers(1, 4), st.sampled_from(["loc", "G", "net"]), st.sampled_from(LOCS)
)
reserve_st = st.tuples(
    st.just("reserve"),
    st.one_of(st.none(), PICK),  # None: a new id; else an existing one again (a retry, or a reuse)
    st.lists(line_st, min_size=1, max_size=2),
    st.integers(1, 20),
)
transition_st = st.one_of(
    st.tuples(st.just("confirm"), PICK, st.sampled_from(LOCS)),
    st.tuples(st.just("extend"), PICK, st.integers(1, 20)),
    st.tuples(st.just("release"), PICK, st.booleans(), st.integers(0, 2)),
    st.tuples(st.just("fulfill"), PICK, st.integers(0, 2)),
)
op_st = st.one_of(
    reserve_st,  # listed three times: holds are what most other operations act on
    reserve_st,
    reserve_st,
    st.tuples(st.just("events"), st.lists(event_st, min_size=1, max_size=4)),
    st.tuples(st.just("safety"), st.sampled_from(SKUS), st.sampled_from(LOCS), st.one_of(st.none(), st.integers(0, 3))),
    st.tuples(st.just("fence"), st.sampled_from(SKUS), st.sampled_from(["web", "app"]), st.integers(0, 5)),
    transition_st,  # listed twice, for the same reason
    transition_st,
    st.tuples(st.just("tick"), st.integers(1, 15)),
    st.just(("expire",)),
    st.tuples(st.just("upsert"), st.booleans()),
    st.tuples(st.just("drift"), st.sampled_from(SKUS), st.integers(-2, 2)),
    st.just(("checkpoint",)),
    st.just(("restart",)),
)


def _concrete(op: tuple[Any, ...], made: list[str]) -> tuple[Any, ...]:
    """The operation with its reservation id: a pick k is the k-th most recent reservation made, a new
    reserve gets the next id; a transition before any reservation is an expiry sweep instead."""
    if op[0] == "reserve":
        rid = f"r{len(made)}" if op[1] is None or not made else made[-1 - op[1] % len(made)]
        return (op[0], rid, *op[2:])
    if op[0] in ("confirm", "extend", "release", "fulfill"):
        return (op[0], made[-1 - op[1] % len(made)], *op[2:]) if made else ("expire",)
    return op


def _apply(led: MemoryLedger, op: tuple[Any, ...], clock: FakeClock) -> object:
    """One operation; returns what the caller sees (a result, or the error's type and message)."""
    kind = op[0]
    try:
        if kind == "events":
            events = [
                ev(
                    f"e{i}",
                    t,
                    lo,
                    sku,
                    q if t is not EventType.ADJUSTMENT else q - 3 or 1,
                    clock.now + m * MIN,
                    ch if t is EventType.SALE else "",
                )
                for i, t, lo, sku, q, m, ch in op[1]
            ]
            return [(r.outcome, r.reason, r.sequence) for r in led.apply_stock_events(events).results]
        if kind == "safety":
            return led.set_safety_stock([SafetyStockEntry(op[1], op[2], op[3])])
        if kind == "fence":
            return led.set_allocations([AllocationRow(op[1], op[2], op[3])])
        if kind == "reserve":
            lines: dict[tuple[str, str], HoldLine] = {}
            for sku, q, where, lo in op[2]:
                line = (
                    HoldLine(sku, q, location=lo)
                    if where == "loc"
                    else HoldLine(sku, q, group="G")
                    if where == "G"
                    else HoldLine(sku, q)
                )
                lines.setdefault((sku, line.target), line)
            return led.reserve(ReserveRequest(op[1], "web", tuple(lines.values()), op[3] * MIN))
        if kind == "confirm":
            r = led.get_reservation(op[1])
            moves = tuple(
                LineMove(ln.sku, ln.place, ((op[2], ln.held),)) for ln in r.lines if not ln.at_location and ln.held
            )
            return led.confirm(op[1], moves[:1])
        if kind == "extend":
            return led.extend(op[1], op[2] * MIN)
        if kind == "release":
            r = led.get_reservation(op[1])
            if op[2] or not r.lines:
                return led.release(op[1])
            ln = r.lines[0]
            return led.release(op[1], (LineQuantity(ln.sku, ln.place, max(ln.held, 1)),), operation_id=f"rel{op[3]}")
        if kind == "fulfill":
            r = led.get_reservation(op[1])
            at = [ln for ln in r.lines if ln.at_location]
            if not at:
                return "no location line"
            return led.fulfill(op[1], (LineQuantity(at[0].sku, at[0].place, 1),), operation_id=f"ship{op[2]}")
        if kind == "expire":
            return led.expire_due()
        if kind == "upsert":
            return led.upsert_locations([loc("L0004", channels=("web",), enabled=op[1])])
        if kind == "drift":
            # on hand changed outside the ledger's rules (identically in both ledgers), then repaired: the
            # journal holds the repair, not the drift, and a replay must still end in the same state
            store = led.store
            s = store.skus.get(op[1])
            if s is not None and store.slot(s, 1) >= 0:
                store.apply_deltas(np.array([store.slot(s, 1)]), np.array([op[2]]), np.array([0]), led.sequence)
            report = led.reconcile(repair=True)
            return [(i.sku, i.place, i.counter, i.expected, i.found) for i in report.inconsistencies]
    except OmnirouteError as err:
        return (type(err).__name__, str(err))
    raise AssertionError(kind)


@settings(max_examples=100)
@given(ops=st.lists(op_st, min_size=1, max_size=40))
def test_checkpoint_and_journal_replay_equal_a_ledger_that_never_stopped(ops: list[tuple[Any, ...]]) -> None:
    clock = FakeClock()
    plain = MemoryLedger(grid_with_group(STOCK), clock_ms=clock, sweep_interval_s=0)
    made: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        kept = fresh(directory, clock)
        try:
            for op in ops:
                if op[0] == "tick":
                    clock.now += op[1] * MIN
                    continue
                if op[0] == "checkpoint":
                    kept.checkpoint()
                    continue
                if op[0] == "restart":
                    kept.close()
                    kept = opened(directory, clock)
                    assert exact(kept) == exact(plain)
                    continue
                op = _concrete(op, made)
                seen = _apply(kept, op, clock)
                assert seen == _apply(plain, op, clock)
                if op[0] == "reserve" and op[1] not in made and not isinstance(seen, tuple):
                    made.append(op[1])
            kept.close()
            kept = opened(directory, clock)
            assert exact(kept) == exact(plain)
            assert observable(kept, made) == observable(plain, made)
            assert kept.reconcile().inconsistencies == plain.reconcile().inconsistencies
        finally:
            kept.close()
            plain.close()
