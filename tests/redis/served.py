"""`omniroute serve --redis` as a real subprocess on a free port of 127.0.0.1, for the fault and load tests:
started, waited for until SERVING, killed with SIGKILL, started again on the same port, and its resident
memory read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from omniroute.client import Client
from omniroute.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


class Served:
    """One replica process. Its log goes to a file in `log_dir` (read it when a test fails)."""

    def __init__(self, redis_url: str, prefix: str, log_dir: Path, *, name: str = "replica") -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.port = free_port()
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, timeout: float = 120.0) -> Served:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-c", "from omniroute.cli import main; main()", "serve"]
        cmd += ["--redis", self.redis_url, "--redis-prefix", self.prefix, "--port", str(self.port)]
        cmd += ["--grace-seconds", "1", "--log-level", "WARNING"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with Client(self.target, timeout=2) as c:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"the replica exited with {self.proc.returncode}:\n{self.log()}")
                try:
                    if c.health() == "SERVING":
                        return
                except grpc.RpcError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise AssertionError(f"the replica was not SERVING after {timeout} s:\n{self.log()}")
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no drain, no clean-up, whatever it was doing left in the middle."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def rss_bytes(self) -> int:
        """Resident memory now (VmRSS of /proc/<pid>/status)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-4000:]
