"""Holding a plan: what an order's own reservation means for its routing, and the ledger operations that
turn a plan into location holds. Pure planning; the service applies it through the ledger.

An order's own holds are not competition for it. `with_own_holds` adds them back to the ATP rows that
candidate building reads (`build_problem(own_holds=...)`):
- a location hold of h units raises that location's figure by h and the network's total by h;
- a group or network hold raises the network's total. It also raises the channel's headroom, which caps
  every location's figure (the engine counts group holds with other channels' ring-fences there), so a
  location whose figure may have been capped is recomputed from its position: min(free + h, cap + all
  of the order's holds of the SKU). Figures below the largest one were not capped and are exact.

`plan_hold` turns a plan into ledger operations on the order's reservation, holding exactly the plan:
- without a reservation: reserve the plan's (location, SKU, quantity) lines;
- with one: keep its location holds where the plan ships from them, move its group and network lines to
  the plan's other locations (Confirm's moves), and release whatever of the order's SKUs it still holds
  beyond the plan. A plan needing more of a SKU than the reservation holds cannot be held with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from availability.errors import FailedPrecondition
from availability.reservations import HoldLine, LineMove, LineQuantity
from availability.store import AtpRows, StoreView


def with_own_holds(
    view: StoreView, rows: AtpRows, skus: Sequence[int], own_holds: Sequence[tuple[str, str, int]]
) -> AtpRows:
    """`rows` (from `view.atp_rows(skus, ..., per_location=True)`) with the order's own holds, (sku,
    place, quantity), counted as available to it (see the module docstring). Holds of other SKUs are
    ignored; a location hold where the location is not among the rows (it cannot serve this order's
    channel and method) adds to the network's total only."""
    net = view.network
    k_of: dict[int, list[int]] = {}
    for k, s in enumerate(skus):
        if s >= 0:
            k_of.setdefault(int(s), []).append(k)
    at: dict[int, dict[int, int]] = {}  # sku -> location index -> units
    total: dict[int, int] = {}  # sku -> every unit the order holds
    for sku, place, quantity in own_holds:
        found = view.skus.get(sku)
        if found is None or found not in k_of or quantity <= 0:
            continue
        total[found] = total.get(found, 0) + quantity
        li = net.index.get(place)
        if li is not None:
            by_loc = at.setdefault(found, {})
            by_loc[li] = by_loc.get(li, 0) + quantity
    if not total:
        return rows
    qty = rows.quantity.copy()
    lq = rows.location_quantity.copy()
    for s, delta in total.items():
        holds = at.get(s, {})
        for k in k_of[s]:
            qty[k] += delta
            mine = np.flatnonzero(rows.sku_row == k)
            if not mine.shape[0]:
                continue
            top = int(lq[mine].max())
            for r in mine.tolist():
                li = int(rows.location[r])
                h = holds.get(li, 0)
                f = int(lq[r])
                if f < top and (f > 0 or h == 0):
                    lq[r] = f + h  # below the cap and not floored: exact
                    continue
                p = view.position(s, li)
                free = 0 if p is None else p.on_hand - p.reserved - p.safety_stock
                lq[r] = min(max(0, free + h), top + delta)
    return AtpRows(qty, rows.sku_row, rows.location, lq)


@dataclass(frozen=True, slots=True)
class HoldPlan:
    """Ledger operations that make the order's reservation hold exactly a plan: `reserve` for a new
    reservation, else `moves` for Confirm and then `release` (the order's holds beyond the plan)."""

    reserve: tuple[HoldLine, ...] = ()
    moves: tuple[LineMove, ...] = ()
    release: tuple[LineQuantity, ...] = ()


def plan_hold(
    shipped: Mapping[tuple[str, str], int],
    held: Sequence[tuple[str, str, bool, int]] | None,
) -> HoldPlan:
    """The operations for a plan shipping `shipped[(location, sku)]` units, given the reservation's lines
    (sku, place, at_location, units held), or None when the order has no reservation yet. Only SKUs the
    plan ships or the reservation holds for them are touched; the caller passes the order's lines only."""
    if held is None:
        return HoldPlan(reserve=tuple(HoldLine(sku, q, location=loc) for (loc, sku), q in shipped.items() if q > 0))
    need: dict[str, dict[str, int]] = {}
    for (loc, sku), q in shipped.items():
        if q > 0:
            need.setdefault(sku, {})[loc] = need.get(sku, {}).get(loc, 0) + q
    at_loc: dict[str, dict[str, int]] = {}
    groups: dict[str, list[tuple[str, int]]] = {}
    for sku, place, at_location, h in held:
        if h <= 0:
            continue
        if at_location:
            at_loc.setdefault(sku, {})[place] = h
        else:
            groups.setdefault(sku, []).append((place, h))
    moves: list[LineMove] = []
    release: list[LineQuantity] = []
    for sku in dict.fromkeys((*need, *at_loc, *groups)):
        want = dict(need.get(sku, {}))
        for loc, h in at_loc.get(sku, {}).items():
            keep = min(h, want.get(loc, 0))
            if keep:
                want[loc] -= keep
            if h > keep:
                release.append(LineQuantity(sku, loc, h - keep))
        wanted = [(loc, q) for loc, q in want.items() if q > 0]
        for place, h in groups.get(sku, []):
            to: list[tuple[str, int]] = []
            left = h
            while wanted and left:
                loc, q = wanted[0]
                take = min(q, left)
                to.append((loc, take))
                left -= take
                if take == q:
                    wanted.pop(0)
                else:
                    wanted[0] = (loc, q - take)
            if to:
                moves.append(LineMove(sku, place, tuple(to)))
            if left:
                release.append(LineQuantity(sku, place, left))
        if wanted:
            have = sum(h for _p, h in groups.get(sku, [])) + sum(at_loc.get(sku, {}).values())
            plan = sum(need[sku].values())
            raise FailedPrecondition(
                f"the plan ships {plan} of {sku} but the reservation holds {have}, of which only its group and "
                "network lines can move to other locations: reserve the difference first, or route without "
                "the reservation"
            )
    return HoldPlan(moves=tuple(moves), release=tuple(release))
