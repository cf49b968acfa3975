"""AvailabilityService end to end: the real server on a free port, called through the stubs and the Client.

Expected figures are worked out by hand from the tiny network (fixtures.tiny_network): stores keep a
default safety stock of 1, and 30 units of SKU-1 are ring-fenced for the marketplace, which caps what
the other channels can promise from the network at 122 - 30 = 92.
"""

from __future__ import annotations

import threading
import time

import grpc
import polars as pl
import pytest

from availability.feed import local_inventory_feed
from omniroute.client import Client, Method, ServiceError, Status, StockEvent
from omniroute.v1 import availability_pb2 as apb
from omniroute.v1 import common_pb2 as cpb

from .conftest import Stubs
from .fixtures import BOSTON, ServerThread, inbound_date, now_ms


def test_network_totals_are_columnar_with_status_and_unknown_flag(stubs: Stubs) -> None:
    resp = stubs.availability.GetAvailability(
        apb.GetAvailabilityRequest(skus=["SKU-1", "SKU-2", "SKU-5", "NOPE"], channel="web")
    )
    assert list(resp.quantity) == [92, 0, 7, 0]
    assert list(resp.status) == [cpb.IN_STOCK, cpb.OUT_OF_STOCK, cpb.LOW_STOCK, cpb.OUT_OF_STOCK]
    assert list(resp.unknown) == [False, False, False, True]
    assert not resp.stale
    assert len(resp.locations.location) == 0


def test_client_get_availability_scopes(client: Client) -> None:
    assert client.get_availability(["SKU-1"], channel="marketplace")["SKU-1"] == 100
    # pickup: S-BOS 4 + S-CAM 1 + S-NYC 9; the disabled store's 49 never count
    assert client.get_availability(["SKU-1"], channel="web", method="pickup")["SKU-1"] == 14
    assert (
        client.get_availability(["SKU-1"], channel="web", method=Method.PICKUP, group="boston")["SKU-1"] == 5
    )
    assert (
        client.get_availability(["SKU-1"], channel="web", method="pickup", locations=["S-NYC", "S-CAM"])[
            "SKU-1"
        ]
        == 10
    )
    near = client.get_availability(
        ["SKU-1", "SKU-3"], channel="web", method="pickup", near=BOSTON, radius_km=10
    )
    assert near.quantity == (5, 19)
    assert near.status == (Status.LOW_STOCK, Status.IN_STOCK)


def test_as_of_counts_inbound_due_by_the_date(client: Client) -> None:
    assert client.get_availability(["SKU-4"], channel="web")["SKU-4"] == 0
    # 100 units in transit, 95% of them promisable
    assert client.get_availability(["SKU-4"], channel="web", as_of=inbound_date())["SKU-4"] == 95


def test_per_location_rows(client: Client) -> None:
    a = client.get_availability(["SKU-1", "SKU-2"], channel="web", per_location=True)
    rows = {(r.sku, r.location): (r.quantity, r.status) for r in a.locations}
    assert rows == {
        ("SKU-1", "DC-EAST"): (92, Status.IN_STOCK),  # capped by the channel's network headroom
        ("SKU-1", "S-BOS"): (4, Status.IN_STOCK),
        ("SKU-2", "DC-EAST"): (0, Status.OUT_OF_STOCK),
        ("SKU-2", "S-BOS"): (0, Status.OUT_OF_STOCK),
    }


def test_read_your_writes_with_min_sequence(client: Client) -> None:
    batch = client.apply_stock_events([StockEvent("e1", "sale", "DC-EAST", "SKU-5", 2, now_ms())])
    a = client.get_availability(["SKU-5"], channel="web", min_sequence=batch.sequence)
    assert a.sequence >= batch.sequence
    assert a["SKU-5"] == 5


