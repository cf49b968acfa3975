"""One simulation: the network (generated or a snapshot), the demand stream, one run per policy on its own
fresh copy of the network, then the tables, metrics and files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from availability.errors import InvalidArgument
from availability.ingest import load_snapshot
from availability.model import Snapshot
from omniroute.networkgen import generate_network
from router import CostModel, cost_model_for_snapshot, load_cost_model, warm_up

from .accounting import daily_table, policy_metrics
from .demand import Demand, generate_demand
from .engine import InitialStock, PolicyRun, PolicySimulation
from .outputs import Tables, tables_from_runs, write_parquet
from .report import write_report
from .scenario import Scenario

# (stage, policy or "", fraction of that stage done)
Progress = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class SimulationResult:
    scenario: Scenario
    network: str  # what the network was, in words
    locations: int
    skus: int
    positions: int
    location_lat: tuple[float, ...]
    location_lon: tuple[float, ...]
    demand: Demand
    runs: tuple[PolicyRun, ...]
    tables: Tables
    metrics: pl.DataFrame
    daily: pl.DataFrame


def load_network(scenario: Scenario) -> tuple[Snapshot, CostModel]:
    spec = scenario.network
    if spec.snapshot is not None:
        snapshot = load_snapshot(spec.snapshot)
        cost = cost_model_for_snapshot(spec.snapshot)
    else:
        snapshot = generate_network(spec.size, seed=spec.seed, base_date=scenario.run.start_date)
        cost = CostModel()
    if spec.routing_config is not None:
        cost = load_cost_model(spec.routing_config)
    channels = {c.id for c in snapshot.channels}
    for name, _ in scenario.demand.channels:
        if name not in channels:
            raise InvalidArgument(
                f"{scenario.source}: demand.channels.{name}", name, f"not a channel of the network {sorted(channels)}"
            )
    return snapshot, cost


def _policy_progress(say: Progress, policy: str) -> Callable[[float], None]:
    def report(fraction: float) -> None:
        say("policy", policy, fraction)

    return report


def simulate(scenario: Scenario, *, progress: Progress | None = None) -> SimulationResult:
    say = progress or (lambda stage, policy, fraction: None)
    say("network", "", 0.0)
    snapshot, cost = load_network(scenario)
    warm_up()
    say("network", "", 1.0)
    say("demand", "", 0.0)
    demand = generate_demand(snapshot, scenario)
    initial = InitialStock(snapshot)
    say("demand", "", 1.0)
    runs: list[PolicyRun] = []
    for policy in scenario.run.policies:
        say("policy", policy, 0.0)
        sim = PolicySimulation(snapshot, demand, scenario, policy, cost, initial)
        runs.append(sim.run(_policy_progress(say, policy)))
    tables = tables_from_runs(runs)
    return SimulationResult(
        scenario=scenario,
        network=scenario.network.describe(),
        locations=len(snapshot.locations),
        skus=len(snapshot.skus),
        positions=snapshot.positions,
        location_lat=tuple(loc.latitude for loc in snapshot.locations),
        location_lon=tuple(loc.longitude for loc in snapshot.locations),
        demand=demand,
        runs=tuple(runs),
        tables=tables,
        metrics=policy_metrics(tables, runs),
        daily=daily_table(tables),
    )


def write_results(result: SimulationResult, out_dir: Path, *, scenario_text: str = "") -> dict[str, Path]:
    """orders, shipments, stock, stockouts, daily and metrics as Parquet, the report as HTML, and the
    scenario file as run (when its text is given)."""
    t = result.tables
    paths = write_parquet(
        out_dir,
        {
            "orders": t.orders,
            "shipments": t.shipments,
            "stock": t.stock,
            "stockouts": t.stockouts,
            "daily": result.daily,
            "metrics": result.metrics,
        },
    )
    if scenario_text:
        (out_dir / "scenario.toml").write_text(scenario_text, encoding="utf-8")
        paths["scenario"] = out_dir / "scenario.toml"
    paths["report"] = write_report(result, out_dir / "report.html", scenario_text=scenario_text)
    return paths
