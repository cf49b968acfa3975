"""TLS and mutual TLS for the gRPC port: server credentials from PEM files, and the client's.

grpc and the standard library only (the client SDK imports this). The files are read when the server
starts, so a missing or unreadable file stops it with the file named rather than failing at the first
handshake. Keys are never logged; a key file that other users can read earns a warning.
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import grpc

log = logging.getLogger(__name__)


class TlsError(ValueError):
    """A certificate, key or CA file cannot be used; the message names it."""


def _read_pem(path: Path, what: str, marker: bytes) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TlsError(f"{what} {path}: {err.strerror or err}") from None
    # gRPC's own error for a file that is not PEM names neither the file nor the problem
    if b"-----BEGIN " not in data or marker not in data:
        raise TlsError(f"{what} {path}: not a PEM file with a {marker.decode()} block")
    return data


def read_certificate(path: Path, what: str = "certificate") -> bytes:
    return _read_pem(path, what, b"CERTIFICATE")


def read_private_key(path: Path, what: str = "private key") -> bytes:
    data = _read_pem(path, what, b"PRIVATE KEY")
    try:
        mode = path.stat().st_mode
    except OSError:  # pragma: no cover - it was just read
        mode = 0
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s %s can be read by other users: chmod 600 it", what, path)
    return data


def server_credentials(cert: Path, key: Path, client_ca: Path | None = None) -> grpc.ServerCredentials:
    """TLS with `cert` (the chain, leaf first) and `key`; with `client_ca`, mutual TLS: every client must
    present a certificate signed by that CA, else the handshake fails before any call is read."""
    chain = read_certificate(cert)
    private = read_private_key(key)
    roots = read_certificate(client_ca, "client CA") if client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(private, chain)], root_certificates=roots, require_client_auth=roots is not None
    )


def channel_credentials(
    ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> grpc.ChannelCredentials:
    """The client's TLS credentials: `ca` to verify the server (None: the system's trusted roots) and, for
    mutual TLS, this client's `cert` and `key`."""
    if (cert is None) != (key is None):
        raise TlsError("a client certificate and its key go together (tls_cert and tls_key)")
    return grpc.ssl_channel_credentials(
        root_certificates=read_certificate(ca, "CA") if ca is not None else None,
        private_key=read_private_key(key, "client key") if key is not None else None,
        certificate_chain=read_certificate(cert, "client certificate") if cert is not None else None,
    )
