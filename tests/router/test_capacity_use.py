"""Capacity other calls took (build_problem(capacity_use=...), with_capacity_used): a location's capacity
drops by what is taken on its own ship day only, and a location left without capacity is blocked with
the reason, so the order goes elsewhere and says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from router import Block, build_problem, solve, with_capacity_used

from .scenarios import boston, order


class Taken:
    def __init__(self, used: Mapping[int, Mapping[str, int]]) -> None:
        self.taken = used
        self.asked: list[list[int]] = []

    def used(self, days: Sequence[int]) -> Mapping[int, Mapping[str, int]]:
        self.asked.append(list(days))
        return {d: self.taken.get(d, {}) for d in days}


def test_capacity_taken_on_the_ship_day_blocks_the_location() -> None:
    store = boston({("A", "DC-EAST"): 10, ("A", "ST-NYC"): 10})
    plain = build_problem(store, order(("A", 1)))
    dc = plain.location_ids.index("DC-EAST")
    dc_day = int(plain.ship_day[dc])
    full = Taken({dc_day: {"DC-EAST": 100}})  # its whole daily capacity (100 in the scenario)
    problem = build_problem(store, order(("A", 1)), capacity_use=full)
    assert sorted(full.asked[0]) == sorted(set(plain.ship_day.tolist()))  # one read, the pool's ship days
    assert problem.block[dc] == Block.CAPACITY and problem.capacity[dc] == 0
    result = solve(problem)
    assert result.shipped() == {("ST-NYC", "A"): 1}
    assert any("DC-EAST has no capacity left" in a.reason for a in result.alternatives)


def test_other_days_and_partial_use_leave_the_location_usable() -> None:
    store = boston({("A", "DC-EAST"): 10})
    plain = build_problem(store, order(("A", 1)))
    day = int(plain.ship_day[0])
    assert with_capacity_used(plain, {day + 1: {"DC-EAST": 100}}) is plain  # not its ship day
    some = with_capacity_used(plain, {day: {"DC-EAST": 40, "NOWHERE": 3}})
    assert some.capacity[0] == 60 and some.block[0] == Block.USABLE
