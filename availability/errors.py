"""Domain errors. The service maps each class to one gRPC status code in one place."""

from __future__ import annotations

from dataclasses import dataclass


class OmnirouteError(Exception):
    """Base of every error the libraries raise on purpose."""


class InvalidArgument(OmnirouteError, ValueError):
    """Malformed input. Names the offending field and value; nothing was changed."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{field}={shown}: {reason}")


class NotFound(OmnirouteError, LookupError):
    """An id that must exist does not (reservations, locations in writes)."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"unknown {kind} {ident!r}")


class AlreadyExists(OmnirouteError):
    """An idempotency key was reused with a different payload."""

    def __init__(self, kind: str, ident: str, detail: str = "") -> None:
        self.kind = kind
        self.ident = ident
        msg = f"{kind} {ident!r} already exists with a different payload"
        super().__init__(msg + (f": {detail}" if detail else ""))


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One line that cannot be met: what was asked and what is actually available."""

    line: int
    sku: str
    location: str
    requested: int
    available: int


class InsufficientStock(OmnirouteError):
    """Not enough stock for at least one line; carries every shortfall, not only the first."""

    def __init__(self, shortfalls: list[Shortfall]) -> None:
        self.shortfalls = shortfalls
        parts = [
            f"line {s.line} {s.sku} at {s.location or '@network'}: "
            f"requested {s.requested}, available {s.available}"
            for s in shortfalls
        ]
        super().__init__("insufficient stock: " + "; ".join(parts))


class FailedPrecondition(OmnirouteError):
    """The request is well formed but the state does not allow it (e.g. invalid transition)."""


class Unavailable(OmnirouteError):
    """The backend (e.g. Redis) cannot be reached; retrying later may succeed."""
