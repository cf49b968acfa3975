"""`omniroute simulate SCENARIO --out DIR`: the run with a progress bar, the files, a summary table."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from availability.errors import InvalidArgument

from .report import SUMMARY
from .run import SimulationResult, simulate, write_results
from .scenario import load_scenario


def simulate_command(scenario_file: Path, out_dir: Path, *, days: int | None, policies: tuple[str, ...]) -> None:
    err = Console(stderr=True)
    started = time.perf_counter()
    try:
        scenario = load_scenario(scenario_file)
        run = scenario.run
        if days is not None:
            run = dataclasses.replace(run, days=days)
        if policies:
            from router import get_policy

            for p in policies:
                get_policy(p)
            run = dataclasses.replace(run, policies=policies)
        scenario = dataclasses.replace(scenario, run=run)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def say(stage: str, policy: str, fraction: float) -> None:
                key = policy or stage
                if key not in tasks:
                    label = f"policy {policy}" if policy else {"network": "network", "demand": "demand"}[stage]
                    tasks[key] = bar.add_task(label, total=1.0)
                bar.update(tasks[key], completed=fraction)

            result = simulate(scenario, progress=say)
            paths = write_results(result, out_dir, scenario_text=scenario_file.read_text(encoding="utf-8"))
    except InvalidArgument as e:
        raise click.ClickException(str(e)) from None
    Console().print(summary_table(result))
    err.print(
        f"{len(result.demand.carts):,} carts and {len(result.demand.walk_ins):,} walk-in sales over "
        f"{scenario.run.days} day(s), {len(scenario.run.policies)} policies, in "
        f"{time.perf_counter() - started:.1f} s; report: {paths['report']}"
    )


def summary_table(result: SimulationResult) -> Table:
    """One row per metric, one column per policy (five policies fit an 80-column terminal)."""
    sc = result.scenario
    rows = list(result.metrics.iter_rows(named=True))
    table = Table(title=f"{sc.name}: {result.network}, {sc.run.days} day(s)")
    table.add_column("")
    for r in rows:
        table.add_column(str(r["policy"]), justify="right")
    for metric, heading, fmt in SUMMARY:
        table.add_row(heading, *("-" if r[metric] is None else fmt.format(r[metric]) for r in rows))
    return table
