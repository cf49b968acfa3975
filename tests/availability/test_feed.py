"""The local inventory feed: figures on the sample computed by hand, and agreement with the ATP API."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from availability.errors import InvalidArgument
from availability.feed import (
    FEED_COLUMNS,
    feed_from_snapshot_dir,
    iter_chunks,
    local_inventory_feed,
    pickup_sla,
    write_table,
)
from availability.ingest import load_snapshot
from availability.ledger import MemoryLedger
from availability.locations import Scope
from availability.model import AtpConfig, EventType, LocationType, Method, StockEvent, utc_now_ms
from availability.store import StockStore
from omniroute.networkgen import generate_network

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot"

# The web feed of examples/snapshot, worked out from its files. Stores keep a default safety stock of 1
# (AtpConfig.default_safety), dark stores 0; "limited" is 1-2 units (low_stock_location = 2).
#   NYC-01 (pickup, 2 h -> same_day)   TEE-WHT-M 12-1 = 11; TEE-BLK-M 1-1 = 0 (its inbound is not on hand);
#                                      JEANS-32 4-1 = 3; SOCKS-3PK 25-1 = 24; UMBRELLA 8-1 = 7;
#                                      CAP-RED 2-0 (explicit 0) = 2, but the whole network has 2 free and
#                                      the marketplace ring-fences 2, so web gets 0
#   BKN-01 (pickup, 24 h -> next_day)  TEE-WHT-M 3-1 = 2; TEE-BLK-M 5-2 (explicit) = 3; SOCKS-3PK 17;
#                                      MUG-12OZ 3-1 = 2; UMBRELLA 7
#   JC-01 (ship only: not_supported)   TEE-WHT-M 0-1 -> 0; JEANS-32 6; SOCKS-3PK 8; UMBRELLA 7
#   QNS-DK (dark store, same day only) TEE-WHT-M 6; SOCKS-3PK 30; BOTTLE-1L 10
# TEE-WHT-M's marketplace ring-fence (30 - 10 consumed = 20) leaves web 239 - 20 = 219: no store is capped.
WEB = [
    ("NYC-01", "TEE-WHT-M", 11, "in_stock", "buy", "same_day"),
    ("NYC-01", "TEE-BLK-M", 0, "out_of_stock", "buy", "same_day"),
    ("NYC-01", "JEANS-32", 3, "in_stock", "buy", "same_day"),
    ("NYC-01", "SOCKS-3PK", 24, "in_stock", "buy", "same_day"),
    ("NYC-01", "CAP-RED", 0, "out_of_stock", "buy", "same_day"),
    ("NYC-01", "UMBRELLA", 7, "in_stock", "buy", "same_day"),
    ("BKN-01", "TEE-WHT-M", 2, "limited_availability", "buy", "next_day"),
    ("BKN-01", "TEE-BLK-M", 3, "in_stock", "buy", "next_day"),
    ("BKN-01", "SOCKS-3PK", 17, "in_stock", "buy", "next_day"),
    ("BKN-01", "MUG-12OZ", 2, "limited_availability", "buy", "next_day"),
    ("BKN-01", "UMBRELLA", 7, "in_stock", "buy", "next_day"),
    ("JC-01", "TEE-WHT-M", 0, "out_of_stock", "not_supported", None),
    ("JC-01", "JEANS-32", 6, "in_stock", "not_supported", None),
    ("JC-01", "SOCKS-3PK", 8, "in_stock", "not_supported", None),
    ("JC-01", "UMBRELLA", 7, "in_stock", "not_supported", None),
    ("QNS-DK", "TEE-WHT-M", 6, "in_stock", "not_supported", None),
    ("QNS-DK", "SOCKS-3PK", 30, "in_stock", "not_supported", None),
    ("QNS-DK", "BOTTLE-1L", 10, "in_stock", "not_supported", None),
]


@pytest.fixture
def store() -> StockStore:
    return StockStore.from_snapshot(load_snapshot(SAMPLE))


def rows(df: pl.DataFrame) -> list[tuple[object, ...]]:
    return list(df.iter_rows())


def test_sample_web_feed_matches_hand_computed_atp(store: StockStore) -> None:
    df = local_inventory_feed(store, channel="web")
    assert tuple(df.columns) == FEED_COLUMNS
    assert df.schema["quantity"] == pl.Int64
    assert rows(df) == WEB  # DCs are not in the feed; stores in network order, SKUs in catalogue order


def test_channel_and_group_filter(store: StockStore) -> None:
    df = local_inventory_feed(store, channel="store_pos", locations=["nyc-stores"])
    assert df["store_code"].unique(maintain_order=True).to_list() == ["NYC-01", "BKN-01", "QNS-DK"]
    # the dark store does not serve store_pos: its positions are listed at zero
    dark = df.filter(pl.col("store_code") == "QNS-DK")
    assert dark["quantity"].to_list() == [0, 0, 0]
    assert set(dark["availability"]) == {"out_of_stock"}
    # NYC-01 and BKN-01 serve store_pos and answer as for web
    web = [r for r in WEB if r[0] in ("NYC-01", "BKN-01")]
    assert rows(df.filter(pl.col("store_code") != "QNS-DK")) == web


def test_locations_leave_out_dcs_and_reject_unknown_ids(store: StockStore) -> None:
    df = local_inventory_feed(store, channel="web", locations=["DC-EAST", "JC-01"])
    assert set(df["store_code"]) == {"JC-01"}
    with pytest.raises(InvalidArgument, match="unknown location"):
        local_inventory_feed(store, channel="web", locations=["NOPE-01"])
    with pytest.raises(InvalidArgument, match="unknown channel"):
        local_inventory_feed(store, channel="tiktok")


def test_disabled_stores_are_left_out() -> None:
    snap = load_snapshot(SAMPLE)
    snap.locations = [dataclasses.replace(loc, enabled=loc.id != "BKN-01") for loc in snap.locations]
    df = local_inventory_feed(StockStore.from_snapshot(snap), channel="web")
    assert "BKN-01" not in set(df["store_code"])
    assert rows(df) == [r for r in WEB if r[0] != "BKN-01"]


def test_thresholds_come_from_the_atp_config() -> None:
    df = feed_from_snapshot_dir(SAMPLE, "web", ["NYC-01"], config=AtpConfig(low_stock_location=5))
    assert dict(zip(df["id"], df["availability"], strict=True)) == {
        "TEE-WHT-M": "in_stock",
        "TEE-BLK-M": "out_of_stock",
        "JEANS-32": "limited_availability",
        "SOCKS-3PK": "in_stock",
        "CAP-RED": "out_of_stock",
        "UMBRELLA": "in_stock",
    }


def test_feed_follows_stock_events(store: StockStore) -> None:
    ledger = MemoryLedger(store)
    sale = StockEvent("pos-1", EventType.SALE, "NYC-01", "SOCKS-3PK", 20, utc_now_ms())
    ledger.apply_stock_events([sale])
    df = local_inventory_feed(store, channel="web", locations=["NYC-01"])
    socks = df.filter(pl.col("id") == "SOCKS-3PK").row(0)
    assert socks[2:4] == (4, "in_stock")  # 25 - 20 - safety 1


def test_feed_agrees_with_the_atp_api_on_the_demo() -> None:
    store = StockStore.from_snapshot(generate_network("demo"))
    network = store.network
    df = local_inventory_feed(store, channel="app")
    stores = [loc for loc in network.locations if loc.type in (LocationType.STORE, LocationType.DARK_STORE)]
    assert set(df["store_code"]) == {loc.id for loc in stores if loc.enabled}
    assert df["quantity"].min() >= 0  # type: ignore[operator]
    chan = network.channel_index("app")
    sample = df.sample(400, seed=1) if df.height > 400 else df
    for code, sku, qty, _, method, _ in sample.iter_rows():
        loc = network.location(network.index.index(code))
        how = Method.PICKUP if Method.PICKUP in loc.methods else Method.SAME_DAY
        assert method == ("buy" if how is Method.PICKUP else "not_supported")
        expected = store.atp(store.skus.index(sku), chan, how, Scope.of_locations([code]))
        assert qty == expected, (code, sku)
    # every position at an enabled store is listed exactly once
    positions = sum(
        int(
            np.isin(
                store.sku_locations(s), [network.index.index(loc.id) for loc in stores if loc.enabled]
            ).sum()
        )
        for s in range(len(store.skus))
    )
    assert df.height == positions
    assert df.select(pl.struct("store_code", "id").is_unique().all()).item()


@pytest.mark.parametrize(
    ("hours", "sla"),
    [
        (0, "same_day"),
        (23, "same_day"),
        (24, "next_day"),
        (25, "2-day"),
        (48, "2-day"),
        (168, "7-day"),
        (169, "multi-week"),
    ],
)
def test_pickup_sla_from_processing_hours(hours: int, sla: str) -> None:
    assert pickup_sla(hours) == sla


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_table_by_suffix(tmp_path: Path, store: StockStore, suffix: str) -> None:
    df = local_inventory_feed(store, channel="web")
    path = tmp_path / f"feed{suffix}"
    write_table(df, path)
    back = pl.read_csv(path) if suffix == ".csv" else pl.read_parquet(path)
    assert rows(back) == WEB


def test_write_table_rejects_other_suffixes(tmp_path: Path, store: StockStore) -> None:
    with pytest.raises(InvalidArgument, match=r"\.csv or \.parquet"):
        write_table(local_inventory_feed(store, channel="web"), tmp_path / "feed.xlsx")
    assert not (tmp_path / "feed.xlsx").exists()


def test_iter_chunks(store: StockStore) -> None:
    df = local_inventory_feed(store, channel="web")
    chunks = list(iter_chunks(df, 5))
    assert [c.height for c in chunks] == [5, 5, 5, 3]
    assert pl.concat(chunks).equals(df)
    assert list(iter_chunks(df.clear(), 5)) == []
    for bad in (0, -1, True):
        with pytest.raises(InvalidArgument):
            list(iter_chunks(df, bad))


def test_no_stores_gives_an_empty_feed_with_the_columns(store: StockStore) -> None:
    df = local_inventory_feed(store, channel="marketplace")  # only the DC serves the marketplace
    assert df.height == 18 and set(df["quantity"]) == {0}
    empty = local_inventory_feed(store, channel="web", locations=["DC-EAST"])
    assert empty.height == 0 and tuple(empty.columns) == FEED_COLUMNS
