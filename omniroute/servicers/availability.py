"""AvailabilityService: protobuf <-> availability engine, nothing else.

GetAvailability is the hot path: repeated fields go in and out whole (wire bytes made and read by numba
kernels, numpy `tolist()` into the message, or packed bytes), never a Python object per SKU of our own
making.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc.aio
import numpy as np
import numpy.typing as npt

from availability._idhash import encode_availability
from availability.atp import MAX_SKUS_PER_QUERY, AvailabilityQuery, as_of_day, get_availability
from availability.catalog import MIN_TABLE_BATCH
from availability.errors import InvalidArgument, Unavailable
from availability.model import check_id
from availability.store import StockStore, StoreView
from omniroute.metrics import Metrics, status_counts
from omniroute.queries import DEFAULT_NEARBY_LIMIT, CartLine, find_nearby_stores
from omniroute.runtime import Runtime
from omniroute.status import rpc
from omniroute.v1 import availability_pb2 as pb
from omniroute.v1 import availability_pb2_grpc as pb_grpc
from omniroute.v1 import common_pb2 as cpb
from omniroute.watch import AvailabilityWatch, watch_changes

from ._convert import METHOD_TO_PB, date_of, method_of, scope_of, status_to_pb

Context = grpc.aio.ServicerContext[Any, Any]

# Read-your-writes waits at most this long when the caller set no deadline.
MIN_SEQUENCE_WAIT_S = 1.0
DEFAULT_CHUNK_ROWS = 10_000
MAX_CHUNK_ROWS = 200_000


_SKUS_FIELD = pb.GetAvailabilityRequest.SKUS_FIELD_NUMBER
# wire tags (field number << 3 | length-delimited) of GetAvailabilityResponse.status and .unknown
_STATUS_TAG = bytes([pb.GetAvailabilityResponse.STATUS_FIELD_NUMBER << 3 | 2])
_UNKNOWN_TAG = bytes([pb.GetAvailabilityResponse.UNKNOWN_FIELD_NUMBER << 3 | 2])


def _packed_bytes(tag: bytes, payload: bytes) -> bytes:
    """A packed repeated field whose elements are single bytes: tag, varint length, payload."""
    if not payload:
        return b""
    n = len(payload)
    length = bytearray()
    while n > 0x7F:
        length.append((n & 0x7F) | 0x80)
        n >>= 7
    length.append(n)
    return tag + bytes(length) + payload


def _network_answer(
    store: StockStore, request: pb.GetAvailabilityRequest, metrics: Metrics | None = None
) -> pb.GetAvailabilityResponse:
    """GetAvailability without per-location rows: availability.atp.get_availability's checks and answer
    (same order, same errors, same figures), without a Python object per SKU. The ids of a request of
    MIN_TABLE_BATCH SKUs or more are resolved from its own wire bytes in one kernel call
    (IdIndex.lookup_wire; ~65 us per 1,000 SKUs less than making their strings): only ids that turn out
    unknown are read as str, to be checked for form. The answer is made as wire bytes in one kernel call
    (quantity, status, unknown, sequence) and parsed once into the response (~40 us per 1,000 SKUs less
    than `tolist` and the constructor). With `metrics`, the answer's statuses are counted from those bytes
    (~0.5 us, where reading them back from the response costs ~26 us per 1,000 SKUs)."""
    method = method_of(request.method)
    scope = scope_of(request.scope)
    day = as_of_day(date_of(request.as_of, "as_of") if request.HasField("as_of") else None)
    sequence = store.sequence
    n = len(request.skus)
    wire = request.SerializeToString() if MIN_TABLE_BATCH <= n <= MAX_SKUS_PER_QUERY else b""

    def answer(view: StoreView) -> npt.NDArray[np.uint8]:
        network = view.network
        chan = network.channel_index(request.channel)
        if n == 0:
            raise InvalidArgument("skus", [], "must name at least one SKU")
        if n > MAX_SKUS_PER_QUERY:
            raise InvalidArgument("skus", n, f"at most {MAX_SKUS_PER_QUERY} SKUs per query")
        idx = view.skus.lookup_wire(wire, _SKUS_FIELD, n) if wire else None
        if idx is None:
            idx = view.skus.lookup_many(request.skus[:])
        if idx.min() < 0:  # unknown ids must still be well-formed ones
            skus = request.skus
            for k in np.flatnonzero(idx < 0).tolist():
                check_id(f"skus[{k}]", skus[k])
        qty = view.atp_many(idx, chan, method, scope, day)
        return encode_availability(qty, idx, network.config.low_stock_network, sequence)

    wire_answer = store.read(answer).tobytes()
    if metrics is not None:  # `answer` refused an empty request: there is at least one SKU here
        metrics.atp_answers(*status_counts(wire_answer, n))
    return pb.GetAvailabilityResponse.FromString(wire_answer)


class AvailabilityServicer(pb_grpc.AvailabilityServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @rpc
    async def GetAvailability(
        self, request: pb.GetAvailabilityRequest, context: Context
    ) -> pb.GetAvailabilityResponse:
        store = self.rt.ledger.store
        if request.min_sequence and store.sequence < request.min_sequence:
            await self._wait_for_sequence(request.min_sequence, context)
        if not request.per_location:
            resp = _network_answer(store, request, self.rt.metrics)
            # set after the kernel's bytes are parsed: a replica is stale for seconds at a time, rarely,
            # so the hot path pays one attribute read and the kernel stays about figures only
            if self.rt.stale:
                resp.stale = True
            return resp
        result = get_availability(
            store,
            AvailabilityQuery(
                # one pass over the protobuf container: each pass re-creates every string (~65 us per
                # 1,000 SKUs), and the engine reads the ids twice (lookup, then the answer's sku list)
                skus=request.skus[:],
                channel=request.channel,
                method=method_of(request.method),
                scope=scope_of(request.scope),
                as_of=date_of(request.as_of, "as_of") if request.HasField("as_of") else None,
                per_location=request.per_location,
            ),
        )
        resp = pb.GetAvailabilityResponse(
            quantity=result.quantity.tolist(), sequence=result.sequence, stale=self.rt.stale
        )
        metrics = self.rt.metrics
        if metrics is not None:
            out, low, in_stock = np.bincount(result.status, minlength=3).tolist()  # engine statuses 0..2
            metrics.atp_answers(out, low, in_stock, int(np.count_nonzero(result.unknown)))
        # status and unknown are one byte per SKU on the wire (packed enum 1..3, packed bool), so they are
        # merged as ready-made packed fields: ~3 us instead of ~70 us per 1,000 SKUs through `extend`.
        # Engine statuses are 0..2, the proto's 1..3 (0 is UNSPECIFIED).
        resp.MergeFromString(
            _packed_bytes(_STATUS_TAG, (result.status + 1).astype(np.uint8).tobytes())
            + _packed_bytes(_UNKNOWN_TAG, result.unknown.astype(np.uint8).tobytes())
        )
        locs = result.locations
        if locs is not None:
            cols = resp.locations
            cols.sku_index.extend(locs.sku_row.tolist())
            cols.location.extend(locs.location)
            cols.quantity.extend(locs.quantity.tolist())
            cols.status.extend((locs.status + 1).tolist())
        return resp

    async def _wait_for_sequence(self, target: int, context: Context) -> None:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= MIN_SEQUENCE_WAIT_S:
            # the caller's deadline comes first: wait for it, so the answer is DEADLINE_EXCEEDED (gRPC
            # cancels this handler when it passes) rather than a race between two codes
            budget = remaining + 1.0
        else:
            budget = MIN_SEQUENCE_WAIT_S
        if not await self.rt.wait_for_sequence(target, budget):
            # retryable, possibly on another replica: answering from an older picture would break the
            # read-your-writes promise the caller asked for
            raise Unavailable(
                f"min_sequence={target}: this replica is at sequence {self.rt.ledger.store.sequence}"
            )

    @rpc
    async def FindNearbyStores(
        self, request: pb.FindNearbyStoresRequest, context: Context
    ) -> pb.FindNearbyStoresResponse:
        if not request.HasField("near"):
            raise InvalidArgument("near", None, "is required")
        found = find_nearby_stores(
            self.rt.ledger.store,
            [CartLine(line.sku, line.quantity) for line in request.lines],
            latitude=request.near.latitude,
            longitude=request.near.longitude,
            radius_km=request.radius_km,
            channel=request.channel,
            methods=[method_of(m, f"methods[{i}]") for i, m in enumerate(request.methods)],
            limit=request.limit or DEFAULT_NEARBY_LIMIT,
            whole_cart_only=request.whole_cart_only,
        )
        resp = pb.FindNearbyStoresResponse(sequence=found.sequence, stale=self.rt.stale)
        for s in found.stores:
            resp.stores.add(
                location=s.location,
                name=s.name,
                distance_km=s.distance_km,
                methods=[METHOD_TO_PB[int(m)] for m in s.methods],
                available=s.available,
                whole_cart=s.whole_cart,
                point=cpb.Point(latitude=s.latitude, longitude=s.longitude),
            )
        return resp

    @rpc
    async def WatchAvailability(
        self, request: pb.WatchAvailabilityRequest, context: Context
    ) -> AsyncIterator[pb.AvailabilityChange]:
        ledger = self.rt.ledger
        watch = AvailabilityWatch(
            ledger.store,
            request.skus,
            channel=request.channel,
            method=method_of(request.method),
            locations=request.locations,
            status_changes_only=request.status_changes_only,
        )
        async for changes in watch_changes(
            ledger, watch, include_initial=request.include_initial, stop=self.rt.stopping
        ):
            for c in changes:
                yield pb.AvailabilityChange(
                    sku=c.sku,
                    location=c.location,
                    quantity=c.quantity,
                    previous_quantity=c.previous_quantity,
                    status=status_to_pb(c.status),
                    previous_status=status_to_pb(c.previous_status),
                    sequence=c.sequence,
                    stale=self.rt.stale,
                )

    @rpc
    async def ExportLocalInventory(
        self, request: pb.ExportLocalInventoryRequest, context: Context
    ) -> AsyncIterator[pb.LocalInventoryChunk]:
        from availability.feed import iter_chunks, local_inventory_feed  # polars: only for feeds

        rows = request.chunk_rows or DEFAULT_CHUNK_ROWS
        if rows > MAX_CHUNK_ROWS:
            raise InvalidArgument("chunk_rows", rows, f"must be at most {MAX_CHUNK_ROWS}")
        store = self.rt.ledger.store
        channel = request.channel or self.rt.config.feed_channel
        locations = list(request.locations) or None
        stale = self.rt.stale
        # building the feed touches every (store, SKU) pair: off the event loop
        df = await asyncio.to_thread(local_inventory_feed, store, channel=channel, locations=locations)
        # the feed is one picture: stale if the ledger was out of reach at any end of its making
        stale = stale or self.rt.stale
        for part in iter_chunks(df, rows):
            yield pb.LocalInventoryChunk(
                store_code=part["store_code"].to_list(),
                id=part["id"].to_list(),
                quantity=part["quantity"].to_list(),
                availability=part["availability"].to_list(),
                pickup_method=part["pickup_method"].to_list(),
                # proto strings have no null: "" means the store offers no pickup
                pickup_sla=part["pickup_sla"].fill_null("").to_list(),
                stale=stale,
            )