def test_min_sequence_not_reached_is_unavailable_after_a_second(client: Client) -> None:
    ahead = client.server_info().sequence + 1_000
    started = time.monotonic()
    with pytest.raises(ServiceError) as err:
        client.get_availability(["SKU-1"], channel="web", min_sequence=ahead)
    assert err.value.status is grpc.StatusCode.UNAVAILABLE
    assert "min_sequence" in err.value.message
    assert err.value.retry_after == 1.0
    assert 0.9 <= time.monotonic() - started < 5


def test_min_sequence_wait_is_bounded_by_the_deadline(client: Client) -> None:
    ahead = client.server_info().sequence + 1_000
    started = time.monotonic()
    with pytest.raises(ServiceError) as err:
        client.get_availability(["SKU-1"], channel="web", min_sequence=ahead, timeout=0.2)
    assert err.value.status is grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 0.9


def test_min_sequence_wakes_up_when_the_write_lands(server: ServerThread, client: Client) -> None:
    target = client.server_info().sequence + 1
    timer = threading.Timer(
        0.2,
        lambda: client.apply_stock_events([StockEvent("late", "receipt", "DC-EAST", "SKU-5", 1, now_ms())]),
    )
    timer.start()
    try:
        a = client.get_availability(["SKU-5"], channel="web", min_sequence=target, timeout=5)
    finally:
        timer.join()
    assert a.sequence >= target
    assert a["SKU-5"] == 8


def test_find_nearby_stores_nearest_first_with_per_line_figures(client: Client) -> None:
    found = client.find_nearby_stores({"SKU-1": 1, "SKU-3": 1}, near=BOSTON, radius_km=10, channel="web")
    assert [s.location for s in found.stores] == ["S-BOS", "S-CAM", "DK-SOM"]
    distances = [s.distance_km for s in found.stores]
    assert distances == sorted(distances) and distances[0] < 1
    by_id = {s.location: s for s in found.stores}
    assert by_id["S-BOS"].available == (4, 0) and not by_id["S-BOS"].whole_cart
    assert by_id["S-CAM"].available == (1, 19) and by_id["S-CAM"].whole_cart
    assert by_id["S-CAM"].methods == (Method.PICKUP,)
    assert by_id["DK-SOM"].methods == (Method.CURBSIDE,)  # same day is not an accepted method here
    assert by_id["DK-SOM"].available == (8, 0)

    whole = client.find_nearby_stores(
        [("SKU-1", 1), ("SKU-3", 1)], near=BOSTON, radius_km=10, channel="web", whole_cart_only=True
    )
    assert [s.location for s in whole.stores] == ["S-CAM"]
    first = client.find_nearby_stores({"SKU-1": 1}, near=BOSTON, radius_km=500, channel="web", limit=1)
    assert [s.location for s in first.stores] == ["S-BOS"]
    curbside = client.find_nearby_stores(
        {"SKU-1": 1}, near=BOSTON, radius_km=500, channel="web", methods=["curbside"]
    )
    assert [s.location for s in curbside.stores] == ["S-BOS", "DK-SOM", "S-NYC"]


def test_nearby_cart_demand_adds_up_repeated_skus(client: Client) -> None:
    found = client.find_nearby_stores([("SKU-1", 3), ("SKU-1", 3)], near=BOSTON, radius_km=10, channel="web")
    s_bos = next(s for s in found.stores if s.location == "S-BOS")
    assert s_bos.available == (4, 4) and not s_bos.whole_cart  # 6 wanted, 4 there


