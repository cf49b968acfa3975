"""build_problem(own_holds=...): an order's own reservation is not competition for it. Its location holds
come back as ATP at those locations (a row is added where the hold took the last units), every hold
comes back to the network's total, and holds at places or of SKUs that cannot serve the order change
nothing."""

from __future__ import annotations

from availability.ledger import MemoryLedger
from availability.reservations import HoldLine, ReserveRequest
from router import build_problem, solve
from router.model import DeliveryMethod, Destination

from .scenarios import boston, order


def test_a_network_hold_of_the_order_counts_for_it() -> None:
    ledger = MemoryLedger(boston({("A", "DC-EAST"): 3}))
    ledger.reserve(ReserveRequest("cart-1", "web", (HoldLine("A", 3),)))
    o = order(("A", 3))
    blind = build_problem(ledger.store, o)
    assert int(blind.network_atp[0]) == 0 and solve(blind).shipments == ()
    own = build_problem(ledger.store, o, own_holds=[("A", "@network", 3)])
    assert int(own.network_atp[0]) == 3
    assert solve(own).shipped() == {("DC-EAST", "A"): 3}


def test_a_location_hold_adds_a_row_where_it_took_the_last_units() -> None:
    ledger = MemoryLedger(boston({("A", "DC-EAST"): 2, ("A", "ST-NYC"): 5}))
    ledger.reserve(ReserveRequest("o-1", "web", (HoldLine("A", 2, location="DC-EAST"),)))
    o = order(("A", 2))
    blind = build_problem(ledger.store, o)
    assert "DC-EAST" not in blind.location_ids
    own = build_problem(ledger.store, o, own_holds=[("A", "DC-EAST", 2), ("B", "DC-EAST", 7)])
    row = own.location_ids.index("DC-EAST")
    assert int(own.atp[row, 0]) == 2 and int(own.network_atp[0]) == int(blind.network_atp[0]) + 2
    assert solve(own).shipped() == {("DC-EAST", "A"): 2}


def test_a_location_hold_adds_to_an_existing_row_and_not_where_the_method_is_not_offered() -> None:
    ledger = MemoryLedger(boston({("A", "ST-BOS"): 6, ("A", "DC-EAST"): 4}))
    ledger.reserve(
        ReserveRequest("o-1", "web", (HoldLine("A", 2, location="ST-BOS"), HoldLine("A", 1, location="DC-EAST")))
    )
    pickup = order(("A", 1), method=DeliveryMethod.PICKUP, destination=Destination.at_store("ST-BOS"))
    before = build_problem(ledger.store, pickup)
    after = build_problem(ledger.store, pickup, own_holds=[("A", "ST-BOS", 2), ("A", "DC-EAST", 1)])
    assert after.location_ids == before.location_ids == ("ST-BOS",)  # the DC is not a pickup point
    assert int(after.atp[0, 0]) == int(before.atp[0, 0]) + 2


def test_a_location_hold_is_not_credited_where_the_position_is_over_reserved() -> None:
    """A count below what is reserved leaves the position's free stock negative: the order's own hold
    comes back only as far as the shelf really has units."""
    from availability.model import EventType, StockEvent

    ledger = MemoryLedger(boston({("A", "DC-EAST"): 5}))
    ledger.reserve(ReserveRequest("o-1", "web", (HoldLine("A", 3, location="DC-EAST"),)))
    ledger.reserve(ReserveRequest("o-2", "web", (HoldLine("A", 2, location="DC-EAST"),)))
    now = ledger._clock_ms()
    ledger.apply_stock_events([StockEvent("count-1", EventType.CYCLE_COUNT, "DC-EAST", "A", 4, now)])
    own = build_problem(ledger.store, order(("A", 3)), own_holds=[("A", "DC-EAST", 3)])
    assert own.location_ids == ("DC-EAST",) and int(own.atp[0, 0]) == 2  # 4 on the shelf, 2 for o-2
