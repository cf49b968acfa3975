"""The body of `omniroute bench` (the click options are in omniroute/cli.py): check every option before any
work, run the standard set with a progress bar, print the table, write the JSON, compare."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .report import compare_table, notes, results_table
from .results import ResultsError, compare, read_results
from .runner import SUITES, BenchOptions, OptionsError, parse_only, run_bench

DEFAULT_OUT_DIR = Path("bench-results")  # git-ignored in this repository


def default_out(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return DEFAULT_OUT_DIR / f"bench-{stamp}.json"


def command_line(options: BenchOptions, out: Path, compare_path: Path | None) -> str:
    """The command that repeats this run, for the results file."""
    args = ["omniroute", "bench", "--size", options.size, "--seed", str(options.seed)]
    if options.quick:
        args.append("--quick")
    if options.only != tuple(SUITES):
        args += ["--only", ",".join(options.only)]
    args += ["--out", str(out)]
    if compare_path is not None:
        args += ["--compare", str(compare_path)]
    return shlex.join(args)


def bench_command(
    *, size: str, seed: int, quick: bool, out: Path | None, compare_path: Path | None, only: str | None
) -> None:
    try:
        options = BenchOptions(size=size, seed=seed, quick=quick, only=parse_only(only))
    except OptionsError as err:
        raise click.UsageError(str(err)) from None
    before: dict[str, Any] | None = None
    if compare_path is not None:
        try:
            before = read_results(compare_path)
        except ResultsError as err:
            raise click.BadParameter(str(err), param_hint="--compare") from None
    out = out or default_out()
    if out.is_dir():
        raise click.BadParameter(f"{out} is a directory; give a file name, e.g. {out / 'bench.json'}",
                                 param_hint="--out")  # fmt: skip
    try:  # now rather than after minutes of measuring
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise click.BadParameter(f"cannot create {out.parent} ({err.strerror or err})", param_hint="--out") from None

    err_console = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    with progress:
        task = progress.add_task("starting", total=1.0)

        def report(stage: str, fraction: float) -> None:
            progress.update(task, description=stage, completed=fraction)

        results = run_bench(options, command=command_line(options, out, compare_path), report=report)
    try:
        results.write(out)
    except OSError as err:
        raise click.ClickException(f"--out {out}: cannot write it ({err.strerror or err})") from None

    console = Console()
    if not console.is_terminal:  # a file or a pipe: rich's 80 columns would fold every row
        console = Console(width=150)
    console.print(results_table(results))
    for note in notes(results):
        console.print(f"[dim]{note}[/]")
    console.print(f"results written to {out}")
    if before is not None and compare_path is not None:
        console.print(compare_table(compare(before, results.rows), str(compare_path)))
