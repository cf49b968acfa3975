"""A real, throw-away redis-server on a free port of 127.0.0.1, for the Redis ledger's tests and for
`omniroute bench`. Never a server the user runs (such as one on 6379), never a fake: each instance gets
its own port and data directory.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from omniroute.processes import stop_process


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, *, persistence: bool = False, extra: tuple[str, ...] = ()) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError(
                "redis-server is not installed; install it with 'apt-get install redis-server' "
                "(scripts/test.sh does this automatically when run as root)"
            )
        self.exe = exe
        self.persistence = persistence
        self.extra = extra
        self.dir = Path(tempfile.mkdtemp(prefix="omniroute-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.version = ""  # the server's, once started

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [
            self.exe,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistence else "no",
            "--appendfsync",
            "always" if self.persistence else "no",
            "--daemonize",
            "no",
            "--logfile",
            str(self.dir / "redis.log"),
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.version = str(client.info("server").get("redis_version", ""))
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "redis.log").read_text() if (self.dir / "redis.log").exists() else ""
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}") from None
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        stop_process(self.proc, 10)
        self.proc = None

    def kill(self) -> None:
        """Die without a clean shutdown (crash tests)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
