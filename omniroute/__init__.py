"""omniroute: the gRPC service over the inventory engine, its Python client and the command line.

`import omniroute` loads only the client side (grpcio and the generated stubs), never the engine.
"""

from .client import Availability as Availability
from .client import AvailabilityChange as AvailabilityChange
from .client import Client as Client
from .client import Method as Method
from .client import ServiceError as ServiceError
from .client import Status as Status
from .client import StockEvent as StockEvent
