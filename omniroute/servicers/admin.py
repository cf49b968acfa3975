"""AdminService: operator tools over the ledger (protobuf <-> engine, nothing else)."""

from __future__ import annotations

from typing import Any

import grpc.aio

from availability.model import check_id
from omniroute.runtime import Runtime
from omniroute.status import rpc
from omniroute.v1 import reservation_pb2 as pb
from omniroute.v1 import reservation_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    @rpc
    async def Reconcile(self, request: pb.ReconcileRequest, context: Context) -> pb.ReconcileReport:
        # a malformed id would match nothing and read as "all consistent": refuse it instead
        skus = frozenset(check_id(f"skus[{i}]", s) for i, s in enumerate(request.skus))
        ledger = self.rt.ledger
        # walks every position and every open reservation: off the event loop, so reads keep flowing
        report = await self.rt.write(1, 0, ledger.reconcile, repair=request.repair, skus=skus)
        resp = pb.ReconcileReport(
            positions_checked=report.positions_checked,
            reservations_checked=report.reservations_checked,
            sequence=report.sequence,
        )
        for i in report.inconsistencies:
            resp.inconsistencies.add(
                sku=i.sku,
                place=i.place,
                counter=i.counter,
                expected=i.expected,
                found=i.found,
                reservations=i.reservations,
                repaired=i.repaired,
            )
        return resp
