"""The cost model: rates, transit times, dates, and its TOML file."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import numpy as np
import pytest

from availability import InvalidArgument, LocationTable
from availability.locations import haversine_km
from availability.model import Channel, day_number
from router import (
    CostModel,
    LocationTypeRules,
    ParcelRates,
    ServiceLevel,
    TransitTimes,
    cost_model_for_snapshot,
    cost_model_from_mapping,
    load_cost_model,
    network_costs,
)
from tests.router.scenarios import CHANNELS, boston_locations

KM = np.array([0.0, 99.9, 100.0, 100.1, 450.0, 2400.0, 5000.0])


def table() -> LocationTable:
    return LocationTable(boston_locations(), [Channel(c) for c in CHANNELS])


def test_zone_rates_by_distance_band_and_service() -> None:
    m = CostModel()
    # bands are upper bounds, inclusive: 100 km is still zone 1
    assert m.parcel_cost(KM, ServiceLevel.STANDARD).tolist() == [600, 600, 600, 700, 820, 1250, 1400]
    assert m.parcel_cost(KM, ServiceLevel.EXPRESS).tolist() == [1080, 1080, 1080, 1260, 1476, 2250, 2520]
    assert m.per_kg_cost(KM, ServiceLevel.STANDARD).tolist() == [30, 30, 30, 45, 60, 125, 150]
    assert m.transit_days(KM, ServiceLevel.STANDARD).tolist() == [1, 1, 1, 2, 2, 5, 6]
    assert m.transit_days(KM, ServiceLevel.EXPRESS).tolist() == [1, 1, 1, 1, 1, 2, 3]


def test_per_km_rates_and_same_day() -> None:
    m = CostModel(parcel=ParcelRates(mode="per_km", base=500, per_km=0.5, per_kg=100.0))
    assert m.parcel_cost(np.array([0.0, 1000.0]), ServiceLevel.STANDARD).tolist() == [500, 1000]
    assert m.per_kg_cost(np.array([0.0, 1000.0]), ServiceLevel.STANDARD).tolist() == [100, 100]
    km = np.array([10.0, 60.0, 61.0])
    assert m.parcel_cost(km, ServiceLevel.SAME_DAY).tolist() == [1200, 3200, 3240]
    assert m.transit_days(km, ServiceLevel.SAME_DAY).tolist() == [0, 0, 0]
    assert m.in_range(km, ServiceLevel.SAME_DAY).tolist() == [True, True, False]
    assert m.in_range(km, ServiceLevel.STANDARD).all()


def test_network_costs_add_type_surcharges_to_each_location() -> None:
    costs = network_costs(table(), CostModel())
    ids = [loc.id for loc in boston_locations()]
    dc, store = ids.index("DC-EAST"), ids.index("ST-BOS")
    assert (costs.handling_per_order[dc], costs.handling_per_unit[dc]) == (150, 20)
    assert (costs.handling_per_order[store], costs.handling_per_unit[store]) == (400 + 150, 60 + 25)
    assert costs.protection[store] == 2 and costs.protection[dc] == 0
    assert network_costs(table(), CostModel()) is not costs  # another table: another entry
    t = table()
    assert network_costs(t, CostModel()) is network_costs(t, CostModel())  # equal models share


def test_distances_are_haversine() -> None:
    costs = network_costs(table(), CostModel())
    got = costs.distances_km(42.3601, -71.0589)
    want = haversine_km(42.3601, -71.0589, costs.lat, costs.lon)
    assert np.allclose(got, want)
    ids = [loc.id for loc in boston_locations()]
    assert got[ids.index("ST-BOS")] == pytest.approx(0.0, abs=1e-6)
    assert 4100 < got[ids.index("DC-WEST")] < 4200


def test_ship_days_follow_processing_time_cutoff_and_time_zone() -> None:
    costs = network_costs(table(), CostModel())
    ids = [loc.id for loc in boston_locations()]
    locs = np.arange(len(ids), dtype=np.int64)
    monday = day_number(datetime(2026, 1, 5).date())

    def days(at: datetime) -> dict[str, int]:
        return dict(zip(ids, (costs.ship_days(at, locs) - monday).tolist(), strict=True))

    # 10:00 in Boston: stores (2 h, cut-off 18:00) ship today; DCs (24 h) are ready tomorrow 10:00, before
    # their 15:00 cut-off; Los Angeles sees 07:00 and ships tomorrow too
    morning = days(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))
    assert morning["ST-BOS"] == 0 and morning["DK-BOS"] == 0 and morning["ST-CHI"] == 0
    assert morning["DC-EAST"] == 1 and morning["DC-WEST"] == 1
    # 17:00 in Boston: a store is ready at 19:00, after its 18:00 cut-off; Chicago (16:00) still ships
    evening = days(datetime(2026, 1, 5, 22, 0, tzinfo=UTC))
    assert evening["ST-BOS"] == 1 and evening["ST-CHI"] == 0 and evening["DK-BOS"] == 0
    # DCs: ready tomorrow 17:00 Boston time, after the 15:00 cut-off; Los Angeles 14:00, before it
    assert evening["DC-EAST"] == 2 and evening["DC-WEST"] == 1


def test_type_rules_override_cutoff_and_processing() -> None:
    rules = list(CostModel().location_types)
    rules[1] = LocationTypeRules(cutoff=time(9, 0), processing_hours=0)
    costs = network_costs(table(), CostModel(location_types=tuple(rules)))
    ids = [loc.id for loc in boston_locations()]
    at = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 in Boston, after the 09:00 cut-off
    day = costs.ship_days(at, np.array([ids.index("ST-BOS")], dtype=np.int64))[0]
    assert day - day_number(at.date()) == 1
    assert costs.handling_per_order[ids.index("ST-BOS")] == 400  # the override carries no surcharge


def test_unknown_time_zone_is_refused_with_the_location() -> None:
    from dataclasses import replace

    locs = boston_locations()
    locs[0] = replace(locs[0], timezone="Mars/Olympus")
    with pytest.raises(InvalidArgument, match="DC-EAST"):
        network_costs(LocationTable(locs, [Channel(c) for c in CHANNELS]), CostModel())


README = Path(__file__).resolve().parents[2] / "README.md"


def documented_file() -> str:
    """The TOML block of README's "The cost model file" section."""
    text = README.read_text()
    at = text.index("### The cost model file")
    start = text.index("```toml\n", at) + len("```toml\n")
    return text[start : text.index("```", start)]


