"""Named scenarios for the simulation tests, and one shared run of the main one (every policy)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omniroute.simulation import SimulationResult, scenario_from_mapping, simulate, write_results

# The demo network (64 locations, 3,000 SKUs), two days, enough demand for every path to happen: a high
# phantom-stock rate so that picks are rejected and rerouted, returns due within the run, replenishment
# the second morning, abandoned carts, back orders, pickup and curbside.
DEMO_TWO_DAYS: dict[str, Any] = {
    "name": "demo, two busy days",
    "network": {"size": "demo", "seed": 7},
    "run": {"days": 2, "start_date": "2026-01-05", "seed": 3, "time_limit_s": 1.0},
    "demand": {"online_orders_per_day": 160, "walk_ins_per_store_per_day": 25, "mean_lines": 2.0},
    "rates": {"phantom_stock": 0.08, "returns": 0.3, "return_after_days": 1, "backorder": 0.2},
    "replenishment": {"every_days": 1, "hour_utc": 6, "lead_hours": 6},
}


def scenario_text(data: dict[str, Any]) -> str:
    """The TOML of a scenario mapping (tables of scalars and lists only), for files the CLI reads."""
    lines = [f"name = {data['name']!r}".replace("'", '"')] if "name" in data else []
    for section, body in data.items():
        if section == "name":
            continue
        lines.append(f"[{section}]")
        for key, value in body.items():
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimulationResult, Path]]:
    """DEMO_TWO_DAYS with every policy, written to a directory (the files the tests read back)."""
    out = tmp_path_factory.mktemp("sim-demo")
    result = simulate(scenario_from_mapping(DEMO_TWO_DAYS))
    write_results(result, out, scenario_text=scenario_text(DEMO_TWO_DAYS))
    yield result, out
