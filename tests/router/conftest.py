"""Fixtures of the routing tests: kernels compiled once, the generated demo network built once."""

from __future__ import annotations

import pytest

from availability import StockStore
from omniroute.networkgen import generate_network
from router import _kernels


@pytest.fixture(scope="session", autouse=True)
def _router_kernels() -> None:
    _kernels.warm_up()


@pytest.fixture(scope="session")
def demo_store() -> StockStore:
    """The generated demo network (64 locations, 3,000 SKUs), seed 7: never written to by the tests."""
    return StockStore.from_snapshot(generate_network("demo", seed=7))