def test_watch_streams_a_change_after_a_sale(client: Client) -> None:
    with client.watch_availability(
        ["SKU-1", "SKU-2"], channel="web", locations=["S-BOS"], include_initial=True, timeout=10
    ) as watch:
        initial = [next(watch) for _ in range(4)]
        assert {(c.sku, c.location, c.quantity) for c in initial} == {
            ("SKU-1", "", 92),
            ("SKU-2", "", 0),
            ("SKU-1", "S-BOS", 4),
            ("SKU-2", "S-BOS", 0),
        }
        sale = client.apply_stock_events([StockEvent("pos-1", "sale", "S-BOS", "SKU-1", 3, now_ms(), "pos")])
        assert sale.applied == 1
        changes = [next(watch), next(watch)]
    by_key = {(c.sku, c.location): c for c in changes}
    total = by_key[("SKU-1", "")]
    assert (total.previous_quantity, total.quantity) == (92, 89)
    local = by_key[("SKU-1", "S-BOS")]
    assert (local.previous_quantity, local.quantity) == (4, 1)
    assert (local.previous_status, local.status) == (Status.IN_STOCK, Status.LOW_STOCK)
    assert local.sequence >= sale.sequence


def test_watch_status_changes_only_skips_quantity_moves(client: Client) -> None:
    with client.watch_availability(
        ["SKU-5"], channel="web", status_changes_only=True, include_initial=True, timeout=10
    ) as watch:
        assert next(watch).status is Status.LOW_STOCK
        t = now_ms()
        client.apply_stock_events(
            [StockEvent("r1", "receipt", "DC-EAST", "SKU-5", 1, t)]
        )  # 7 -> 8, still low
        client.apply_stock_events([StockEvent("s1", "sale", "DC-EAST", "SKU-5", 8, t + 1)])  # sold out
        change = next(watch)
    assert (change.previous_quantity, change.quantity) == (8, 0)
    assert (change.previous_status, change.status) == (Status.LOW_STOCK, Status.OUT_OF_STOCK)


def test_watch_unsubscribes_when_the_client_cancels(server: ServerThread, client: Client) -> None:
    inner = server.ledger
    before = len(inner._listeners)  # type: ignore[attr-defined]
    watch = client.watch_availability(["SKU-1"], channel="web", include_initial=True, timeout=10)
    next(watch)
    assert len(inner._listeners) == before + 1  # type: ignore[attr-defined]
    watch.cancel()
    deadline = time.monotonic() + 5
    while len(inner._listeners) != before and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert len(inner._listeners) == before  # type: ignore[attr-defined]
    assert list(watch) == []  # a cancelled watch simply ends


def test_export_local_inventory_streams_the_engines_feed_in_chunks(
    server: ServerThread, client: Client
) -> None:
    expected = local_inventory_feed(server.ledger.store, channel="web")
    chunks = list(client.export_local_inventory(channel="web", chunk_rows=2))
    assert [len(c) for c in chunks] == [2] * (expected.height // 2) + (
        [expected.height % 2] if expected.height % 2 else []
    )
    columns: dict[str, list[object]] = {}
    for c in chunks:
        for name, values in c.columns().items():
            columns.setdefault(name, []).extend(values)
    got = pl.DataFrame(columns).with_columns(pl.col("pickup_sla").replace("", None))
    assert got.equals(expected)
    assert set(got["store_code"]) == {"S-BOS", "S-CAM", "DK-SOM", "S-NYC"}  # enabled stores only
    assert sum(len(c) for c in client.export_local_inventory(locations=["boston"])) == 5


def test_large_answers_match_the_engine_column_for_column(server: ServerThread, stubs: Stubs) -> None:
    from availability.atp import AvailabilityQuery, get_availability

    # 700 SKUs: the packed status/unknown columns need a two-byte length on the wire
    skus = [f"SKU-{i % 6}" if i % 3 else f"X-{i}" for i in range(700)]
    resp = stubs.availability.GetAvailability(apb.GetAvailabilityRequest(skus=skus, channel="web"))
    expected = get_availability(server.ledger.store, AvailabilityQuery(skus=skus, channel="web"))
    assert list(resp.quantity) == expected.quantity.tolist()
    assert list(resp.status) == (expected.status + 1).tolist()
    assert list(resp.unknown) == expected.unknown.tolist()
    assert sum(resp.unknown) == 234  # every third id is an unknown X-*
