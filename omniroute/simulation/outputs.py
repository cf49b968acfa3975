"""The simulation's tables as polars DataFrames with fixed schemas, and the Parquet files they go to.

Every file holds every policy's rows (column `policy`). Money is integer cents; dates are dates; times
are UTC datetimes (ms). The same scenario gives byte-identical tables except the columns that measure
time (`routing_ms`, and in metrics `routing_ms_mean`, `routing_ms_p95`, `wall_s`): TIMING_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .engine import FLOW_NAMES, Columns, PolicyRun

TIMING_COLUMNS = frozenset({"routing_ms", "routing_ms_mean", "routing_ms_p95", "wall_s"})
_TIME = pl.Datetime("ms", "UTC")

ORDERS_SCHEMA: dict[str, pl.DataType] = {
    "policy": pl.String(),
    "order_id": pl.String(),
    "day": pl.Int32(),
    "placed_at": _TIME,
    "channel": pl.String(),
    "method": pl.String(),
    "store": pl.String(),
    "latitude": pl.Float64(),
    "longitude": pl.Float64(),
    "allow_backorder": pl.Boolean(),
    "lines": pl.Int32(),
    "units_ordered": pl.Int64(),
    "units_held": pl.Int64(),
    "units_served": pl.Int64(),
    "units_cancelled": pl.Int64(),
    "units_backordered": pl.Int64(),
    "status": pl.String(),
    "shipments": pl.Int32(),
    "cost_cents": pl.Int64(),
    "km_units": pl.Float64(),
    "promised_date": pl.Date(),
    "delivered_date": pl.Date(),
    "on_time": pl.Boolean(),
    "pick_rejections": pl.Int32(),
    "reroutes": pl.Int32(),
    "hold_conflicts": pl.Int32(),
    "error": pl.String(),
    "routing_ms": pl.Float64(),
}
SHIPMENTS_SCHEMA: dict[str, pl.DataType] = {
    "policy": pl.String(),
    "order_id": pl.String(),
    "shipment": pl.Int32(),
    "plan": pl.String(),
    "location": pl.String(),
    "location_type": pl.String(),
    "latitude": pl.Float64(),
    "longitude": pl.Float64(),
    "planned_at": _TIME,
    "ship_date": pl.Date(),
    "delivery_date": pl.Date(),
    "distance_km": pl.Float64(),
    "units_planned": pl.Int64(),
    "units_picked": pl.Int64(),
    "units_rejected": pl.Int64(),
    "cost_parcel": pl.Int64(),
    "cost_weight": pl.Int64(),
    "cost_handling": pl.Int64(),
    "cost_protection": pl.Int64(),
    "cost_extra_shipment": pl.Int64(),
    "cost_total": pl.Int64(),
}
STOCK_SCHEMA: dict[str, pl.DataType] = {
    "policy": pl.String(),
    "sku": pl.String(),
    "location": pl.String(),
    "location_type": pl.String(),
    "start": pl.Int64(),
    **{name: pl.Int64() for name in FLOW_NAMES},
    "end": pl.Int64(),
}
STOCKOUTS_SCHEMA: dict[str, pl.DataType] = {
    "policy": pl.String(),
    "day": pl.Int32(),
    "at": _TIME,
    "store": pl.String(),
    "sku": pl.String(),
    "kind": pl.String(),
    "units_wanted": pl.Int64(),
    "units_sold": pl.Int64(),
    "units_short": pl.Int64(),
    "short_online": pl.Int64(),
}
ENGINE_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "policy": pl.String(),
    "day": pl.Int32(),
    "date": pl.Date(),
    "walk_in_units_short": pl.Int64(),
    "replenished_units": pl.Int64(),
    "returned_units": pl.Int64(),
    "pick_rejections": pl.Int64(),
}


@dataclass(frozen=True, slots=True)
class Tables:
    orders: pl.DataFrame
    shipments: pl.DataFrame
    stock: pl.DataFrame
    stockouts: pl.DataFrame
    engine_daily: pl.DataFrame


def _frame(parts: Sequence[Columns], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    frames = [pl.DataFrame({k: cols.get(k, []) for k in schema}, schema=dict(schema)) for cols in parts]
    if not frames:
        return pl.DataFrame(schema=dict(schema))
    return pl.concat(frames, how="vertical")


def tables_from_runs(runs: Sequence[PolicyRun]) -> Tables:
    return Tables(
        orders=_frame([r.orders for r in runs], ORDERS_SCHEMA).sort("policy", "order_id", maintain_order=True),
        shipments=_frame([r.shipments for r in runs], SHIPMENTS_SCHEMA).sort(
            "policy", "order_id", "shipment", maintain_order=True
        ),
        stock=_frame([r.stock for r in runs], STOCK_SCHEMA),
        stockouts=_frame([r.stockouts for r in runs], STOCKOUTS_SCHEMA),
        engine_daily=_frame([r.daily for r in runs], ENGINE_DAILY_SCHEMA),
    )


FILES = ("orders", "shipments", "stock", "stockouts", "daily", "metrics")


def write_parquet(out_dir: Path, frames: Mapping[str, pl.DataFrame]) -> dict[str, Path]:
    """Each frame as `<name>.parquet` in out_dir (made if needed); returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        path = out_dir / f"{name}.parquet"
        frame.write_parquet(path, statistics=False)
        paths[name] = path
    return paths
