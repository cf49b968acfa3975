"""Working days (routing.toml `[calendar]`): ship dates roll to a location's next working day, transit
counts the carriers' working days, holidays stop both, a location type may ship on other days; routing,
deliver-by checks and quotes all read the same dates. The default calendar is every day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from availability import InvalidArgument, LocationTable
from availability.model import Channel, day_number
from router import (
    Calendar,
    CostModel,
    LocationTypeRules,
    build_problem,
    cost_model_from_mapping,
    load_cost_model,
    network_costs,
    solve,
)
from router.model import DeliveryMethod, UnfulfilledReason
from router.promise import quote_fulfillment_options

from .scenarios import BOSTON, CHANNELS, boston, boston_locations, order

# Friday 2026-01-09, 10:00 in Boston: the stores (2 h) ship today, the DCs (24 h) are ready on Saturday
FRIDAY = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
WORKWEEK = ("mon", "tue", "wed", "thu", "fri")
WEEKDAYS_ONLY = Calendar(ship_days=WORKWEEK, delivery_days=WORKWEEK)
IDS = [loc.id for loc in boston_locations()]


def ship_and_delivery(model: CostModel, at: datetime, *, loc: str, transit: int) -> tuple[date, date]:
    costs = network_costs(LocationTable(boston_locations(), [Channel(c) for c in CHANNELS]), model)
    locs = np.array([IDS.index(loc)], dtype=np.int64)
    ship = costs.ship_days(at, locs)
    arrive = costs.delivery_days(ship, np.array([transit], dtype=np.int64))
    epoch = date(1970, 1, 1)
    return date.fromordinal(epoch.toordinal() + int(ship[0])), date.fromordinal(epoch.toordinal() + int(arrive[0]))


def test_the_default_calendar_is_every_day() -> None:
    # the DC is ready on Saturday and ships then; one day of transit lands on Sunday
    assert ship_and_delivery(CostModel(), FRIDAY, loc="DC-EAST", transit=1) == (date(2026, 1, 10), date(2026, 1, 11))


def test_ship_dates_roll_to_the_next_working_day_and_transit_counts_delivery_days() -> None:
    model = CostModel(calendar=WEEKDAYS_ONLY)
    # ready Saturday 10:00: no shipping at weekends, so Monday; a day of transit: Tuesday
    assert ship_and_delivery(model, FRIDAY, loc="DC-EAST", transit=1) == (date(2026, 1, 12), date(2026, 1, 13))
    # the store ships on Friday; two days of transit skip the weekend: Monday is one, Tuesday two
    assert ship_and_delivery(model, FRIDAY, loc="ST-NYC", transit=2) == (date(2026, 1, 9), date(2026, 1, 13))
    # Sunday order: after no cut-off at all, yet the first ship day is Monday
    sunday = datetime(2026, 1, 11, 15, 0, tzinfo=UTC)
    assert ship_and_delivery(model, sunday, loc="ST-BOS", transit=1) == (date(2026, 1, 12), date(2026, 1, 13))


def test_holidays_stop_shipping_and_delivery() -> None:
    model = CostModel(calendar=Calendar(holidays=(date(2026, 12, 25), date(2026, 12, 26))))
    # Thursday 24 December, 17:00 in Boston: the store is ready at 19:00, after its cut-off; Christmas
    # and the 26th are holidays, so it ships on Sunday the 27th (this calendar ships every weekday)
    eve = datetime(2026, 12, 24, 22, 0, tzinfo=UTC)
    assert ship_and_delivery(model, eve, loc="ST-BOS", transit=1) == (date(2026, 12, 27), date(2026, 12, 28))
    # shipped on the 24th before the cut-off, a day of transit passes both holidays
    morning = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    assert ship_and_delivery(model, morning, loc="ST-BOS", transit=1) == (date(2026, 12, 24), date(2026, 12, 27))


def test_a_location_type_ships_on_its_own_days() -> None:
    rules = list(CostModel().location_types)
    rules[1] = LocationTypeRules(handling_per_order=150, handling_per_unit=25, protection_level=2,
                                 ship_days=("mon", "tue", "wed", "thu", "fri", "sat", "sun"))  # fmt: skip
    model = CostModel(calendar=WEEKDAYS_ONLY, location_types=tuple(rules))
    saturday = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    # the store ships on Saturday (its type's days), the carrier delivers on Monday
    assert ship_and_delivery(model, saturday, loc="ST-BOS", transit=1) == (date(2026, 1, 10), date(2026, 1, 12))
    # the DC keeps the network's days: ready Sunday, ships Monday
    assert ship_and_delivery(model, saturday, loc="DC-EAST", transit=1) == (date(2026, 1, 12), date(2026, 1, 13))


def test_routing_deliver_by_and_quotes_read_the_same_dates() -> None:
    model = CostModel(calendar=WEEKDAYS_ONLY)
    store = boston({("A", "DC-EAST"): 10, ("A", "ST-NYC"): 5})
    # DC-EAST: ships Monday, arrives Tuesday; ST-NYC: ships Friday, 2 days: Tuesday. Every day they
    # would arrive Sunday and Sunday; by Monday nothing arrives with this calendar
    late = order(("A", 1), placed_at=FRIDAY, deliver_by=date(2026, 1, 12))
    result = solve(build_problem(store, late, cost_model=model))
    assert not result.shipments and result.unfulfilled[0].reason is UnfulfilledReason.DELIVER_BY
    assert solve(build_problem(store, late)).shipments  # the default calendar makes it
    ok = solve(build_problem(store, order(("A", 1), placed_at=FRIDAY, deliver_by=date(2026, 1, 13)), cost_model=model))
    assert [(s.location, s.ship_date, s.delivery_date) for s in ok.shipments] == [
        ("DC-EAST", date(2026, 1, 12), date(2026, 1, 13))
    ]
    q = quote_fulfillment_options(store, [("A", 1)], BOSTON, channel="web", cost_model=model, now=FRIDAY)
    assert q.option(DeliveryMethod.STANDARD).delivery_date == date(2026, 1, 13)
    assert q.option(DeliveryMethod.STANDARD).cost == ok.total_cost


def test_pickup_is_ready_on_the_next_working_day_at_the_cut_off() -> None:
    model = CostModel(calendar=WEEKDAYS_ONLY)
    store = boston({("A", "ST-BOS"): 5})
    saturday = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    q = quote_fulfillment_options(
        store, [("A", 1)], BOSTON, channel="web", cost_model=model, now=saturday, methods=(DeliveryMethod.PICKUP,)
    )
    (opt,) = q.stores
    assert opt.ready_date == date(2026, 1, 12)
    assert opt.ready_at == datetime(2026, 1, 12, 23, 0, tzinfo=UTC)  # Monday 18:00 in Boston, its cut-off
    weekday = quote_fulfillment_options(
        store, [("A", 1)], BOSTON, channel="web", cost_model=model, now=FRIDAY, methods=(DeliveryMethod.PICKUP,)
    )
    assert weekday.stores[0].ready_at == datetime(2026, 1, 9, 17, 0, tzinfo=UTC)  # 2 h after the order


def test_the_calendar_section_of_routing_toml(tmp_path: Path) -> None:
    path = tmp_path / "routing.toml"
    path.write_text(
        '[calendar]\nship_days = ["Mon", "tuesday", "wed", "thu", "fri"]\ndelivery_days = ["mon", "sat"]\n'
        'holidays = [2026-12-25, "2026-01-01"]\n[location_types.store]\nship_days = ["sat", "sun"]\n'
    )
    m = load_cost_model(path)
    assert m.calendar == Calendar(
        ship_days=("mon", "tue", "wed", "thu", "fri"),
        delivery_days=("mon", "sat"),
        holidays=(date(2026, 1, 1), date(2026, 12, 25)),
    )
    assert m.location_types[1].ship_days == ("sat", "sun")
    costs = network_costs(LocationTable(boston_locations(), [Channel(c) for c in CHANNELS]), m)
    assert costs.holidays.tolist() == [day_number(date(2026, 1, 1)), day_number(date(2026, 12, 25))]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"calendar": {"ship_days": ["funday"]}}, "calendar.ship_days"),
        ({"calendar": {"ship_days": []}}, "calendar.ship_days"),
        ({"calendar": {"delivery_days": ["mon", "Monday"]}}, "calendar.delivery_days"),
        ({"calendar": {"holidays": ["2026-13-01"]}}, "calendar.holidays"),
        ({"calendar": {"holidays": "2026-12-25"}}, "calendar.holidays"),
        ({"calendar": {"weekends": []}}, "calendar.weekends"),
        ({"location_types": {"store": {"ship_days": "mon"}}}, "location_types.store.ship_days"),
    ],
)
def test_bad_calendars_name_the_key(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        cost_model_from_mapping(data, "routing.toml")
    assert field in err.value.field
