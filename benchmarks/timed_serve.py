"""`omniroute serve`, with two measurements for benchmarks/bench_holds.py (the service itself unchanged):

- every ledger call that Runtime.write makes (reserve, release, ...): count, wall time and the CPU time of
  the thread that ran it (a write thread for the Redis ledger);
- the CPU time of each thread of the process, by Python thread name (numbered names merged; threads
  Python did not start, gRPC's C-core pollers, as "native").

    BENCH_STATS=/tmp/stats.json python benchmarks/timed_serve.py serve --port 0 ...

On SIGUSR1 the cumulative figures are written to $BENCH_STATS (JSON, replaced atomically), so a caller
takes one reading before and one after each phase.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from omniroute import runtime  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")
_calls: dict[str, list[float]] = {}  # ledger method -> [calls, wall s, thread CPU s]
_lock = threading.Lock()


def _timed(fn: Callable[..., Any]) -> Callable[..., Any]:
    name = getattr(fn, "__name__", "?")

    def call(*args: Any, **kwargs: Any) -> Any:
        w, c = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            dw, dc = time.perf_counter() - w, time.thread_time() - c
            with _lock:
                s = _calls.setdefault(name, [0, 0.0, 0.0])
                s[0] += 1
                s[1] += dw
                s[2] += dc

    return call


def install() -> None:
    """Wrap Runtime.write so that the ledger call it is given is timed on whichever thread runs it."""
    original = runtime.Runtime.write

    async def write(
        self: runtime.Runtime, work: int, inline_below: int, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        return await original(self, work, inline_below, _timed(fn), *args, **kwargs)

    runtime.Runtime.write = write  # type: ignore[method-assign]


def thread_cpu() -> dict[str, float]:
    """CPU seconds of every thread of this process, summed by Python thread name."""
    names = {t.native_id: re.sub(r"[-_]?\d+$", "", t.name) for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        name = names.get(int(task.name), "native")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICK
    return out


def dump(path: str) -> None:
    with _lock:
        doc = {"calls": {k: list(v) for k, v in _calls.items()}, "threads": thread_cpu()}
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(doc))
    os.replace(tmp, path)


def main() -> None:
    path = os.environ["BENCH_STATS"]
    install()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        dump(path)

    signal.signal(signal.SIGUSR1, on_signal)
    from omniroute.cli import main as cli

    sys.argv = ["omniroute", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
