"""Reroute: a store rejects lines it was asked to ship or hand over, with a reason. This module plans what
follows and changes nothing; the service applies the plan through the ledger, in this order:

1. release the order's holds of the rejected units at that store;
2. record what the rejection says about the store's stock, as stock events:
   - `not_found`: a cycle count of 0 for the SKU at the store. The shelf was searched and nothing is
     there, so no other order is routed there for the SKU until stock is received or counted again.
   - `damaged`: an adjustment of -quantity: the rejected units leave sellable stock. (The engine's
     `return_damaged` event leaves on hand unchanged, since it records units coming back; these units
     were counted as sellable and are not.) Released first, so the hold and the units go together and
     what other orders may take at the store does not change.
   - `mismatch`: no stock event. The store holds something under that SKU that is not what the record
     describes (wrong item, wrong size); a count settles the figure, not a guess here. The store is
     excluded for the line, as for every reason.
3. route what is left: the rejected units, each line with the rejecting store excluded.

Lines the store did not reject stay held where they are: their shipments still go ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from availability.errors import InvalidArgument
from availability.model import EventType, StockEvent, check_id, check_quantity

from .model import Order, OrderLine

MAX_REJECTIONS = 500


class RejectReason(StrEnum):
    NOT_FOUND = "not_found"  # searched, not on the shelf: count 0
    DAMAGED = "damaged"  # found but not sellable: out of sellable stock
    MISMATCH = "mismatch"  # the item does not match the record: excluded, stock left for a count

    @classmethod
    def parse(cls, value: str, field_name: str = "reason") -> RejectReason:
        key = value.strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return cls(key)
        except ValueError:
            raise InvalidArgument(field_name, value, f"must be one of {[r.value for r in cls]}") from None


@dataclass(frozen=True, slots=True)
class Rejection:
    """A store's refusal of units of one line. `quantity` 0: every unit of the SKU the store holds for
    the order."""

    location: str
    sku: str
    reason: RejectReason
    quantity: int = 0


@dataclass(frozen=True, slots=True)
class HeldUnits:
    """Units of a SKU held for the order at a location (a location line of its reservation)."""

    sku: str
    location: str
    quantity: int


@dataclass(frozen=True, slots=True)
class ReroutePlan:
    release: tuple[HeldUnits, ...]  # holds to release, one per rejection
    events: tuple[StockEvent, ...]  # the stock consequences, in rejection order
    order: Order  # what is left to route: the rejected units, the rejecting stores excluded


def plan_reroute(
    order: Order,
    held: Sequence[HeldUnits],
    rejections: Sequence[Rejection],
    *,
    occurred_at_ms: int,
    event_id_prefix: str,
    now: datetime | None = None,
) -> ReroutePlan:
    """The plan for these rejections of an order whose location holds are `held`.

    Stock events get the ids `{event_id_prefix}:{location}:{sku}` (so a retry with the same prefix and
    time is a duplicate, never a second count or adjustment) and the time `occurred_at_ms`. The order left
    to route keeps everything of the original but its lines (and `placed_at`: `now`, None for the time of
    routing, since cut-offs are counted from the reroute, not from when the order was placed)."""
    if not rejections:
        raise InvalidArgument("rejections", [], "must name at least one rejected line")
    if len(rejections) > MAX_REJECTIONS:
        raise InvalidArgument("rejections", len(rejections), f"at most {MAX_REJECTIONS}")
    if isinstance(occurred_at_ms, bool) or not isinstance(occurred_at_ms, int) or occurred_at_ms <= 0:
        raise InvalidArgument("occurred_at_ms", occurred_at_ms, "must be a positive epoch time in milliseconds")
    holding: dict[tuple[str, str], int] = {}
    for h in held:
        holding[(h.sku, h.location)] = holding.get((h.sku, h.location), 0) + h.quantity
    lines = {ln.sku: ln for ln in order.lines}

    release: list[HeldUnits] = []
    events: list[StockEvent] = []
    left: dict[str, int] = {}
    excluded: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(rejections):
        check_id(f"rejections[{i}].location", r.location)
        check_id(f"rejections[{i}].sku", r.sku)
        if not isinstance(r.reason, RejectReason):
            raise InvalidArgument(
                f"rejections[{i}].reason", r.reason, f"must be one of {[x.value for x in RejectReason]}"
            )
        check_quantity(f"rejections[{i}].quantity", r.quantity)
        if r.sku not in lines:
            raise InvalidArgument(f"rejections[{i}].sku", r.sku, "is not a line of the order")
        key = (r.sku, r.location)
        if key in seen:
            raise InvalidArgument(
                f"rejections[{i}]", f"{r.sku}@{r.location}", "duplicate rejection (same SKU and store)"
            )
        seen.add(key)
        have = holding.get(key, 0)
        if have == 0:
            raise InvalidArgument(f"rejections[{i}].location", r.location, f"holds no {r.sku} for this order")
        q = r.quantity or have
        if q > have:
            raise InvalidArgument(f"rejections[{i}].quantity", r.quantity, f"more than the {have} held there")
        release.append(HeldUnits(r.sku, r.location, q))
        left[r.sku] = left.get(r.sku, 0) + q
        excluded.setdefault(r.sku, []).append(r.location)
        event_id = check_id("operation_id", f"{event_id_prefix}:{r.location}:{r.sku}")
        if r.reason is RejectReason.NOT_FOUND:
            events.append(StockEvent(event_id, EventType.CYCLE_COUNT, r.location, r.sku, 0, occurred_at_ms))
        elif r.reason is RejectReason.DAMAGED:
            events.append(StockEvent(event_id, EventType.ADJUSTMENT, r.location, r.sku, -q, occurred_at_ms))

    new_lines = []
    for ln in order.lines:  # the order's line order, so line numbers read like the original's
        if ln.sku not in left:
            continue
        gone = tuple(dict.fromkeys((*ln.excluded_locations, *excluded[ln.sku])))
        new_lines.append(OrderLine(ln.sku, left[ln.sku], gone))
    rest = Order(
        order_id=order.order_id,
        channel=order.channel,
        lines=tuple(new_lines),
        destination=order.destination,
        method=order.method,
        deliver_by=order.deliver_by,
        placed_at=now,
        options=order.options,
    )
    return ReroutePlan(tuple(release), tuple(events), rest)
