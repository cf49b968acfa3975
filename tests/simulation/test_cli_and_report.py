"""`omniroute simulate` end to end through the CLI, and the report rendered by a real headless browser."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from PIL import Image

from omniroute.cli import main
from omniroute.simulation import SimulationResult

from .conftest import scenario_text

TINY = {
    "name": "tiny",
    "network": {"size": "demo", "seed": 7},
    "run": {"days": 2, "seed": 2, "policies": ["optimal", "nearest"]},
    "demand": {"online_orders_per_day": 60, "walk_ins_per_store_per_day": 10},
}


def test_simulate_through_the_cli(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(scenario_text(TINY))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["simulate", str(scenario), "--out", str(out), "--days", "1", "--policy", "nearest"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cost / order ($)" in result.output and "nearest" in result.output and "optimal" not in result.output
    assert "report:" in result.output
    for name in ("orders", "shipments", "stock", "stockouts", "daily", "metrics"):
        assert (out / f"{name}.parquet").is_file()
    m = pl.read_parquet(out / "metrics.parquet")
    assert m["policy"].to_list() == ["nearest"] and m["orders"][0] > 0
    assert pl.read_parquet(out / "daily.parquet")["day"].to_list() == [0]
    assert (out / "scenario.toml").read_text() == scenario.read_text()


@pytest.mark.parametrize(
    ("body", "args", "named"),
    [
        ('[run]\ndays = "three"\n', [], "run.days"),
        ("[rates]\nphantom = 0.1\n", [], "rates.phantom"),
        ("", ["--policy", "cheapest"], "policy"),
    ],
)
def test_a_bad_scenario_is_refused_naming_the_key_and_writes_nothing(
    tmp_path: Path, body: str, args: list[str], named: str
) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(body)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--out", str(out), *args])
    assert result.exit_code == 1
    assert named in result.output and "Traceback" not in result.output
    assert not out.exists()


# ------------------------------------------------------------------------------------ headless browser
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images].map(i => {
    const r = i.getBoundingClientRect();
    return {complete: i.complete, nw: i.naturalWidth, nh: i.naturalHeight,
            x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
  });
  document.body.setAttribute('data-render', JSON.stringify(
    {imgs, height: document.documentElement.scrollHeight, svgs: document.querySelectorAll('svg').length}));
});
</script></body>"""
_WIDTH = 1200


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium: scripts/test.sh installs Debian's chromium package when it can")


def _browser(binary: str, *args: str) -> str:
    run = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return run.stdout


def test_the_report_renders_with_every_plot_visible(demo_run: tuple[SimulationResult, Path], tmp_path: Path) -> None:
    """Open the report in headless Chromium: every plot decodes and lays out at a useful size (the DOM as
    the browser built it), and each one's area of the screenshot is mostly not blank."""
    binary = _chromium()
    _, out = demo_run
    page = (out / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE))
    dom = _browser(binary, f"--window-size={_WIDTH},1000", "--dump-dom", probe.as_uri())
    start = dom.index("data-render=") + len("data-render=") + 1
    quote = dom[start - 1]
    info = json.loads(dom[start : dom.index(quote, start)].replace("&quot;", '"'))
    imgs = info["imgs"]
    assert len(imgs) == 4
    for img in imgs:
        assert img["complete"] and img["nw"] > 400 and img["nh"] > 100, img
        assert img["w"] > 400 and img["h"] > 100, img
    shot = tmp_path / "report.png"
    _browser(binary, f"--window-size={_WIDTH},{info['height']}", f"--screenshot={shot}", (out / "report.html").as_uri())
    image = Image.open(shot).convert("L")
    assert image.size[0] == _WIDTH
    for img in imgs:
        box = (int(img["x"]), int(img["y"]), int(img["x"] + img["w"]), int(img["y"] + img["h"]))
        inked = float((np.asarray(image.crop(box)) < 230).mean())
        assert inked > 0.02, (box, inked)  # drawn bars, lines, dots, text: not a blank rectangle
