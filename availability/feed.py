"""Exported feeds: the local inventory feed (Google Merchant Center local inventory fields) per store.

One row per (store, SKU) position at enabled stores and dark stores:

    store_code     the location id
    id             the SKU id (the Merchant Center offer id)
    quantity       ATP of the SKU at that store for the channel (integer, never negative)
    availability   in_stock | limited_availability | out_of_stock, from AtpConfig.low_stock_location
    pickup_method  buy where the store offers pickup, not_supported otherwise
    pickup_sla     same_day | next_day | N-day (from processing_hours) where pickup is offered, else null

A location's ATP does not depend on the method it is asked for, only on whether the location offers
it; so each store is read through the method it offers (pickup first, then ship, same day, curbside),
and a store that offers no method, or does not serve the channel, shows its positions at zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from .atp import statuses
from .errors import InvalidArgument
from .ingest import load_snapshot
from .model import AtpConfig, LocationType, Method, StockStatus
from .store import StockStore

__all__ = [
    "FEED_COLUMNS",
    "feed_from_snapshot_dir",
    "iter_chunks",
    "local_inventory_feed",
    "pickup_sla",
    "write_table",
]

I64 = npt.NDArray[np.int64]

FEED_COLUMNS = ("store_code", "id", "quantity", "availability", "pickup_method", "pickup_sla")
_SCHEMA = {
    "store_code": pl.String,
    "id": pl.String,
    "quantity": pl.Int64,
    "availability": pl.String,
    "pickup_method": pl.String,
    "pickup_sla": pl.String,
}
_STATUS_TEXT = {
    StockStatus.OUT_OF_STOCK: "out_of_stock",
    StockStatus.LOW_STOCK: "limited_availability",
    StockStatus.IN_STOCK: "in_stock",
}
_STORE_LIKE = (LocationType.STORE, LocationType.DARK_STORE)
_METHOD_ORDER = (Method.PICKUP, Method.SHIP, Method.SAME_DAY, Method.CURBSIDE)


def pickup_sla(processing_hours: int) -> str:
    """Merchant Center pickup_sla for a store that needs `processing_hours` to ready an order."""
    if processing_hours < 24:
        return "same_day"
    days = -(-processing_hours // 24)
    if days == 1:
        return "next_day"
    return f"{days}-day" if days <= 7 else "multi-week"


def _targets(store: StockStore, locations: Sequence[str] | None) -> npt.NDArray[np.bool_]:
    network = store.network
    store_like = np.isin(network.ltype, np.array([int(t) for t in _STORE_LIKE], dtype=np.int8))
    target: npt.NDArray[np.bool_] = store_like & (network.enabled == 1)
    if locations is not None:
        # ids or groups; non-stores in a group (a DC) and closed stores are left out, unknown ids are errors
        chosen = np.zeros(len(network), dtype=np.bool_)
        chosen[network.resolve_locations("locations", list(locations))] = True
        target &= chosen
    return target


def local_inventory_feed(
    store: StockStore,
    *,
    channel: str,
    locations: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The feed for one channel over every enabled store and dark store (or those among `locations`,
    which may name groups), sorted by store then SKU."""
    network = store.network
    chan = network.channel_index(channel)
    low = network.config.low_stock_location
    target = _targets(store, locations)
    n_loc = len(network)
    n_sku = len(store.skus)

    # The method each target store is read through. An eligible store (it serves the channel and offers
    # that method) gets a row from atp_by_location for every position it holds; the others are listed
    # at zero from their positions.
    methods = network.methods
    read_as = np.full(n_loc, -1, dtype=np.int8)
    for m in reversed(_METHOD_ORDER):
        read_as[(methods & np.uint8(m.bit)) != 0] = int(m)
    read_as[~target] = -1
    serves = ((network.channel_bits >> np.uint64(chan)) & np.uint64(1)) == 1
    eligible = target & serves & (read_as >= 0)
    in_use = [m for m in _METHOD_ORDER if bool((eligible & (read_as == int(m))).any())]
    zero_locs = target & ~eligible

    got_sku: list[I64] = []
    got_loc: list[npt.NDArray[np.int32]] = []
    got_qty: list[I64] = []
    for s in range(n_sku):  # per SKU and not per position: a few kernel calls per SKU
        for m in in_use:
            li, q = store.atp_by_location(s, chan, m)
            keep = read_as[li] == int(m)  # a store answers only through the method it is read as
            if keep.any():
                got_loc.append(li[keep])
                got_qty.append(q[keep])
                got_sku.append(np.full(int(keep.sum()), s, dtype=np.int64))
        if zero_locs.any():
            li = store.sku_locations(s)
            li = li[zero_locs[li]]
            if li.shape[0]:
                got_loc.append(li)
                got_qty.append(np.zeros(li.shape[0], dtype=np.int64))
                got_sku.append(np.full(li.shape[0], s, dtype=np.int64))
    pos_sku = np.concatenate(got_sku) if got_sku else np.zeros(0, np.int64)
    pos_loc = np.concatenate(got_loc).astype(np.int64) if got_loc else np.zeros(0, np.int64)
    qty = np.concatenate(got_qty) if got_qty else np.zeros(0, np.int64)
    del got_sku, got_loc, got_qty

    order = np.lexsort((pos_sku, pos_loc))
    pos_sku, pos_loc, qty = pos_sku[order], pos_loc[order], qty[order]
    locs = network.locations
    offers_pickup = (methods & np.uint8(Method.PICKUP.bit)) != 0
    method_text = pl.Series(
        ["buy" if p else "not_supported" for p in offers_pickup.tolist()], dtype=pl.String
    )
    sla_text = pl.Series(
        [
            pickup_sla(loc.processing_hours) if p else None
            for loc, p in zip(locs, offers_pickup.tolist(), strict=True)
        ],
        dtype=pl.String,
    )
    status_text = pl.Series([_STATUS_TEXT[s] for s in StockStatus], dtype=pl.String)
    loc_index = pl.Series(pos_loc.astype(np.uint32))
    return pl.DataFrame(
        {
            "store_code": pl.Series(list(network.index.ids), dtype=pl.String).gather(loc_index),
            "id": pl.Series(list(store.skus.ids), dtype=pl.String).gather(
                pl.Series(pos_sku.astype(np.uint32))
            ),
            "quantity": pl.Series(qty, dtype=pl.Int64),
            "availability": status_text.gather(pl.Series(statuses(qty, low).astype(np.uint32))),
            "pickup_method": method_text.gather(loc_index),
            "pickup_sla": sla_text.gather(loc_index),
        },
        schema=_SCHEMA,
    )


def write_table(df: pl.DataFrame, path: Path) -> None:
    """Write a feed (or any table) as CSV or Parquet, chosen by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        df.write_csv(path)
    elif suffix == ".parquet":
        df.write_parquet(path)
    else:
        raise InvalidArgument("path", str(path), "must end in .csv or .parquet")


def iter_chunks(df: pl.DataFrame, rows: int) -> Iterator[pl.DataFrame]:
    """Consecutive slices of at most `rows` rows (zero-copy), for streaming a feed in messages."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise InvalidArgument("rows", rows, "must be a positive integer")
    for start in range(0, df.height, rows):
        yield df.slice(start, rows)


def feed_from_snapshot_dir(
    directory: Path,
    channel: str,
    locations: Sequence[str] | None = None,
    *,
    config: AtpConfig | None = None,
) -> pl.DataFrame:
    """Load a snapshot directory, build its read model and export the feed (no server needed)."""
    store = StockStore.from_snapshot(load_snapshot(Path(directory)), config)
    return local_inventory_feed(store, channel=channel, locations=locations)
