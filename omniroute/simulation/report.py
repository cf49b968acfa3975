"""The HTML report: one self-contained file (plots embedded as PNG data URIs, inline CSS, no script, no
network), readable in any browser and attachable to an e-mail.

Its figures come from the same DataFrames that are written as Parquet; each cell of the summary table
carries the exact value it shows (`data-policy`, `data-metric`, `data-value`), so a test can check the
report against the files.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .accounting import METRIC_DOC

if TYPE_CHECKING:
    from .run import SimulationResult

_COLOURS = {
    "optimal": "#1b9e77",
    "fewest_shipments": "#7570b3",
    "priority": "#e6ab02",
    "nearest": "#d95f02",
    "high_stock": "#e7298a",
}
_TYPE_COLOURS = {
    "distribution_center": "#386cb0",
    "store": "#f0027f",
    "dark_store": "#bf5b17",
    "drop_ship_vendor": "#666666",
}

# (metric, heading, format) of the summary table, in order
SUMMARY: tuple[tuple[str, str, str], ...] = (
    ("orders", "orders", "{:,.0f}"),
    ("orders_served", "served", "{:,.0f}"),
    ("orders_cancelled", "cancelled", "{:,.0f}"),
    ("orders_backordered", "back-ordered", "{:,.0f}"),
    ("shipments_per_order", "shipments / order", "{:.3f}"),
    ("split_rate", "split rate", "{:.1%}"),
    ("cost_per_order", "cost / order ($)", "{:.2f}"),
    ("distance_per_unit_km", "km / unit", "{:,.0f}"),
    ("on_time_rate", "on time", "{:.1%}"),
    ("store_stockouts_online", "store stockouts caused by online", "{:,.0f}"),
    ("walk_in_units_lost_to_online", "walk-in units lost to online", "{:,.0f}"),
    ("pick_rejections", "pick rejections", "{:,.0f}"),
    ("oversell_attempts", "oversell attempts", "{:,.0f}"),
    ("oversold_units", "oversold units", "{:,.0f}"),
    ("routing_ms_mean", "routing ms (mean)", "{:.2f}"),
    ("routing_ms_p95", "routing ms (p95)", "{:.2f}"),
)


def _colour(policy: str) -> str:
    return _COLOURS.get(policy, "#444444")


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bars(ax: Axes, policies: Sequence[str], values: Sequence[float | None], title: str, fmt: str) -> None:
    heights = [0.0 if v is None else float(v) for v in values]
    bars = ax.bar(range(len(policies)), heights, color=[_colour(p) for p in policies])
    ax.set_xticks(range(len(policies)), list(policies), rotation=20, ha="right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.bar_label(bars, labels=[fmt.format(h) for h in heights], fontsize=7, padding=2)
    ax.margins(y=0.15)
    ax.spines[["top", "right"]].set_visible(False)


def figure_policies(metrics: pl.DataFrame) -> Figure:
    policies = metrics["policy"].to_list()
    fig = Figure(figsize=(10, 6.2))
    axes = fig.subplots(2, 2)
    cost = metrics["cost_per_order"].to_list()
    _bars(axes[0][0], policies, cost, "shipping and handling cost per order ($)", "{:.2f}")
    _bars(axes[0][1], policies, metrics["split_rate"].to_list(), "split rate (orders in 2+ shipments)", "{:.1%}")
    _bars(axes[1][0], policies, metrics["on_time_rate"].to_list(), "on time against the promise", "{:.1%}")
    _bars(axes[1][1], policies, metrics["distance_per_unit_km"].to_list(), "km per unit shipped", "{:,.0f}")
    fig.tight_layout()
    return fig


def figure_cost_per_day(daily: pl.DataFrame, policies: Sequence[str]) -> Figure:
    fig = Figure(figsize=(10, 3.6))
    ax = fig.subplots()
    days: list[str] = []
    for p in policies:
        d = daily.filter(pl.col("policy") == p).sort("day")
        days = [x.strftime("%a %d %b") for x in d["date"].to_list()]
        ax.plot(range(len(days)), d["cost_per_order"].to_list(), marker="o", label=p, color=_colour(p))
    ax.set_xticks(range(len(days)), days, fontsize=8)
    ax.set_xlim(-0.5, len(days) - 0.5)
    ax.set_title("cost per shipped order by day of placement ($)", fontsize=10)
    ax.legend(fontsize=8, ncols=min(5, max(1, len(policies))))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def figure_map(shipments: pl.DataFrame, locations: pl.DataFrame, policies: Sequence[str]) -> Figure:
    """Where units shipped from: every location in grey, shipping ones sized by units picked."""
    cols = min(3, len(policies))
    rows = (len(policies) + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    per_loc = (
        shipments.filter(pl.col("units_picked") > 0)
        .group_by("policy", "location", "location_type", "latitude", "longitude")
        .agg(units=pl.col("units_picked").sum())
    )
    top = max(1, int(per_loc["units"].cast(pl.Int64).max() or 1)) if per_loc.height else 1  # type: ignore[arg-type]
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        if k >= len(policies):
            ax.set_visible(False)
            continue
        p = policies[k]
        ax.scatter(locations["longitude"], locations["latitude"], s=2, color="#cccccc")
        d = per_loc.filter(pl.col("policy") == p).sort("units")
        if d.height:
            sizes = (d["units"].cast(pl.Float64) / top).sqrt() * 220 + 4
            colours = [_TYPE_COLOURS.get(t, "#444444") for t in d["location_type"].to_list()]
            ax.scatter(d["longitude"], d["latitude"], s=sizes, c=colours, alpha=0.6, edgecolors="none")
        ax.set_title(f"{p}: {int(d['units'].sum() or 0):,} units from {d.height} locations", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect(1.25)
    handles = [
        axes[0][0].scatter([], [], s=30, color=c, label=t.replace("_", " ")) for t, c in _TYPE_COLOURS.items()
    ]
    fig.legend(handles=handles, loc="lower center", ncols=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def figure_stockouts(stockouts: pl.DataFrame, policies: Sequence[str], n: int = 15) -> Figure:
    """Store stockouts caused by online orders, by store: the stores where it happened most over every
    policy, one bar per policy."""
    emptied = stockouts.filter(pl.col("kind") == "online")
    if emptied.height == 0:
        fig = Figure(figsize=(10, 1.6))
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no online order took a store's available stock of a SKU to zero",
                ha="center", va="center", fontsize=11)  # fmt: skip
        ax.set_axis_off()
        return fig
    worst = (
        emptied.group_by("store").agg(events=pl.len()).sort(["events", "store"], descending=[True, False])
    )["store"].head(n).to_list()
    fig = Figure(figsize=(10, 0.36 * len(worst) + 1.6))
    ax = fig.subplots()
    per = emptied.group_by("policy", "store").agg(events=pl.len())
    height = 0.8 / max(1, len(policies))
    for i, p in enumerate(policies):
        d = dict(per.filter(pl.col("policy") == p).select("store", "events").iter_rows())
        ys = [j + i * height for j in range(len(worst))]
        ax.barh(ys, [d.get(s, 0) for s in worst], height=height, color=_colour(p), label=p)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(worst))], worst, fontsize=8)
    ax.invert_yaxis()
    totals = ", ".join(f"{p} {per.filter(pl.col('policy') == p)['events'].sum():,}" for p in policies)
    ax.set_title(f"SKUs online orders took to zero available, by store (all stores: {totals})", fontsize=9)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _summary_table(metrics: pl.DataFrame) -> str:
    """Metrics as rows, policies as columns; each cell carries its exact value for checking."""
    rows = list(metrics.iter_rows(named=True))
    head = "".join(f"<th>{html.escape(str(r['policy']))}</th>" for r in rows)
    body = []
    for metric, heading, fmt in SUMMARY:
        cells = []
        for r in rows:
            v = r[metric]
            p = html.escape(str(r["policy"]))
            shown = "-" if v is None else fmt.format(v)
            value = "" if v is None else repr(v)
            cells.append(f"<td data-policy='{p}' data-metric='{metric}' data-value='{value}'>{shown}</td>")
        doc = html.escape(METRIC_DOC.get(metric, ""))
        body.append(f"<tr><th title='{doc}'>{html.escape(heading)}</th>{''.join(cells)}</tr>")
    return f"<table class='summary'><tr><th></th>{head}</tr>{''.join(body)}</table>"


_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1150px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table.summary { border-collapse: collapse; font-size: 0.85em; }
table.summary td, table.summary th { border: 1px solid #ddd; padding: 4px 6px; text-align: right; }
table.summary tr th:first-child { text-align: left; }
img.plot { max-width: 100%; display: block; margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
dl { font-size: 0.85em; } dt { font-weight: 600; margin-top: 0.4em; }
"""


