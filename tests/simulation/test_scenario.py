"""Scenario files: the examples load, defaults fill what is left out, and every bad key or value is refused
with the file, the key and the value named, before any work."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from availability.errors import InvalidArgument
from omniroute.simulation import load_scenario, scenario_from_mapping
from omniroute.simulation.run import load_network
from omniroute.simulation.scenario import ALL_POLICIES, Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"


@pytest.mark.parametrize("name", ["small-3-days.toml", "medium-week.toml"])
def test_example_scenarios_load(name: str) -> None:
    sc = load_scenario(EXAMPLES / name)
    assert sc.source.endswith(name)
    assert set(sc.run.policies) == set(ALL_POLICIES)
    assert sc.network.snapshot is None and sc.network.size in ("small", "medium")


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    sc = load_scenario(path)
    assert sc == Scenario(name="empty", source=str(path))
    assert sc.run.days == 3 and sc.run.start_date == date(2026, 1, 5) and sc.run.policies == ALL_POLICIES


def test_values_are_read(tmp_path: Path) -> None:
    sc = scenario_from_mapping(
        {
            "name": "x",
            "run": {"days": 2, "start_date": date(2026, 3, 1), "policies": ["nearest"], "max_shipments": 2},
            "demand": {"online_orders_per_day": 10, "channels": {"web": 1}, "methods": {"pickup": 2, "standard": 1}},
            "rates": {"walk_ins_respect_holds": False, "phantom_stock": 0.5},
            "promise": {"standard_days": 3},
            "network": {"snapshot": str(tmp_path)},
        }
    )
    assert sc.run.days == 2 and sc.run.start_date == date(2026, 3, 1) and sc.run.policies == ("nearest",)
    assert sc.demand.channels == (("web", 1.0),) and sc.demand.methods == (("pickup", 2.0), ("standard", 1.0))
    assert sc.rates.walk_ins_respect_holds is False and sc.rates.phantom_stock == 0.5
    assert sc.promise.standard_days == 3 and sc.promise.express_days == 2
    assert sc.network.snapshot == tmp_path


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        ({"runs": {}}, "s.toml: [runs]", "runs"),
        ({"run": {"dayz": 3}}, "s.toml: run.dayz", 3),
        ({"run": []}, "s.toml: [run]", []),
        ({"run": {"days": 0}}, "s.toml: run.days", 0),
        ({"run": {"days": 2.5}}, "s.toml: run.days", 2.5),
        ({"run": {"days": True}}, "s.toml: run.days", True),
        ({"run": {"start_date": "2026-02-30"}}, "s.toml: run.start_date", "2026-02-30"),
        ({"run": {"policies": ["optimal", "cheapest"]}}, "s.toml: run.policies[1]", "cheapest"),
        ({"run": {"policies": []}}, "s.toml: run.policies", []),
        ({"run": {"policies": ["nearest", "nearest"]}}, "s.toml: run.policies", ["nearest", "nearest"]),
        ({"run": {"time_limit_s": 0}}, "s.toml: run.time_limit_s", 0),
        ({"network": {"size": "huge"}}, "s.toml: network.size", "huge"),
        ({"network": {"snapshot": "no/such/dir"}}, "s.toml: network.snapshot", "no/such/dir"),
        ({"network": {"routing_config": "nope.toml"}}, "s.toml: network.routing_config", "nope.toml"),
        ({"demand": {"online_orders_per_day": -1}}, "s.toml: demand.online_orders_per_day", -1),
        ({"demand": {"mean_lines": 9, "max_lines": 4}}, "s.toml: demand.mean_lines", 9),
        ({"demand": {"methods": {"teleport": 1}}}, "s.toml: demand.methods.teleport", "teleport"),
        ({"demand": {"methods": {"pickup": 0}}}, "s.toml: demand.methods", {"pickup": 0}),
        ({"demand": {"channels": {"web": "lots"}}}, "s.toml: demand.channels.web", "lots"),
        ({"demand": {"channels": ["web"]}}, "s.toml: demand.channels", ["web"]),
        ({"rates": {"phantom_stock": 1.5}}, "s.toml: rates.phantom_stock", 1.5),
        ({"rates": {"cart_ttl_minutes": 1}}, "s.toml: rates.cart_ttl_minutes", 1),
        ({"rates": {"walk_ins_respect_holds": "yes"}}, "s.toml: rates.walk_ins_respect_holds", "yes"),
        ({"replenishment": {"hour_utc": 24}}, "s.toml: replenishment.hour_utc", 24),
        ({"promise": {"standard_days": -1}}, "s.toml: promise.standard_days", -1),
        ({"name": ""}, "s.toml: name", ""),
    ],
)
def test_bad_values_name_the_key_and_value(data: dict[str, Any], field: str, value: object, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        scenario_from_mapping(data, source="s.toml", base_dir=tmp_path)
    assert err.value.field == field
    assert err.value.value == value or str(err.value.value).endswith(str(value))


def test_a_snapshot_and_a_size_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        scenario_from_mapping({"network": {"snapshot": ".", "size": "small"}}, source="s.toml", base_dir=tmp_path)
    assert err.value.field == "s.toml: network.size" and "not both" in err.value.reason


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument) as err:
        load_scenario(tmp_path / "missing.toml")
    assert err.value.field == "scenario" and "cannot be read" in err.value.reason
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\ndays = 3\n")
    with pytest.raises(InvalidArgument) as err:
        load_scenario(bad)
    assert "not valid TOML" in err.value.reason


def test_a_channel_the_network_lacks_is_named() -> None:
    sc = scenario_from_mapping({"network": {"size": "demo"}, "demand": {"channels": {"web": 1, "kiosk": 1}}})
    with pytest.raises(InvalidArgument) as err:
        load_network(sc)
    assert err.value.field == "scenario: demand.channels.kiosk" and err.value.value == "kiosk"


def test_a_snapshot_directory_is_relative_to_the_scenario_file(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    path = tmp_path / "s.toml"
    path.write_text('[network]\nsnapshot = "net"\n')
    assert load_scenario(path).network.snapshot == tmp_path / "net"
