"""`omniroute serve --workers N`: N processes share the port (SO_REUSEPORT), each a replica of the Redis
ledger; the supervisor restarts a worker that dies and drains them all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner

from omniroute.cli import main
from omniroute.client import Client
from omniroute.redis_server import RedisServer, free_port
from tests.redis.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]


def _workers_seen(target: str, connections: int = 24) -> set[tuple[int, int]]:
    seen: set[tuple[int, int]] = set()
    for _ in range(connections):  # a new connection each time: the kernel picks a worker per connection
        try:
            with Client(target, timeout=5) as c:
                if c.health() == "SERVING":  # loaded and its ledger reachable
                    info = c.server_info()
                    seen.add((info.worker, info.pid))
        except grpc.RpcError:
            continue  # a worker still starting
    return seen


def test_two_workers_share_the_port_restart_and_drain(redis_server: RedisServer, prefix: str) -> None:
    port, metrics = free_port(), free_port()
    target = f"127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "from omniroute.cli import main; main()", "serve", "--workers", "2"]
    cmd += ["--redis", redis_server.url, "--redis-prefix", prefix, "--port", str(port), "--grace-seconds", "1"]
    cmd += ["--metrics-port", str(metrics)]
    sup = subprocess.Popen(cmd, env=env)
    try:
        eventually(lambda: len({w for w, _ in _workers_seen(target)}) == 2, timeout=120, what="both workers")
        before = dict(_workers_seen(target, 40))
        with Client(target, timeout=5) as c:
            assert c.health() == "SERVING"
            assert c.server_info().backend.startswith("redis")
        # each worker counts its own calls, worker i on the metrics port + i - 1
        for m in (metrics, metrics + 1):
            with urllib.request.urlopen(f"http://127.0.0.1:{m}/metrics", timeout=5) as page:
                assert b"grpc_server_handled_total" in page.read()
        os.kill(before[1], signal.SIGKILL)  # a worker dies: the supervisor starts it again
        eventually(
            lambda: any(w == 1 and pid != before[1] for w, pid in _workers_seen(target)),
            timeout=60,
            what="worker 1 restarted",
        )
    finally:
        sup.send_signal(signal.SIGTERM)
        code = sup.wait(timeout=60)
    assert code == 0
    time.sleep(0.2)
    with pytest.raises(grpc.RpcError), Client(target, timeout=2) as c:
        c.ping()


def test_more_than_one_worker_needs_redis_and_a_fixed_port() -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["serve", "--workers", "2"])
    assert out.exit_code != 0 and "embedded ledger is one process" in out.output
    out = runner.invoke(main, ["serve", "--workers", "2", "--redis", "redis://127.0.0.1:1/0", "--port", "0"])
    assert out.exit_code != 0 and "--port" in out.output
    out = runner.invoke(main, ["serve", "--workers", "0"])
    assert out.exit_code != 0 and "[1, 64]" in out.output
