"""omniroute.processes.stop_process: a child is gone when it returns, whether it stops on SIGTERM or not."""

from __future__ import annotations

import signal
import subprocess
import sys

from omniroute.processes import stop_process


def _child(code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"  # its handlers are in place
    return proc


def test_a_child_that_stops_on_sigterm_is_terminated() -> None:
    proc = _child("import time; print('ready', flush=True); time.sleep(60)")
    stop_process(proc, 10)
    assert proc.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    proc = _child(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(60)"
    )
    stop_process(proc, 0.2)
    assert proc.returncode == -signal.SIGKILL


def test_a_child_already_gone_or_none_is_left_alone() -> None:
    proc = _child("print('ready', flush=True)")
    proc.wait()
    stop_process(proc, 1)
    assert proc.returncode == 0
    stop_process(None, 1)
