"""ATP rules from TOML: atp.toml in a snapshot directory, or `omniroute serve --atp-config FILE`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from availability import AtpConfig, InvalidArgument, Method, StockStore
from availability.ingest import load_snapshot, write_snapshot
from availability.model import atp_config_from_mapping, load_atp_config
from omniroute.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "snapshot"


def test_every_key_sets_its_rule_and_missing_keys_keep_the_defaults() -> None:
    cfg = atp_config_from_mapping(
        {
            "promising": {"in_transit_percent": 90, "on_order_percent": 37.5},
            "safety_stock": {"store": 4, "dark_store": 2},
            "status": {"low_stock_network": 25},
        }
    )
    assert cfg.inbound_share_bp == (9000, 3750)
    assert cfg.default_safety == (0, 4, 2, 0)
    assert (cfg.low_stock_network, cfg.low_stock_location) == (25, AtpConfig().low_stock_location)
    assert atp_config_from_mapping({}) == AtpConfig()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"promising": {"in_transit_percent": 101}}, "promising.in_transit_percent"),
        ({"promising": {"on_order_percent": "40"}}, "promising.on_order_percent"),
        ({"safety_stock": {"store": -1}}, "safety_stock.store"),
        ({"safety_stock": {"warehouse": 1}}, "safety_stock.warehouse"),
        ({"status": {"low_stock_location": 1.5}}, "status.low_stock_location"),
        ({"routing": {}}, "[routing]"),
        ({"status": 3}, "[status]"),
    ],
)
def test_bad_values_name_the_key(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        atp_config_from_mapping(data, "atp.toml")
    assert field in err.value.field


def test_a_file_that_is_not_toml_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "atp.toml"
    bad.write_text("[promising\nin_transit_percent = 3")
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        load_atp_config(bad)
    with pytest.raises(InvalidArgument, match="cannot be read"):
        load_atp_config(tmp_path / "missing.toml")


def test_the_config_travels_with_a_snapshot_and_changes_atp(tmp_path: Path) -> None:
    snap = load_snapshot(EXAMPLE)
    plain = StockStore.from_snapshot(snap)
    snap.config = AtpConfig(default_safety=(0, 50, 50, 0))
    write_snapshot(snap, tmp_path / "snap", format="csv")
    assert (tmp_path / "snap" / "atp.toml").exists()
    again = load_snapshot(tmp_path / "snap")
    assert again.config == snap.config
    strict = StockStore.from_snapshot(again)
    web = plain.network.channel_index("web")
    totals_plain = sum(plain.atp(s, web, Method.SHIP) for s in range(len(plain.skus)))
    totals_strict = sum(strict.atp(s, web, Method.SHIP) for s in range(len(strict.skus)))
    assert totals_strict < totals_plain


def test_serve_rejects_a_bad_atp_config_before_starting(tmp_path: Path) -> None:
    bad = tmp_path / "atp.toml"
    bad.write_text("[status]\nlow_stock_network = -3\n")
    result = CliRunner().invoke(main, ["serve", "--atp-config", str(bad), "--port", "0"])
    assert result.exit_code == 2
    assert "low_stock_network" in result.output
