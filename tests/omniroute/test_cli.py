"""The `omniroute` commands through click's CliRunner against a running server (and a snapshot dir)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from click.testing import CliRunner

from availability.feed import local_inventory_feed
from availability.ingest import write_snapshot
from availability.ledger.memory import MemoryLedger
from omniroute.cli import main
from omniroute.config import ServerConfig

from .fixtures import ServerThread, tiny_ledger, tiny_network


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_availability_prints_a_table(server: ServerThread) -> None:
    code, out = run("availability", "SKU-1", "SKU-2", "NOPE", "--channel", "web", "--target", server.target)
    assert code == 0, out
    assert "92" in out and "in stock" in out and "out of stock" in out and "unknown SKU" in out
    assert "web / ship / network" in out


def test_availability_near_a_point_per_location(server: ServerThread) -> None:
    # nothing listens there: a clear error, not a traceback
    code, out = run("availability", "SKU-1", "--timeout", "2", env={"OMNIROUTE_TARGET": "127.0.0.1:1"})
    assert code == 1 and "UNAVAILABLE" in out
    code, out = run(
        "availability",
        "SKU-1",
        "--method",
        "pickup",
        "--near",
        "42.3601,-71.0589",
        "--radius",
        "10",
        "--per-location",
        env={"OMNIROUTE_TARGET": server.target},
    )
    assert code == 0, out
    assert "within 10 km" in out and "S-BOS" in out and "S-CAM" in out and "S-NYC" not in out


def test_availability_bad_input_names_the_field(server: ServerThread) -> None:
    code, out = run("availability", "bad id", "--target", server.target)
    assert code == 1
    assert "INVALID_ARGUMENT" in out and "skus[0]" in out
    code, out = run("availability", "SKU-1", "--near", "42,-71", "--target", server.target)
    assert code == 2 and "go together" in out
    code, out = run("availability", "SKU-1", "--near", "north", "--radius", "5", "--target", server.target)
    assert code == 2 and "LAT,LON" in out


def test_feed_from_a_server_and_from_a_snapshot_dir_agree(server: ServerThread, tmp_path: Path) -> None:
    code, out = run(
        "feed", "--out", str(tmp_path / "served.csv"), "--target", server.target, "--chunk-rows", "2"
    )
    assert code == 0, out
    served = pl.read_csv(tmp_path / "served.csv")
    expected = local_inventory_feed(server.ledger.store, channel="web")
    assert served.height == expected.height
    assert served["quantity"].to_list() == expected["quantity"].to_list()

    write_snapshot(tiny_network(), tmp_path / "snap", format="csv")
    code, out = run("feed", "--out", str(tmp_path / "offline.parquet"), "--data", str(tmp_path / "snap"))
    assert code == 0, out
    offline = pl.read_parquet(tmp_path / "offline.parquet")
    assert offline.equals(expected)
    parquet_from_server = tmp_path / "served.parquet"
    assert run("feed", "--out", str(parquet_from_server), "--target", server.target)[0] == 0
    assert pl.read_parquet(parquet_from_server).equals(expected)


def test_feed_rejects_other_formats(tmp_path: Path) -> None:
    code, out = run("feed", "--out", str(tmp_path / "feed.xlsx"))
    assert code == 2 and ".csv or .parquet" in out


def test_serve_rejects_bad_configuration_before_starting() -> None:
    code, out = run("serve", env={"OMNIROUTE_PORT": "http"})
    assert code == 2 and "OMNIROUTE_PORT" in out
    code, out = run("serve", "--max-message-mb", "0")
    assert code == 2 and "--max-message-mb" in out
    code, out = run("serve", "--data", "/nonexistent/snapshot")
    assert code == 2 and "not a directory" in out


def test_generate_writes_a_snapshot_that_loads_and_is_the_same_for_a_seed(tmp_path: Path) -> None:
    from availability.ingest import load_snapshot

    code, out = run(
        "generate", "--out", str(tmp_path / "a"), "--size", "demo", "--seed", "3", "--base-date", "2026-01-05"
    )
    assert code == 0, out
    assert "64 locations, 3,000 SKUs" in out
    snap = load_snapshot(tmp_path / "a")
    assert (len(snap.locations), len(snap.skus)) == (64, 3_000) and snap.positions > 10_000
    run("generate", "--out", str(tmp_path / "b"), "--size", "demo", "--seed", "3", "--base-date", "2026-01-05")
    run("generate", "--out", str(tmp_path / "c"), "--size", "demo", "--seed", "4", "--base-date", "2026-01-05")
    stock = {k: pl.read_parquet(tmp_path / k / "stock.parquet") for k in "abc"}
    assert stock["a"].equals(stock["b"]) and not stock["a"].equals(stock["c"])
    # CSV into a directory that already holds Parquet tables would make it unreadable: refused, named
    code, out = run("generate", "--out", str(tmp_path / "a"), "--size", "demo", "--format", "csv")
    assert code != 0 and "directory" in out and "parquet" in out


def test_health_exit_status_for_exec_probes(tmp_path: Path) -> None:
    """The sidecar layout's probe (README "Sidecar"): 0 SERVING, 1 answered otherwise, 2 unreachable."""
    import threading

    sock = tmp_path / "omniroute.sock"
    loaded = threading.Event()

    def slow_load() -> MemoryLedger:
        loaded.wait(30)
        return tiny_ledger()

    config = ServerConfig(port=None, unix_socket=sock, grace_seconds=5.0, drain_delay_seconds=1.0)
    srv = ServerThread(config, slow_load)
    srv.start(wait_loaded=False)
    target = f"unix:{sock}"
    try:
        code, out = run("health", "--target", target)
        assert code == 1 and "NOT_SERVING" in out  # still loading
        threading.Timer(0.5, loaded.set).start()
        code, out = run("health", "--target", target, "--wait", "30")
        assert code == 0 and "(overall): SERVING" in out
        code, out = run("health", "--target", target, "--service", "omniroute.v1.AvailabilityService")
        assert code == 0, out
        code, out = run("health", "--target", target, "--service", "omniroute.v1.Nope")
        assert code == 1 and "no health status for service 'omniroute.v1.Nope'" in out
        code, out = run("health", "--target", target, "--timeout", "0")
        assert code == 2 and "--timeout" in out
        draining = srv.submit(srv.server.stop(5.0))
        # --drain-delay-seconds: probes see NOT_SERVING while calls are still answered, then the drain
        code, out = run("health", "--target", target, "--timeout", "1")
        assert code == 1 and "NOT_SERVING" in out, out
        code, out = run("availability", "SKU-1", "--target", target)
        assert code == 0 and "in stock" in out, out
        draining.result(10)
    finally:
        loaded.set()
        srv.stop()
    code, out = run("health", "--target", target, "--timeout", "1")
    assert code == 2 and "UNAVAILABLE" in out
