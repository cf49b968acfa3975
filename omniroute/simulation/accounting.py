"""Per-policy figures, computed from the same tables that are written as Parquet (so the report and the
files agree by construction, and the tests recompute them from the files).

An order **ships** when at least one of its shipments picked a unit; the per-order figures (shipments,
split rate, cost, on time) are over shipped orders. Money is the router's planned cost (parcel, weight,
handling, protection, extra shipments) of every shipment that picked a unit, reroutes included.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from .engine import PolicyRun
from .outputs import Tables

# the counters every run reports besides its tables (engine.PolicySimulation.counters)
COUNTERS = (
    "carts",
    "carts_abandoned",
    "carts_abandoned_holding",
    "carts_expired",
    "carts_lost",
    "walk_in_units_wanted",
    "walk_in_units_sold",
    "oversell_attempts",
    "oversold_units",
    "hold_conflicts",
    "routing_errors",
    "event_errors",
    "ledger_consistent",
    "units_routed_past_promise",
)

# what each metric means, for the report and the README (same words)
METRIC_DOC: dict[str, str] = {
    "orders": "orders placed (carts checked out)",
    "orders_served": "orders whose every unit was delivered or collected",
    "orders_cancelled": "orders with units cancelled (not available) and none on back order",
    "orders_backordered": "orders with units on back order",
    "shipments_per_order": "shipments that picked a unit, per shipped order",
    "split_rate": "share of shipped orders in more than one shipment",
    "cost_per_order": "shipping and handling cost per shipped order, dollars",
    "distance_per_unit_km": "km from the shipping location to the shopper (or store), per unit",
    "on_time_rate": "share of shipped orders delivered by the promised date",
    "units_routed_past_promise": "units no location could deliver by the promise, shipped late instead",
    "store_stockouts_online": "times an online order took a store's available stock of a SKU to 0",
    "walk_in_stockouts": "walk-in shoppers who found fewer units than they wanted",
    "walk_in_stockouts_online": "of those, shoppers short of units that online orders had taken there",
    "walk_in_units_lost_to_online": "walk-in units not sold because online orders had taken them",
    "pick_rejections": "order lines a location could not find on the shelf (rerouted)",
    "oversell_attempts": "picks where held units exceeded the shelf with no phantom stock behind it",
    "oversold_units": "units shipped or sold beyond the shelf (must be 0)",
    "routing_ms_mean": "wall time to route and hold one order, mean (ms)",
    "routing_ms_p95": "the same, 95th percentile (ms)",
}


def policy_metrics(tables: Tables, runs: Sequence[PolicyRun]) -> pl.DataFrame:
    o, s, so = tables.orders, tables.shipments, tables.stockouts
    by_order = (
        o.group_by("policy")
        .agg(
            orders=pl.len(),
            orders_served=(pl.col("status") == "served").sum(),
            orders_cancelled=(pl.col("status") == "cancelled").sum(),
            orders_backordered=(pl.col("status") == "backordered").sum(),
            units_ordered=pl.col("units_ordered").sum(),
            units_held=pl.col("units_held").sum(),
            units_served=pl.col("units_served").sum(),
            units_cancelled=pl.col("units_cancelled").sum(),
            units_backordered=pl.col("units_backordered").sum(),
            orders_shipped=(pl.col("shipments") > 0).sum(),
            orders_split=(pl.col("shipments") > 1).sum(),
            orders_on_time=(pl.col("on_time") == True).sum(),  # noqa: E712 (polars expression)
            cost_cents=pl.col("cost_cents").sum(),
            km_units=pl.col("km_units").sum(),
            reroutes=pl.col("reroutes").sum(),
            routing_ms_mean=pl.col("routing_ms").filter(pl.col("units_held") > 0).mean(),
            routing_ms_p95=pl.col("routing_ms").filter(pl.col("units_held") > 0).quantile(0.95, "nearest"),
        )
    )
    by_shipment = (
        s.filter(pl.col("units_picked") > 0)
        .group_by("policy")
        .agg(shipments=pl.len(), units_shipped=pl.col("units_picked").sum())
    )
    rejections = s.group_by("policy").agg(units_rejected=pl.col("units_rejected").sum())
    stockouts = so.group_by("policy").agg(
        store_stockouts_online=(pl.col("kind") == "online").sum(),
        walk_in_stockouts=(pl.col("kind") == "walk_in").sum(),
        walk_in_stockouts_online=((pl.col("kind") == "walk_in") & (pl.col("short_online") > 0)).sum(),
        walk_in_units_lost_to_online=pl.col("short_online").sum(),
    )
    daily = tables.engine_daily.group_by("policy").agg(
        pick_rejections=pl.col("pick_rejections").sum(),
        returned_units=pl.col("returned_units").sum(),
        replenished_units=pl.col("replenished_units").sum(),
    )
    counters = pl.DataFrame(
        {
            "policy": [r.policy for r in runs],
            **{k: [int(r.counters.get(k, 0)) for r in runs] for k in COUNTERS},
            "wall_s": [round(r.wall_s, 3) for r in runs],
        },
        schema={"policy": pl.String(), **dict.fromkeys(COUNTERS, pl.Int64()), "wall_s": pl.Float64()},
    )
    order = pl.DataFrame({"policy": [r.policy for r in runs]})
    m = order
    for part in (by_order, by_shipment, rejections, stockouts, daily, counters):
        m = m.join(part, on="policy", how="left", maintain_order="left")
    zero_int = [c for c, t in m.schema.items() if t.is_integer()]
    m = m.with_columns(pl.col(zero_int).fill_null(0))
    shipped = pl.col("orders_shipped")
    return m.with_columns(
        shipments_per_order=_ratio(pl.col("shipments"), shipped),
        split_rate=_ratio(pl.col("orders_split"), shipped),
        cost_per_order=_ratio(pl.col("cost_cents"), shipped) / 100.0,
        distance_per_unit_km=_ratio(pl.col("km_units"), pl.col("units_shipped")),
        on_time_rate=_ratio(pl.col("orders_on_time"), shipped),
    )


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den).otherwise(None)


def daily_table(tables: Tables) -> pl.DataFrame:
    """Per policy and day of placement: orders, units, shipments and cost; with the engine's per-day
    counts (walk-ins short, replenished, returned, pick rejections by the day they happened)."""
    o = tables.orders
    per_day = o.group_by("policy", "day").agg(
        orders=pl.len(),
        units_served=pl.col("units_served").sum(),
        orders_shipped=(pl.col("shipments") > 0).sum(),
        shipments=pl.col("shipments").sum(),
        cost_cents=pl.col("cost_cents").sum(),
    )
    daily = tables.engine_daily.join(per_day, on=["policy", "day"], how="left", maintain_order="left")
    ints = ["orders", "units_served", "orders_shipped", "shipments", "cost_cents"]
    daily = daily.with_columns(pl.col(ints).fill_null(0).cast(pl.Int64))
    return daily.with_columns(cost_per_order=_ratio(pl.col("cost_cents"), pl.col("orders_shipped")) / 100.0)
