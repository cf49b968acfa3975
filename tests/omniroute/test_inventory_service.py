"""InventoryService end to end: stock events with per-event outcomes, snapshots, positions, configuration."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2

from availability.ingest import write_snapshot
from omniroute.client import (
    Allocation,
    Client,
    LocationSpec,
    Outcome,
    SafetyStock,
    ServiceError,
    StockEvent,
)
from omniroute.v1 import inventory_pb2 as ipb

from .conftest import Stubs
from .fixtures import inbound_date, now_ms, state_of, tiny_network


def _on_hand(client: Client, sku: str, location: str) -> int:
    found = client.get_positions([sku], locations=[location]).positions
    return found[0].on_hand if found else 0


def test_apply_stock_events_outcomes_notes_and_counts(client: Client) -> None:
    t = now_ms()
    batch = client.apply_stock_events(
        [
            StockEvent("rcv-1", "receipt", "S-CAM", "SKU-3", 5, t),
            StockEvent("sale-1", "sale", "S-CAM", "SKU-3", 2, t + 1, channel="pos"),
            StockEvent("rcv-1", "receipt", "S-CAM", "SKU-3", 5, t),  # retried: duplicate
            StockEvent("rcv-1", "receipt", "S-CAM", "SKU-3", 6, t),  # same id, other payload
            StockEvent("bad-loc", "receipt", "NOWHERE", "SKU-3", 1, t),
            StockEvent("adj-1", "adjustment", "S-CAM", "SKU-3", -1, t + 2),
            StockEvent("dmg-1", "return_damaged", "S-CAM", "SKU-3", 4, t + 3),
        ]
    )
    assert batch.outcomes == (
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.APPLIED,
        Outcome.APPLIED,
    )
    assert (batch.applied, batch.duplicates, batch.stale, batch.rejected) == (4, 1, 0, 2)
    notes = dict(batch.notes)
    assert set(notes) == {2, 3, 4}
    assert "already" in notes[2]
    assert "event_id" in notes[3] and "different payload" in notes[3]
    assert "location" in notes[4] and "unknown location" in notes[4]
    assert _on_hand(client, "SKU-3", "S-CAM") == 20 + 5 - 2 - 1  # damaged returns are not sellable
    assert client.get_availability(["SKU-3"], channel="web", method="pickup", min_sequence=batch.sequence)[
        "SKU-3"
    ] == (22 - 1)


def test_a_count_makes_earlier_deltas_stale(client: Client) -> None:
    t = now_ms()
    batch = client.apply_stock_events(
        [
            StockEvent("count-1", "cycle_count", "DC-EAST", "SKU-5", 50, t),
            StockEvent("late-sale", "sale", "DC-EAST", "SKU-5", 3, t - 60_000),
        ]
    )
    assert batch.outcomes == (Outcome.APPLIED, Outcome.STALE)
    assert batch.stale == 1 and "before the count" in batch.notes[0][1]
    assert _on_hand(client, "SKU-5", "DC-EAST") == 50


def test_a_receipt_of_a_new_product_creates_it(client: Client) -> None:
    batch = client.apply_stock_events([StockEvent("new-1", "receipt", "S-NYC", "SKU-NEW", 12, now_ms())])
    assert batch.applied == 1
    assert client.get_availability(["SKU-NEW"], channel="web", method="pickup")["SKU-NEW"] == 11
    assert client.server_info().skus == 6


def test_malformed_events_are_rejected_one_by_one_and_change_nothing(client: Client, stubs: Stubs) -> None:
    before = state_of(client)
    t = timestamp_pb2.Timestamp()
    t.FromMilliseconds(now_ms())
    events = [
        ipb.StockEvent(
            event_id="bad id", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=1, occurred_at=t
        ),
        ipb.StockEvent(
            event_id="e2", type=ipb.RECEIPT, location="S-BOS", sku="SKU 1", quantity=1, occurred_at=t
        ),
        ipb.StockEvent(
            event_id="e3", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=-4, occurred_at=t
        ),
        ipb.StockEvent(
            event_id="e4", type=ipb.SALE, location="S-BOS", sku="SKU-1", quantity=10**12, occurred_at=t
        ),
        ipb.StockEvent(
            event_id="e5", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=0, occurred_at=t
        ),
        ipb.StockEvent(
            event_id="e6",
            type=ipb.STOCK_EVENT_TYPE_UNSPECIFIED,
            location="S-BOS",
            sku="SKU-1",
            quantity=1,
            occurred_at=t,
        ),
        ipb.StockEvent(event_id="e7", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=1),  # no time
        ipb.StockEvent(
            event_id="e8",
            type=ipb.SALE,
            location="S-BOS",
            sku="SKU-1",
            quantity=1,
            occurred_at=t,
            channel="nope",
        ),
        ipb.StockEvent(event_id="e9", type=99, location="S-BOS", sku="SKU-1", quantity=1, occurred_at=t),  # type: ignore[arg-type]
        ipb.StockEvent(
            event_id="e10",
            type=ipb.RECEIPT,
            location="S-BOS",
            sku="SKU-1",
            quantity=1,
            occurred_at=timestamp_pb2.Timestamp(seconds=t.seconds, nanos=-1),
        ),
    ]
    resp = stubs.inventory.ApplyStockEvents(ipb.ApplyStockEventsRequest(events=events))
    assert list(resp.outcome) == [ipb.REJECTED] * len(events)
    assert resp.rejected == len(events) and resp.applied == 0
    reasons = {n.index: n.reason for n in resp.notes}
    assert reasons[0].startswith("event_id=")
    assert reasons[1].startswith("sku=")
    assert reasons[2].startswith("quantity=") and "negative" in reasons[2]
    assert reasons[3].startswith("quantity=") and "at most" in reasons[3]
    assert reasons[4].startswith("quantity=") and "zero" in reasons[4]
    assert "unknown stock event type" in reasons[5] and "unknown stock event type" in reasons[8]
    assert reasons[6].startswith("occurred_at=")
    assert reasons[7].startswith("channel=")
    assert reasons[9] == "occurred_at.nanos=-1: must be in [0, 999999999]"
    assert state_of(client) == before


@pytest.mark.parametrize("count", [0, 50_001])
def test_empty_and_oversized_batches_are_invalid_and_change_nothing(
    client: Client, stubs: Stubs, count: int
) -> None:
    before = state_of(client)
    t = timestamp_pb2.Timestamp()
    t.FromMilliseconds(now_ms())
    events = [
        ipb.StockEvent(
            event_id=f"e{i}", type=ipb.RECEIPT, location="S-BOS", sku="SKU-1", quantity=1, occurred_at=t
        )
        for i in range(count)
    ]
    with pytest.raises(grpc.RpcError) as err:
        stubs.inventory.ApplyStockEvents(ipb.ApplyStockEventsRequest(events=events))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith("events=")
    assert state_of(client) == before


def test_get_positions_shows_raw_counters_inbound_and_ring_fences(client: Client) -> None:
    got = client.get_positions(["SKU-1", "SKU-4", "NOPE"], locations=["DC-EAST", "boston"])
    by_key = {(p.sku, p.location): p for p in got.positions}
    assert set(by_key) == {
        ("SKU-1", "DC-EAST"),
        ("SKU-1", "S-BOS"),
        ("SKU-1", "S-CAM"),
        ("SKU-1", "DK-SOM"),
        ("SKU-4", "DC-EAST"),
    }
    s_bos = by_key[("SKU-1", "S-BOS")]
    assert (s_bos.on_hand, s_bos.reserved, s_bos.safety_stock, s_bos.safety_stock_explicit) == (
        5,
        0,
        1,
        False,
    )
    (inbound,) = by_key[("SKU-4", "DC-EAST")].inbound
    assert (inbound.expected, inbound.quantity, inbound.type, inbound.promisable) == (
        inbound_date(),
        100,
        "in_transit",
        95,
    )
    assert got.allocations == (Allocation("SKU-1", "marketplace", 30, 0),)
    assert got.unknown_skus == ("NOPE",)
    everywhere = client.get_positions(["SKU-1"])
    assert len(everywhere.positions) == 6


def test_set_safety_stock_then_back_to_default(client: Client) -> None:
    seq = client.set_safety_stock([SafetyStock("SKU-1", "S-BOS", 3)])
    p = client.get_positions(["SKU-1"], locations=["S-BOS"]).positions[0]
    assert (p.safety_stock, p.safety_stock_explicit) == (3, True)
    assert (
        client.get_availability(["SKU-1"], channel="web", method="pickup", group="boston", min_sequence=seq)[
            "SKU-1"
        ]
        == 2 + 1
    )
    client.set_safety_stock([SafetyStock("SKU-1", "S-BOS", None)])
    p = client.get_positions(["SKU-1"], locations=["S-BOS"]).positions[0]
    assert (p.safety_stock, p.safety_stock_explicit) == (1, False)


def test_set_allocations_ring_fences_stock_for_a_channel(client: Client) -> None:
    seq = client.set_allocations(
        [Allocation("SKU-1", "marketplace", 0), Allocation("SKU-5", "marketplace", 5)]
    )
    assert seq > 0
    assert client.get_availability(["SKU-1"], channel="web")["SKU-1"] == 104  # no ring-fence left
    assert client.get_availability(["SKU-5"], channel="web")["SKU-5"] == 2
    assert client.get_positions(["SKU-5"]).allocations == (Allocation("SKU-5", "marketplace", 5, 0),)


def test_upsert_locations_adds_and_replaces(client: Client) -> None:
    seq = client.upsert_locations(
        [
            LocationSpec(
                "S-PVD",
                "store",
                41.824,
                -71.4128,
                name="Providence",
                methods=("pickup",),
                channels=("web", "pos"),
            ),
            LocationSpec(
                "S-OFF", "store", 42.3601, -71.0589, name="Reopened", methods=("pickup",), channels=("web",)
            ),
        ]
    )
    info = client.server_info()
    assert info.locations == 7 and info.sequence == seq
    # the reopened store's 50 units (minus the default safety stock of 1) now count
    assert client.get_availability(["SKU-1"], channel="web", method="pickup")["SKU-1"] == 14 + 49
    client.apply_stock_events([StockEvent("pvd-1", "receipt", "S-PVD", "SKU-3", 4, now_ms())])
    assert (
        client.get_availability(["SKU-3"], channel="web", method="pickup", locations=["S-PVD"])["SKU-3"] == 3
    )


def test_load_snapshot_swaps_the_whole_picture(client: Client, tmp_path: Path) -> None:
    snap = tiny_network()
    snap.stock_on_hand = snap.stock_on_hand * 2
    write_snapshot(snap, tmp_path / "snap", format="parquet")
    before = client.server_info().sequence
    loaded = client.load_snapshot(str(tmp_path / "snap"))
    assert loaded.sequence > before
    assert (loaded.locations, loaded.skus, loaded.positions) == (6, 5, 11)
    assert loaded.seconds >= 0
    assert client.get_availability(["SKU-5"], channel="web")["SKU-5"] == 14


def test_load_snapshot_with_bad_rows_names_them_and_loads_nothing(client: Client, tmp_path: Path) -> None:
    write_snapshot(tiny_network(), tmp_path / "snap", format="csv")
    stock = tmp_path / "snap" / "stock.csv"
    lines = stock.read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split(",")[2], "-7", 1)
    stock.write_text("\n".join(lines) + "\n")
    before = state_of(client)
    with pytest.raises(ServiceError) as err:
        client.load_snapshot(str(tmp_path / "snap"))
    assert err.value.status is grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in err.value.field_violations]
    assert "stock.csv[2].on_hand" in fields
    assert "stock.csv row 2" in err.value.message
    assert state_of(client) == before
