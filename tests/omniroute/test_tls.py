"""TLS and mutual TLS on the gRPC port (omniroute.tls): a throwaway CA and certificates made at test time
(nothing is committed), a real server on port 0; the handshakes succeed with the right certificates and
fail without them."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from omniroute.auth import Role, generate_token, hash_token, tokens_file_entry
from omniroute.cli import main
from omniroute.client import Client, ServiceError
from omniroute.server import ServerError

from .fixtures import ServerThread, with_config


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca: Path  # another CA: neither side trusts it
    rogue_client_cert: Path
    rogue_client_key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, data: bytes, *, secret: bool = False) -> Path:
    path.write_bytes(data)
    if secret:
        path.chmod(0o600)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, common: str, *, server: bool
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    pem = serialization.Encoding.PEM
    ca_key, ca = _ca("omniroute test CA")
    server_key, server = _leaf(ca_key, ca, "omniroute server", server=True)
    client_key, client = _leaf(ca_key, ca, "checkout", server=False)
    rogue_key, rogue = _ca("rogue CA")
    rogue_client_key, rogue_client = _leaf(rogue_key, rogue, "intruder", server=False)
    return Pki(
        ca=_write(d / "ca.pem", ca.public_bytes(pem)),
        server_cert=_write(d / "server.pem", server.public_bytes(pem)),
        server_key=_write(d / "server.key", _key_pem(server_key), secret=True),
        client_cert=_write(d / "client.pem", client.public_bytes(pem)),
        client_key=_write(d / "client.key", _key_pem(client_key), secret=True),
        rogue_ca=_write(d / "rogue-ca.pem", rogue.public_bytes(pem)),
        rogue_client_cert=_write(d / "rogue-client.pem", rogue_client.public_bytes(pem)),
        rogue_client_key=_write(d / "rogue-client.key", _key_pem(rogue_client_key), secret=True),
    )


@pytest.fixture(scope="module")
def tls_server(pki: Pki) -> Iterator[ServerThread]:
    srv = ServerThread(with_config(tls_cert=pki.server_cert, tls_key=pki.server_key)).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def mtls_server(pki: Pki) -> Iterator[ServerThread]:
    config = with_config(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca)
    srv = ServerThread(config).start()
    try:
        yield srv
    finally:
        srv.stop()


def refused(client: Client) -> ServiceError:
    """The call fails in the handshake: UNAVAILABLE, before any RPC reaches the server."""
    with client, pytest.raises(ServiceError) as err:
        client.ping(timeout=5)
    return err.value


def test_tls_handshake_with_the_right_ca(tls_server: ServerThread, pki: Pki) -> None:
    with Client(tls_server.target, tls_ca=pki.ca) as c:
        c.ping()
        assert c.get_availability(["SKU-1"], channel="web")["SKU-1"] == 92
    # a certificate for "localhost" reached by address, with the name to check given
    with Client(tls_server.target, tls_ca=pki.ca, tls_server_name="localhost") as c:
        c.ping()


def test_tls_refuses_plaintext_and_untrusted_servers(tls_server: ServerThread, pki: Pki) -> None:
    assert refused(Client(tls_server.target)).status is grpc.StatusCode.UNAVAILABLE  # plaintext client
    assert refused(Client(tls_server.target, tls_ca=pki.rogue_ca)).status is grpc.StatusCode.UNAVAILABLE
    # the system's roots do not know the test CA either
    assert refused(Client(tls_server.target, tls=True)).status is grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate_from_the_ca(mtls_server: ServerThread, pki: Pki) -> None:
    with Client(mtls_server.target, tls_ca=pki.ca, tls_cert=pki.client_cert, tls_key=pki.client_key) as c:
        c.ping()
        assert c.health() == "SERVING"
    # no client certificate: the handshake fails, health included (nothing is open without one)
    assert refused(Client(mtls_server.target, tls_ca=pki.ca)).status is grpc.StatusCode.UNAVAILABLE
    rogue = Client(mtls_server.target, tls_ca=pki.ca, tls_cert=pki.rogue_client_cert, tls_key=pki.rogue_client_key)
    assert refused(rogue).status is grpc.StatusCode.UNAVAILABLE
    assert refused(Client(mtls_server.target)).status is grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_and_tokens_together(pki: Pki, tmp_path: Path) -> None:
    token = generate_token()
    (tmp_path / "t.toml").write_text(tokens_file_entry("checkout", [Role.WRITE], hash_token(token)))
    config = with_config(
        tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca, auth_tokens=tmp_path / "t.toml"
    )
    srv = ServerThread(config).start()
    creds = {"tls_ca": pki.ca, "tls_cert": pki.client_cert, "tls_key": pki.client_key}
    try:
        with Client(srv.target, token=token, **creds) as c:  # type: ignore[arg-type]
            c.reserve("r-mtls", "web", [("SKU-1", 1)])
        with Client(srv.target, **creds) as c, pytest.raises(ServiceError) as err:  # type: ignore[arg-type]
            c.ping()
        assert err.value.status is grpc.StatusCode.UNAUTHENTICATED  # a certificate is not a token
        runner = CliRunner()
        args = ["availability", "SKU-1", "--target", srv.target, "--tls-ca", str(pki.ca)]
        args += ["--tls-cert", str(pki.client_cert), "--tls-key", str(pki.client_key)]
        result = runner.invoke(main, args, env={"OMNIROUTE_TOKEN": token})
        assert result.exit_code == 0, result.output
        assert "SKU-1" in result.output
        by_env = runner.invoke(
            main,
            ["availability", "SKU-1", "--target", srv.target],
            env={
                "OMNIROUTE_TOKEN": token,
                "OMNIROUTE_TLS_CA": str(pki.ca),
                "OMNIROUTE_CLIENT_TLS_CERT": str(pki.client_cert),
                "OMNIROUTE_CLIENT_TLS_KEY": str(pki.client_key),
            },
        )
        assert by_env.exit_code == 0, by_env.output
    finally:
        srv.stop()


def test_unix_socket_stays_plaintext_beside_a_tls_port(pki: Pki, tmp_path: Path) -> None:
    sock = tmp_path / "s.sock"
    srv = ServerThread(with_config(tls_cert=pki.server_cert, tls_key=pki.server_key, unix_socket=sock)).start()
    try:
        with Client(f"unix:{sock}") as c:
            c.ping()
    finally:
        srv.stop()


def test_bad_tls_files_stop_the_server_naming_the_file(pki: Pki, tmp_path: Path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    cases = [
        (with_config(tls_cert=tmp_path / "missing.pem", tls_key=pki.server_key), "missing.pem"),
        (with_config(tls_cert=not_pem, tls_key=pki.server_key), "not a PEM file with a CERTIFICATE block"),
        (with_config(tls_cert=pki.server_cert, tls_key=pki.server_cert), "PRIVATE KEY"),
        (
            with_config(tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=not_pem),
            f"client CA {not_pem}",
        ),
    ]
    for config, message in cases:
        srv = ServerThread(config)
        try:
            with pytest.raises(ServerError, match=message):
                srv.start()
        finally:
            srv.stop()
    result = CliRunner().invoke(
        main, ["serve", "--port", "0", "--tls-cert", str(not_pem), "--tls-key", str(pki.server_key)]
    )
    assert result.exit_code == 2 and "not.pem" in result.output
    only_cert = CliRunner().invoke(main, ["serve", "--port", "0", "--tls-cert", str(pki.server_cert)])
    assert only_cert.exit_code == 2 and "go together" in only_cert.output
    missing_ca = CliRunner().invoke(
        main, ["availability", "SKU-1", "--target", "127.0.0.1:1", "--tls-ca", str(tmp_path / "none.pem")]
    )
    assert missing_ca.exit_code == 2 and "none.pem" in missing_ca.output


def test_a_readable_key_earns_a_warning_and_the_mode_is_logged(
    pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    loose = tmp_path / "loose.key"
    loose.write_bytes(pki.server_key.read_bytes())
    loose.chmod(0o644)
    srv = ServerThread(with_config(tls_cert=pki.server_cert, tls_key=loose, tls_client_ca=pki.ca)).start()
    srv.stop()
    assert "can be read by other users" in caplog.text
    assert "mutual TLS (client certificates signed by" in caplog.text
    key_text = pki.server_key.read_text()
    assert key_text.splitlines()[1] not in caplog.text  # never the key itself
