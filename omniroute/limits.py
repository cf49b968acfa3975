"""How many items one call may carry: every repeated field of every request, with its limit, in one table.

The edge (omniroute.edge) checks them as soon as a request is parsed, before any servicer or ledger code
runs, and answers INVALID_ARGUMENT naming the field (`events=50001: at most 50,000 per call`). The engine
keeps its own checks (a library must not trust its caller); the limits here are the same constants where
the engine has one, so the two never disagree. The size of a whole message is gRPC's own limit
(`--max-message-mb`, RESOURCE_EXHAUSTED).

tests/omniroute/test_limits.py walks every request message and fails when a repeated field has no row, so
a new list in the contract cannot ship without a bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from availability.atp import MAX_SKUS_PER_QUERY
from availability.errors import InvalidArgument
from availability.ledger import MAX_EVENT_BATCH
from availability.reservations import MAX_LINES as MAX_RESERVATION_LINES
from router.batch import MAX_BATCH_ORDERS
from router.model import MAX_LINES as MAX_ORDER_LINES
from router.reroute import MAX_REJECTIONS

from .queries import MAX_CART_LINES, MAX_POSITION_SKUS
from .watch import MAX_WATCHED_LOCATIONS

# Ids of locations or groups named in one call. The largest generated network has 2,000 locations; a
# list longer than this names some twice or names ones that do not exist.
MAX_LOCATION_IDS: Final = 10_000
# Configuration rows per call (safety stock, ring-fences): as many as stock events in a batch.
MAX_CONFIG_ROWS: Final = MAX_EVENT_BATCH
MAX_METHODS: Final = 16  # fulfilment methods asked for; there are four, repeats are harmless

_V1 = "/omniroute.v1."

BATCH_LIMITS: Final[Mapping[str, tuple[tuple[str, int], ...]]] = {
    _V1 + "AvailabilityService/GetAvailability": (
        ("skus", MAX_SKUS_PER_QUERY),
        ("scope.locations.ids", MAX_LOCATION_IDS),
    ),
    _V1 + "AvailabilityService/FindNearbyStores": (("lines", MAX_CART_LINES), ("methods", MAX_METHODS)),
    _V1 + "AvailabilityService/WatchAvailability": (
        ("skus", MAX_SKUS_PER_QUERY),
        ("locations", MAX_WATCHED_LOCATIONS),
    ),
    _V1 + "AvailabilityService/ExportLocalInventory": (("locations", MAX_LOCATION_IDS),),
    _V1 + "InventoryService/ApplyStockEvents": (("events", MAX_EVENT_BATCH),),
    _V1 + "InventoryService/GetPositions": (("skus", MAX_POSITION_SKUS), ("locations", MAX_LOCATION_IDS)),
    _V1 + "InventoryService/SetSafetyStock": (("entries", MAX_CONFIG_ROWS),),
    _V1 + "InventoryService/SetAllocations": (("entries", MAX_CONFIG_ROWS),),
    _V1 + "InventoryService/UpsertLocations": (("locations", MAX_LOCATION_IDS),),
    _V1 + "ReservationService/Reserve": (("lines", MAX_RESERVATION_LINES),),
    _V1 + "ReservationService/Confirm": (("moves", MAX_RESERVATION_LINES),),
    _V1 + "ReservationService/Release": (("lines", MAX_RESERVATION_LINES),),
    _V1 + "ReservationService/Fulfill": (("lines", MAX_RESERVATION_LINES),),
    _V1 + "AdminService/Reconcile": (("skus", MAX_POSITION_SKUS),),
    _V1 + "RoutingService/RouteOrder": (
        ("order.lines", MAX_ORDER_LINES),
        ("order.options.excluded_locations", MAX_LOCATION_IDS),
    ),
    # each order's own lines are bounded by the message size; 50,000 orders already take minutes
    _V1 + "RoutingService/RouteOrders": (("orders", MAX_BATCH_ORDERS),),
    _V1 + "RoutingService/Reroute": (
        ("order.lines", MAX_ORDER_LINES),
        ("order.options.excluded_locations", MAX_LOCATION_IDS),
        ("rejections", MAX_REJECTIONS),
    ),
    _V1 + "RoutingService/QuoteFulfillmentOptions": (("lines", MAX_ORDER_LINES), ("methods", MAX_METHODS)),
}

Check = tuple[str, tuple[str, ...], int]


def checks_for(method: str) -> tuple[Check, ...]:
    """The limits of `method` ready to apply: (field path, its parts, limit)."""
    return tuple((path, tuple(path.split(".")), limit) for path, limit in BATCH_LIMITS.get(method, ()))


def over_limit(request: Any, checks: tuple[Check, ...]) -> InvalidArgument | None:
    """The first field of `request` that carries more items than its limit, as the error to answer."""
    for path, parts, limit in checks:
        value = request
        for part in parts:
            value = getattr(value, part)
        n = len(value)
        if n > limit:
            return InvalidArgument(path, n, f"at most {limit:,} per call")
    return None