def render_report(result: SimulationResult, *, scenario_text: str = "") -> str:
    from .demand import HOUR_MS

    sc = result.scenario
    m = result.metrics
    policies = m["policy"].to_list()
    # every location of the network for the map's background, not only those that shipped
    all_locs = pl.DataFrame(
        {"longitude": list(result.location_lon), "latitude": list(result.location_lat)},
        schema={"longitude": pl.Float64(), "latitude": pl.Float64()},
    )
    plots = [
        ("Cost, split rate, promise and distance by policy", figure_policies(m)),
        ("Cost per order by day", figure_cost_per_day(result.daily, policies)),
        ("Where orders shipped from", figure_map(result.tables.shipments, all_locs, policies)),
        ("Store stockouts caused by online orders", figure_stockouts(result.tables.stockouts, policies)),
    ]
    d = result.demand
    carts = len(d.carts)
    walk = len(d.walk_ins)
    intro = (
        f"{html.escape(result.network)}: {result.locations:,} locations, {result.skus:,} SKUs, "
        f"{result.positions:,} stock positions. {sc.run.days} day(s) from {sc.run.start_date.isoformat()}: "
        f"{carts:,} online carts ({carts / sc.run.days:,.0f} a day, {sc.rates.cart_abandonment:.0%} abandoned), "
        f"{walk:,} walk-in sales ({walk / sc.run.days:,.0f} a day), {len(d.phantom):,} store positions with "
        f"phantom stock. Every policy ran on its own copy of the network with the same shoppers (seed "
        f"{sc.run.seed})."
    )
    body = [
        f"<h1>Simulation: {html.escape(sc.name)}</h1>",
        f"<p>{intro}</p>",
        "<h2>Summary</h2>",
        _summary_table(m),
        "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in METRIC_DOC.items()),
        "</dl>",
    ]
    for title, fig in plots:
        body.append(f"<h2>{html.escape(title)}</h2>")
        body.append(f"<img class='plot' alt='{html.escape(title)}' src='data:image/png;base64,{_png(fig)}'>")
    if scenario_text:
        body.append("<h2>Scenario</h2>")
        body.append(f"<pre>{html.escape(scenario_text)}</pre>")
    body.append(
        "<p>Files beside this report: orders, shipments, stock, stockouts, daily and metrics (.parquet). "
        f"Walk-in sales are applied in batches of {HOUR_MS // 3_600_000} hour.</p>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>omniroute simulation: {html.escape(sc.name)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def write_report(result: SimulationResult, path: Path, *, scenario_text: str = "") -> Path:
    path.write_text(render_report(result, scenario_text=scenario_text), encoding="utf-8")
    return path
