"""Random small scenarios keep the books: every order's units end served, cancelled or back-ordered, stock
is conserved at every position, nothing is oversold, abandoned carts expire, the ledger reconciles."""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from omniroute.simulation import scenario_from_mapping, simulate
from omniroute.simulation.scenario import ALL_POLICIES

scenarios = st.fixed_dictionaries(
    {
        "network": st.just({"size": "demo"}),
        "run": st.fixed_dictionaries(
            {
                "days": st.integers(1, 2),
                "seed": st.integers(0, 10_000),
                "policies": st.sampled_from(ALL_POLICIES).map(lambda p: [p]),
                "max_shipments": st.integers(0, 2),
            }
        ),
        "demand": st.fixed_dictionaries(
            {
                "online_orders_per_day": st.integers(0, 80),
                "walk_ins_per_store_per_day": st.integers(0, 30),
                "mean_lines": st.floats(1.0, 3.0),
                "multi_unit_share": st.floats(0.0, 0.6),
            }
        ),
        "rates": st.fixed_dictionaries(
            {
                "cart_abandonment": st.floats(0.0, 1.0),
                "phantom_stock": st.floats(0.0, 0.5),
                "returns": st.floats(0.0, 1.0),
                "return_after_days": st.integers(1, 2),
                "backorder": st.floats(0.0, 1.0),
                "walk_ins_respect_holds": st.booleans(),
            }
        ),
        "replenishment": st.fixed_dictionaries(
            {"every_days": st.integers(0, 1), "lead_hours": st.integers(0, 30), "reorder_below": st.floats(0.0, 1.0)}
        ),
    }
)


@settings(max_examples=6)
@given(scenarios)
def test_random_scenarios_keep_the_books(data: dict[str, Any]) -> None:
    r = simulate(scenario_from_mapping(data))
    o, s, m = r.tables.orders, r.tables.stock, r.metrics
    assert (o["units_served"] + o["units_cancelled"] + o["units_backordered"] == o["units_ordered"]).all()
    flow = (
        pl.col("start") + pl.col("receipts") + pl.col("returns") - pl.col("sales") - pl.col("shipments")
        - pl.col("transfers_out") + pl.col("adjustments")
    )  # fmt: skip
    assert s.filter(flow != pl.col("end")).height == 0
    row = m.row(0, named=True)
    assert row["oversold_units"] == 0 and row["event_errors"] == 0 and row["routing_errors"] == 0
    assert row["ledger_consistent"] == 1 and row["carts_expired"] == row["carts_abandoned_holding"]
    if data["rates"]["walk_ins_respect_holds"]:
        assert row["oversell_attempts"] == 0
    assert row["units_shipped"] == o["units_served"].sum() == s["shipments"].sum()
