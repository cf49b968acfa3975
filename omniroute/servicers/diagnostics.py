"""DiagnosticsService: a no-op Ping (the floor every hot RPC is measured against) and server facts."""

from __future__ import annotations

import os
from typing import Any

import grpc.aio

from omniroute.runtime import Runtime
from omniroute.status import rpc
from omniroute.v1 import diagnostics_pb2 as pb
from omniroute.v1 import diagnostics_pb2_grpc as pb_grpc
from omniroute.workers import worker_index

Context = grpc.aio.ServicerContext[Any, Any]
_PONG = pb.PingResponse()


class DiagnosticsServicer(pb_grpc.DiagnosticsServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    # Deliberately bare (no error decorator): it is the baseline, so it must cost exactly the gRPC floor
    # and nothing of ours. It cannot fail.
    async def Ping(self, request: pb.PingRequest, context: Context) -> pb.PingResponse:
        return _PONG

    @rpc
    async def GetServerInfo(self, request: pb.GetServerInfoRequest, context: Context) -> pb.ServerInfo:
        rt = self.rt
        info = pb.ServerInfo(version=rt.version, backend=rt.backend, pid=os.getpid(), worker=worker_index())
        if rt.loaded:
            store = rt.ledger.store
            info.sequence = store.sequence
            info.positions = store.position_count
            info.locations = len(store.network)
            info.skus = len(store.skus)
            info.channels = len(store.network.channels)
            info.read_model_bytes = store.nbytes()
            info.stale = rt.stale
        return info
