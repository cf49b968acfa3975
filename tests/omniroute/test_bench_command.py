"""`omniroute bench`: a real --quick run of the standard set through the command line (about 15-20 s: a
generated small network, a throw-away redis-server, `omniroute serve` in a subprocess), its JSON, a second
run compared against it, and bad options refused before any work. Figures are never asserted against
goals here (benchmarks measure; tests check that every row was measured and reported)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from omniroute.bench.redis_rows import NOT_INSTALLED, redis_rows
from omniroute.bench.results import SCHEMA, Goal, Row, compare
from omniroute.cli import main

# every row of the standard set, in the order of the table
STANDARD_ROWS = [
    "atp.one_sku_2000_locations",
    "atp.many_10k_skus",
    "events.memory",
    "holds.memory",
    "routing.single",
    "quote.cart_5_lines",
    "batch.wave_time",
    "batch.saving_vs_fewest_shipments",
    "batch.lp_gap",
    "batch.lagrangian_gap",
    "events.redis",
    "holds.redis",
    "grpc.ping",
    "grpc.availability_1",
    "grpc.availability_1000",
    "grpc.reserve_1_line",
    "grpc.stock_events",
]
# percentages: 0 is a measurement too
SHARES = {"batch.saving_vs_fewest_shipments", "batch.lp_gap", "batch.lagrangian_gap"}


def bench(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omniroute.cli", "bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    cwd = tmp_path_factory.mktemp("bench")
    done = bench(cwd, "--quick", "--out", "first.json")
    assert done.returncode == 0, done.stderr
    return cwd, json.loads((cwd / "first.json").read_text()), done.stdout


@pytest.mark.slow
def test_quick_run_writes_every_standard_row(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    cwd, doc, stdout = quick_run
    assert doc["schema"] == SCHEMA
    assert doc["options"]["quick"] is True and doc["options"]["size"] == "small"
    assert doc["command"].startswith("omniroute bench --size small --seed 7 --quick")
    assert [r["key"] for r in doc["rows"]] == STANDARD_ROWS
    redis_installed = shutil.which("redis-server") is not None
    for row in doc["rows"]:
        assert {"title", "unit", "figure", "p50", "p99", "ratio", "goals", "met", "detail", "skipped"} <= row.keys()
        if row["key"].endswith(".redis") and not redis_installed:
            assert row["skipped"] == NOT_INSTALLED and row["figure"] is None
            continue
        assert not row["skipped"], row
        assert isinstance(row["figure"], int | float) and math.isfinite(row["figure"]), row
        if row["key"] in SHARES:
            continue
        assert row["figure"] > 0, row
        if row["p50"] is not None:
            assert 0 < row["p50"] <= row["p99"], row
        assert row["met"] in (True, False, None)
    by_key = {r["key"]: r for r in doc["rows"]}
    assert by_key["grpc.ping"]["ratio"] == 1.0  # Ping against itself
    assert by_key["grpc.availability_1"]["ratio"] > 0 and by_key["grpc.reserve_1_line"]["ratio"] > 0
    # a goal stated for a larger network is shown, not judged, on the small one
    assert by_key["routing.single"]["met"] is None
    assert all(not g["applies"] for g in by_key["routing.single"]["goals"])

    machine = doc["machine"]
    for key in ("cpu", "cores", "memory_gb", "python", "numpy", "numba", "ortools", "grpcio", "commit", "date"):
        assert machine.get(key) not in (None, ""), key
    net = doc["network"]
    assert (net["size"], net["seed"], net["locations"]) == ("small", 7, 200) and net["positions"] > 0
    assert (cwd / "bench-results" / "networks" / "small-seed7" / "stock.parquet").is_file()

    for key in STANDARD_ROWS:  # one table, every row
        assert key in stdout
    assert "results written to first.json" in stdout


@pytest.mark.slow
def test_compare_prints_the_change_of_every_row(quick_run: tuple[Path, dict[str, Any], str]) -> None:
    cwd, first, _ = quick_run
    done = bench(cwd, "--quick", "--only", "atp", "--out", "second.json", "--compare", "first.json")
    assert done.returncode == 0, done.stderr
    second = json.loads((cwd / "second.json").read_text())
    assert second["network"]["reused_from_cache"] is True
    assert [r["key"] for r in second["rows"]] == STANDARD_ROWS[:2]
    out = done.stdout
    assert "against first.json" in out
    table = out[out.index("against first.json") :]
    for row in first["rows"][:2]:
        line = next(ln for ln in table.splitlines() if row["key"] in ln)
        assert "%" in line and any(v in line for v in ("better", "worse", "same")), line
    routing = next(ln for ln in table.splitlines() if "routing.single" in ln)
    assert "not run" in routing


def test_redis_rows_say_when_redis_server_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there: no redis-server to find
    rows = redis_rows(None, [], None, lambda stage, fraction: None)  # type: ignore[arg-type]
    assert [(r.key, r.skipped, r.figure) for r in rows] == [
        ("events.redis", "skipped: redis-server not installed", None),
        ("holds.redis", "skipped: redis-server not installed", None),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "atp,nope"], "--only 'atp,nope': unknown suite nope; the suites are atp, ledger"),
        (["--only", ","], "--only ',': no suite named"),
        (["--size", "huge"], "'huge' is not one of 'demo', 'small', 'medium'"),
        (["--seed", "-1"], "-1 is not in the range x>=0"),
        (["--compare", "missing.json"], "'missing.json' does not exist"),
        (["--compare", "bad.json"], "bad.json: not JSON"),
        (["--compare", "other.json"], "other.json: schema is None, expected 'omniroute-bench/1'"),
        (["--compare", "rows.json"], "rows.json: rows[0] (x): figure 'fast' is not a number"),
        (["--out", "adir"], "adir is a directory"),
    ],
)
def test_bad_options_are_refused_before_any_work(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"rows": []}')
    (tmp_path / "rows.json").write_text(json.dumps({"schema": SCHEMA, "rows": [{"key": "x", "figure": "fast"}]}))
    (tmp_path / "adir").mkdir()
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "bench-results").exists()  # nothing generated, nothing written


def _row(figure: float, *, higher: bool = True, goals: tuple[Goal, ...] = ()) -> Row:
    return Row(key="k", suite="s", title="t", unit="u", higher_is_better=higher, figure=figure, goals=goals)


def test_goals_are_judged_on_the_measured_numbers() -> None:
    row = _row(2.5, goals=(Goal("figure", "<", 3.0, "< 3"),))
    assert row.met is True
    row.figure = 3.0
    assert row.met is False
    assert _row(9.0, goals=(Goal("figure", "<", 3.0, "< 3", applies=False, scale="at 2,000"),)).met is None
    both = _row(1.0, goals=(Goal("figure", ">", 0.0, "> 0"), Goal("ratio", "<=", 2.0, "<= 2")))
    both.ratio = 2.5
    assert both.met is False
    assert Row(key="k", suite="s", title="t", unit="u", higher_is_better=True, skipped="why").met is None


def test_compare_calls_changes_by_direction_beyond_the_noise_band() -> None:
    before = {"rows": [{"key": "k", "figure": 100.0}, {"key": "old", "figure": 1.0, "title": "old", "unit": "s"}]}
    verdicts = {
        (110.0, True): "better",
        (90.0, True): "worse",
        (104.0, True): "same",
        (90.0, False): "better",
        (110.0, False): "worse",
    }
    for (now, higher), want in verdicts.items():
        deltas = compare(before, [_row(now, higher=higher)])
        assert (deltas[0].verdict, deltas[1].key, deltas[1].verdict) == (want, "old", "not run")
        assert deltas[0].change == pytest.approx((now - 100) / 100)
