"""Fixtures for the service tests: a fresh real server per test (the tiny network), a Client and raw stubs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from omniroute.client import Client
from omniroute.v1 import availability_pb2_grpc, diagnostics_pb2_grpc, inventory_pb2_grpc

from .fixtures import ServerThread


@dataclass
class Stubs:
    channel: grpc.Channel
    availability: availability_pb2_grpc.AvailabilityServiceStub
    inventory: inventory_pb2_grpc.InventoryServiceStub
    diagnostics: diagnostics_pb2_grpc.DiagnosticsServiceStub


@pytest.fixture
def server() -> Iterator[ServerThread]:
    """A real server on 127.0.0.1:<free port> over the tiny network, fresh for every test."""
    srv = ServerThread().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[Client]:
    with Client(server.target, timeout=10.0) as c:
        yield c


@pytest.fixture
def stubs(server: ServerThread) -> Iterator[Stubs]:
    channel = grpc.insecure_channel(server.target)
    try:
        yield Stubs(
            channel,
            availability_pb2_grpc.AvailabilityServiceStub(channel),
            inventory_pb2_grpc.InventoryServiceStub(channel),
            diagnostics_pb2_grpc.DiagnosticsServiceStub(channel),
        )
    finally:
        channel.close()
