"""gRPC servicers: thin translators between protobuf and the engine (see omniroute.status for errors)."""

from .availability import AvailabilityServicer as AvailabilityServicer
from .diagnostics import DiagnosticsServicer as DiagnosticsServicer
from .inventory import InventoryServicer as InventoryServicer
