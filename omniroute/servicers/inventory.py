"""InventoryService: protobuf <-> ledger writes and raw position reads, nothing else."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from availability.errors import InvalidArgument, NotFound
from availability.ledger import MAX_EVENT_BATCH, SafetyStockEntry
from availability.model import (
    AllocationRow,
    EventOutcome,
    EventResult,
    EventType,
    Snapshot,
    StockEvent,
    day_date,
)
from omniroute.queries import read_positions
from omniroute.runtime import THREAD_MIN_EVENTS, THREAD_MIN_ROWS, Runtime
from omniroute.status import rpc
from omniroute.v1 import common_pb2 as cpb
from omniroute.v1 import inventory_pb2 as pb
from omniroute.v1 import inventory_pb2_grpc as pb_grpc

from ._convert import date_to_pb, location_of

Context = grpc.aio.ServicerContext[Any, Any]

_EVENT_TYPE_OF_PB: dict[int, EventType] = {
    pb.RECEIPT: EventType.RECEIPT,
    pb.SALE: EventType.SALE,
    pb.RETURN_SELLABLE: EventType.RETURN_SELLABLE,
    pb.RETURN_DAMAGED: EventType.RETURN_DAMAGED,
    pb.ADJUSTMENT: EventType.ADJUSTMENT,
    pb.CYCLE_COUNT: EventType.CYCLE_COUNT,
    pb.TRANSFER_OUT: EventType.TRANSFER_OUT,
    pb.TRANSFER_IN: EventType.TRANSFER_IN,
}
# engine EventOutcome (0..3) -> proto (1..4), by index
_OUTCOME_TO_PB: tuple[pb.EventOutcome, ...] = (pb.APPLIED, pb.DUPLICATE, pb.STALE, pb.REJECTED)


class InventoryServicer(pb_grpc.InventoryServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @rpc
    async def ApplyStockEvents(
        self, request: pb.ApplyStockEventsRequest, context: Context
    ) -> pb.ApplyStockEventsResponse:
        ledger = self.rt.ledger
        n = len(request.events)
        if n == 0:
            raise InvalidArgument("events", [], "must contain at least one event")
        if n > MAX_EVENT_BATCH:
            raise InvalidArgument("events", n, f"at most {MAX_EVENT_BATCH} events per batch")
        kinds = _EVENT_TYPE_OF_PB
        events: list[StockEvent] = []
        refused: dict[int, str] = {}
        for k, e in enumerate(request.events):
            kind = kinds.get(e.type)
            if kind is None:
                refused[k] = f"type={e.type}: unknown stock event type"
                continue
            ts = e.occurred_at
            if not 0 <= ts.nanos < 1_000_000_000:
                # a negative nanos would silently move the event's time back
                refused[k] = f"occurred_at.nanos={ts.nanos}: must be in [0, 999999999]"
                continue
            events.append(
                StockEvent(
                    e.event_id,
                    kind,
                    e.location,
                    e.sku,
                    e.quantity,
                    ts.seconds * 1000 + ts.nanos // 1_000_000,
                    e.channel,
                )
            )
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            # a write whose caller has already given up is not started; its retry carries the same ids
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the batch was applied"
            )
        results: list[EventResult] = []
        sequence = ledger.sequence
        if events:
            batch = await self.rt.write(len(events), THREAD_MIN_EVENTS, ledger.apply_stock_events, events)
            results = batch.results
            sequence = batch.sequence
        if refused:
            results = _merge_rejected(results, refused, request)
        resp = pb.ApplyStockEventsResponse(sequence=sequence)
        counts = [0, 0, 0, 0]
        outcome: list[pb.EventOutcome] = []
        notes = resp.notes
        for i, r in enumerate(results):
            o = int(r.outcome)
            counts[o] += 1
            outcome.append(_OUTCOME_TO_PB[o])
            if o:
                notes.add(index=i, reason=r.reason)
        resp.outcome.extend(outcome)
        resp.applied, resp.duplicates, resp.stale, resp.rejected = counts
        return resp

    @rpc
    async def LoadSnapshot(
        self, request: pb.LoadSnapshotRequest, context: Context
    ) -> pb.LoadSnapshotResponse:
        from availability.ingest import load_snapshot  # polars: only when a snapshot is loaded

        ledger = self.rt.ledger
        if not request.path:
            raise InvalidArgument("path", "", "must name a snapshot directory on the server")
        # relative paths are relative to the server's working directory, like every other server path
        try:
            path = Path(request.path).expanduser()
            if not path.exists():
                raise NotFound("snapshot directory", str(path))
            is_dir = path.is_dir()
        except (OSError, RuntimeError) as err:  # a name too long, a "~user" with no such user
            why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise InvalidArgument("path", request.path, f"cannot be used as a directory: {why}") from None
        if not is_dir:
            raise InvalidArgument("path", str(path), "is not a directory")
        started = time.perf_counter()
        snapshot: Snapshot = await asyncio.to_thread(load_snapshot, path)
        sequence = await self.rt.write(1, 0, ledger.load_snapshot, snapshot)  # always on a write thread
        store = ledger.store
        return pb.LoadSnapshotResponse(
            sequence=sequence,
            positions=store.position_count,
            locations=len(store.network),
            skus=len(store.skus),
            seconds=time.perf_counter() - started,
        )

    @rpc
    async def GetPositions(
        self, request: pb.GetPositionsRequest, context: Context
    ) -> pb.GetPositionsResponse:
        found = read_positions(self.rt.ledger.store, request.skus, request.locations)
        resp = pb.GetPositionsResponse(unknown_skus=found.unknown_skus, sequence=found.sequence)
        for p in found.positions:
            resp.positions.add(
                sku=p.sku,
                location=p.location,
                on_hand=p.on_hand,
                reserved=p.reserved,
                safety_stock=p.safety_stock,
                safety_stock_explicit=p.safety_explicit,
                inbound=[
                    pb.Inbound(
                        expected=date_to_pb(day_date(day)),
                        quantity=qty,
                        type=kind.name.lower(),
                        promisable=promisable,
                    )
                    for day, qty, kind, promisable in p.inbound
                ],
            )
        for sku, channel, qty, consumed in found.allocations:
            resp.allocations.add(sku=sku, channel=channel, quantity=qty, consumed=consumed)
        return resp

    @rpc
    async def SetSafetyStock(self, request: pb.SetSafetyStockRequest, context: Context) -> cpb.WriteResponse:
        entries = [
            SafetyStockEntry(e.sku, e.location, e.quantity if e.HasField("quantity") else None)
            for e in request.entries
        ]
        ledger = self.rt.ledger
        return cpb.WriteResponse(
            sequence=await self.rt.write(len(entries), THREAD_MIN_ROWS, ledger.set_safety_stock, entries)
        )

    @rpc
    async def SetAllocations(self, request: pb.SetAllocationsRequest, context: Context) -> cpb.WriteResponse:
        rows = [AllocationRow(a.sku, a.channel, a.quantity, a.consumed) for a in request.entries]
        ledger = self.rt.ledger
        return cpb.WriteResponse(
            sequence=await self.rt.write(len(rows), THREAD_MIN_ROWS, ledger.set_allocations, rows)
        )

    @rpc
    async def UpsertLocations(
        self, request: pb.UpsertLocationsRequest, context: Context
    ) -> cpb.WriteResponse:
        locations = [location_of(loc, f"locations[{i}]") for i, loc in enumerate(request.locations)]
        ledger = self.rt.ledger
        return cpb.WriteResponse(
            sequence=await self.rt.write(len(locations), THREAD_MIN_ROWS, ledger.upsert_locations, locations)
        )


def _merge_rejected(
    results: list[EventResult], refused: dict[int, str], request: pb.ApplyStockEventsRequest
) -> list[EventResult]:
    """Put the events refused here (unknown type, malformed time) back at their request positions."""
    out: list[EventResult] = []
    it = iter(results)
    for k, e in enumerate(request.events):
        why = refused.get(k)
        if why is not None:
            out.append(EventResult(e.event_id, EventOutcome.REJECTED, why))
        else:
            out.append(next(it))
    return out
