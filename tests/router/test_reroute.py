"""plan_reroute: what a store's rejection releases, records and leaves to route."""

from __future__ import annotations

import pytest

from availability.errors import InvalidArgument
from availability.model import EventType, StockEvent
from router import OrderLine
from router.reroute import HeldUnits, Rejection, RejectReason, plan_reroute

from .scenarios import order

T = 1_767_625_200_000
HELD = [
    HeldUnits("A", "ST-BOS", 2),
    HeldUnits("B", "ST-BOS", 1),
    HeldUnits("C", "DC-EAST", 3),
    HeldUnits("A", "DC-EAST", 1),
]


def test_each_reason_records_its_stock_consequence() -> None:
    o = order(("A", 3), ("B", 1), ("C", 3))
    plan = plan_reroute(
        o,
        HELD,
        [
            Rejection("ST-BOS", "A", RejectReason.NOT_FOUND),
            Rejection("ST-BOS", "B", RejectReason.DAMAGED),
            Rejection("DC-EAST", "C", RejectReason.MISMATCH, quantity=2),
        ],
        occurred_at_ms=T,
        event_id_prefix="rr-1",
    )
    assert plan.release == (HeldUnits("A", "ST-BOS", 2), HeldUnits("B", "ST-BOS", 1), HeldUnits("C", "DC-EAST", 2))
    assert plan.events == (
        StockEvent("rr-1:ST-BOS:A", EventType.CYCLE_COUNT, "ST-BOS", "A", 0, T),  # searched: none there
        StockEvent("rr-1:ST-BOS:B", EventType.ADJUSTMENT, "ST-BOS", "B", -1, T),  # out of sellable stock
    )  # a mismatch records nothing
    assert plan.order.lines == (
        OrderLine("A", 2, ("ST-BOS",)),
        OrderLine("B", 1, ("ST-BOS",)),
        OrderLine("C", 2, ("DC-EAST",)),
    )
    assert plan.order.order_id == o.order_id and plan.order.placed_at is None
    assert plan.order.destination == o.destination and plan.order.options == o.options


def test_earlier_exclusions_are_kept() -> None:
    o = order(("A", 3))
    o = type(o)(o.order_id, o.channel, (OrderLine("A", 3, ("ST-NYC",)),), o.destination, placed_at=o.placed_at)
    plan = plan_reroute(
        o, HELD, [Rejection("ST-BOS", "A", RejectReason.MISMATCH, 1)], occurred_at_ms=T, event_id_prefix="x"
    )
    assert plan.order.lines == (OrderLine("A", 1, ("ST-NYC", "ST-BOS")),)


@pytest.mark.parametrize(
    ("rejections", "field"),
    [
        ([], "rejections"),
        ([Rejection("ST-BOS", "Z", RejectReason.DAMAGED)], "rejections[0].sku"),
        ([Rejection("ST-NYC", "A", RejectReason.DAMAGED)], "rejections[0].location"),
        ([Rejection("ST-BOS", "A", RejectReason.DAMAGED, 3)], "rejections[0].quantity"),
        ([Rejection("ST-BOS", "A", RejectReason.DAMAGED, -1)], "rejections[0].quantity"),
        ([Rejection("ST-BOS", "A", "lost")], "rejections[0].reason"),  # type: ignore[arg-type]
        (
            [Rejection("ST-BOS", "A", RejectReason.DAMAGED), Rejection("ST-BOS", "A", RejectReason.NOT_FOUND)],
            "rejections[1]",
        ),
        ([Rejection("bad id", "A", RejectReason.DAMAGED)], "rejections[0].location"),
    ],
)
def test_malformed_rejections_name_the_field(rejections: list[Rejection], field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        plan_reroute(order(("A", 3), ("B", 1)), HELD, rejections, occurred_at_ms=T, event_id_prefix="rr")
    assert err.value.field == field


def test_an_operation_id_too_long_for_event_ids_is_refused() -> None:
    with pytest.raises(InvalidArgument) as err:
        plan_reroute(
            order(("A", 3)),
            HELD,
            [Rejection("ST-BOS", "A", RejectReason.NOT_FOUND)],
            occurred_at_ms=T,
            event_id_prefix="x" * 120,
        )
    assert err.value.field == "operation_id"


def test_reasons_parse_from_the_wire_spellings() -> None:
    assert RejectReason.parse("Not Found") is RejectReason.NOT_FOUND
    assert RejectReason.parse("damaged") is RejectReason.DAMAGED
    with pytest.raises(InvalidArgument):
        RejectReason.parse("stolen")
