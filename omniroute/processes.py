"""Child processes the tools start and must not leave behind (a throw-away redis-server, an `omniroute
serve` measured by the benchmarks)."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(proc: subprocess.Popen[Any] | None, timeout_s: float) -> None:
    """SIGTERM and up to `timeout_s` for a clean shutdown, then SIGKILL; nothing for a process already
    gone (or None)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
