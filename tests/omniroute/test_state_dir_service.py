"""`omniroute serve --state-dir`: configuration, the real server keeping its ledger across restarts (in
process and as the `omniroute serve` subprocess), and one server per directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omniroute.client import Client, HoldLine, Outcome, ReservationStatus, ServiceError, StockEvent
from omniroute.config import ConfigError, ServerConfig
from omniroute.server import with_state_dir

from .fixtures import ServerThread, tiny_ledger, with_config

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------- configuration
def test_state_dir_from_a_flag_or_the_environment() -> None:
    c = ServerConfig.load({}, {"OMNIROUTE_STATE_DIR": "/srv/ledger", "OMNIROUTE_STATE_FSYNC": "off"})
    assert (c.state_dir, c.state_fsync) == (Path("/srv/ledger"), False)
    c = ServerConfig.load({"state_dir": "/a", "state_fsync": True}, {"OMNIROUTE_STATE_DIR": "/b"})
    assert (c.state_dir, c.state_fsync) == (Path("/a"), True)
    assert ServerConfig.load({}, {}).state_dir is None and ServerConfig().state_fsync is True


@pytest.mark.parametrize(
    ("flags", "env", "source"),
    [
        ({"state_dir": "/srv/ledger", "redis_url": "redis://localhost:6379/0"}, {}, "--state-dir"),
        ({"redis_url": "redis://localhost:6379/0"}, {"OMNIROUTE_STATE_DIR": "/srv/ledger"}, "OMNIROUTE_STATE_DIR"),
        ({}, {"OMNIROUTE_STATE_FSYNC": "sometimes"}, "OMNIROUTE_STATE_FSYNC"),
    ],
)
def test_bad_state_settings_name_their_flag_or_variable(
    flags: dict[str, str], env: dict[str, str], source: str
) -> None:
    with pytest.raises(ConfigError) as err:
        ServerConfig.load(flags, env)
    assert err.value.source == source
    if "redis_url" in flags:
        assert "--state-dir or --redis, not both" in str(err.value)


def test_serve_refuses_a_state_dir_with_redis(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "omniroute.cli", "serve", "--state-dir", str(tmp_path), "--redis", "redis://x:1/0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "--state-dir" in out.stderr and "not both" in out.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was started, nothing written


# ---------------------------------------------------------------------------------------------- the real server
def _serve(state_dir: Path) -> ServerThread:
    config = with_config(state_dir=state_dir, state_fsync=False)
    return ServerThread(config, with_state_dir(config, tiny_ledger)).start()


def test_a_restarted_server_keeps_its_ledger(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    sale = StockEvent("pos-1", "sale", "S-BOS", "SKU-1", 1, now, channel="pos")
    srv = _serve(tmp_path)
    try:
        with Client(srv.target, timeout=10) as c:
            assert c.apply_stock_events([sale]).outcomes == (Outcome.APPLIED,)
            held = c.reserve("cart-1", "web", [HoldLine("SKU-1", 2, location="DC-EAST")], ttl_seconds=600)
            positions = c.get_positions(["SKU-1"]).positions
            sequence = c.server_info().sequence
    finally:
        srv.stop()

    srv = _serve(tmp_path)
    try:
        with Client(srv.target, timeout=10) as c:
            assert c.server_info().sequence == sequence
            assert c.get_positions(["SKU-1"]).positions == positions
            assert c.apply_stock_events([sale]).outcomes == (Outcome.DUPLICATE,)
            again = c.get_reservation("cart-1")
            assert (again.status, again.held, again.expires_at) == (ReservationStatus.HELD, 2, held.expires_at)
            assert c.reconcile().inconsistencies == ()
    finally:
        srv.stop()


def test_a_second_server_on_the_same_directory_does_not_start(tmp_path: Path) -> None:
    first = _serve(tmp_path)
    try:
        config = with_config(state_dir=tmp_path, state_fsync=False)
        second = ServerThread(config, with_state_dir(config, tiny_ledger))
        try:
            with pytest.raises(Exception, match="in use by another process"):
                second.start()
        finally:
            second.stop()
        with Client(first.target, timeout=10) as c:
            assert c.health() == "SERVING"
    finally:
        first.stop()


def _start(tmp_path: Path, sock: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMNIROUTE_UNIX_SOCKET": str(sock), "OMNIROUTE_LOG_LEVEL": "info"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "omniroute.cli",
            "serve",
            "--port",
            "off",
            "--state-dir",
            str(tmp_path / "ledger"),
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_serving(proc: subprocess.Popen[str], c: Client, sock: Path) -> None:
    deadline = time.monotonic() + 120  # a bound for a stuck start (numba may compile on a first run)
    while True:
        if proc.poll() is not None:
            pytest.fail(f"omniroute serve exited with {proc.returncode}: {proc.communicate()[1]}")
        if sock.exists():
            try:
                if c.health(timeout=1) == "SERVING":
                    return
            except ServiceError:
                pass
        assert time.monotonic() < deadline, "omniroute serve not SERVING after 120 s"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return err


def test_omniroute_serve_with_a_state_dir_keeps_holds_and_events_across_a_restart(tmp_path: Path) -> None:
    sock = tmp_path / "serve.sock"
    now = datetime.now(UTC)
    proc = _start(tmp_path, sock, "--data", str(ROOT / "examples" / "snapshot"))
    try:
        with Client(f"unix:{sock}", timeout=10) as c:
            _wait_serving(proc, c, sock)
            c.apply_stock_events([StockEvent("wms-1", "receipt", "DC-EAST", "TEE-WHT-M", 10, now)])
            c.reserve("order-1", "web", [HoldLine("TEE-WHT-M", 3, location="DC-EAST")], ttl_seconds=600)
            c.confirm("order-1")
            c.reserve("cart-1", "web", [("TEE-WHT-M", 1)], ttl_seconds=1)  # expires while the server is down
            positions = c.get_positions(["TEE-WHT-M"]).positions
        err = _stop(proc)
        assert "empty; the ledger's first state is checkpoint 1" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    time.sleep(1.1)  # past cart-1's deadline (the expiry after the start is what is checked)
    proc = _start(tmp_path, sock)  # no --data: the state directory holds the ledger
    try:
        with Client(f"unix:{sock}", timeout=10) as c:
            _wait_serving(proc, c, sock)
            assert c.get_positions(["TEE-WHT-M"]).positions == positions
            assert c.get_reservation("order-1").status is ReservationStatus.CONFIRMED
            deadline = time.monotonic() + 30
            while c.get_reservation("cart-1").status is not ReservationStatus.EXPIRED:
                assert time.monotonic() < deadline, "the overdue hold was never expired"
                time.sleep(0.05)
            batch = c.apply_stock_events([StockEvent("wms-1", "receipt", "DC-EAST", "TEE-WHT-M", 10, now)])
            assert batch.outcomes == (Outcome.DUPLICATE,)
        err = _stop(proc)
        assert "journal entries replayed" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
