"""The committed stubs in omniroute/v1 are exactly what scripts/gen_protos.py makes from proto/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh_dir = tmp_path / "omniroute" / "v1"
    committed_dir = ROOT / "omniroute" / "v1"
    fresh = {p.name for p in fresh_dir.glob("*.py*")}
    committed = {p.name for p in committed_dir.glob("*.py*")}
    assert fresh == committed, "a stub was added or removed: run scripts/gen_protos.py and commit"
    stale = [n for n in sorted(fresh) if (fresh_dir / n).read_bytes() != (committed_dir / n).read_bytes()]
    assert not stale, f"stale generated files {stale}: run scripts/gen_protos.py and commit"