def test_the_documented_file_spells_out_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(documented_file())
    assert load_cost_model(path) == CostModel()
    assert cost_model_for_snapshot(tmp_path) == CostModel()
    assert cost_model_for_snapshot(tmp_path / "nowhere") == CostModel()


def test_toml_values_reach_the_model() -> None:
    m = cost_model_from_mapping(
        {
            "parcel": {"mode": "per_km", "base": 300, "per_km": 1.5, "per_kg": 50},
            "shipments": {"extra_shipment_cost": 0},
            "location_types": {"distribution_center": {"cutoff": "12:30", "processing_hours": 48}},
            "transit": {"max_km": [500], "standard_days": [2, 4], "express_days": [1, 2]},
        }
    )
    assert m.parcel == ParcelRates(mode="per_km", base=300, per_km=1.5, per_kg=50.0)
    assert m.extra_shipment_cost == 0
    assert m.location_types[0] == LocationTypeRules(cutoff=time(12, 30), processing_hours=48)
    assert m.transit == TransitTimes(max_km=(500.0,), standard_days=(2, 4), express_days=(1, 2))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"parcle": {}}, "[parcle]"),
        ({"parcel": {"zone_costs": [1]}}, "parcel.zone_costs"),
        ({"parcel": {"mode": "flat"}}, "parcel.mode"),
        ({"parcel": {"zone_max_km": [100, 50]}}, "parcel.zone_max_km"),
        ({"parcel": {"zone_cost": [1, 2]}}, "parcel.zone_cost"),
        ({"parcel": {"per_km": -1}}, "parcel.per_km"),
        ({"transit": {"standard_days": [1, 2]}}, "transit.standard_days"),
        ({"same_day": {"max_km": 0}}, "same_day.max_km"),
        ({"shipments": {"extra_shipment_cost": -5}}, "shipments.extra_shipment_cost"),
        ({"protection": {"penalty_per_unit": 1.5}}, "protection.penalty_per_unit"),
        ({"express": {"cost_percent": "x"}}, "express.cost_percent"),
        ({"location_types": {"kiosk": {}}}, "location_types.kiosk"),
        ({"location_types": {"store": {"cutoff": "25:00"}}}, "location_types.store.cutoff"),
        ({"location_types": {"store": {"protection": 2}}}, "location_types.store.protection"),
        ({"location_types": {"store": {"protection_level": -1}}}, "location_types.store.protection_level"),
    ],
)
def test_bad_files_name_the_key(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        cost_model_from_mapping(data, "routing.toml")
    assert err.value.field.startswith("routing.toml")
    assert field in err.value.field


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot be read"):
        load_cost_model(tmp_path / "missing.toml")
    bad = tmp_path / "routing.toml"
    bad.write_text("[parcel\n")
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        load_cost_model(bad)


def test_model_validation_at_construction() -> None:
    with pytest.raises(InvalidArgument, match="location_types"):
        CostModel(location_types=(LocationTypeRules(),))
    with pytest.raises(InvalidArgument, match="default_unit_weight_g"):
        CostModel(default_unit_weight_g=-1)
