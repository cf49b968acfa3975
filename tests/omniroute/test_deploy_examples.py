"""The deployment examples say what the code accepts: the sidecar manifest's `omniroute serve` arguments
load as a valid configuration, and the socket the sidecar listens on is the one its probes and checkout
use. (The probes' `omniroute health` itself is tested in test_cli.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

from omniroute.cli import health, serve
from omniroute.config import ServerConfig

ROOT = Path(__file__).resolve().parents[2]
SIDECAR = ROOT / "examples" / "deploy" / "sidecar-pod.yaml"


def _flow_lists(key: str) -> list[list[str]]:
    """Every `key: [...]` one-line flow sequence of the manifest (valid JSON by the manifest's own rule)."""
    found = re.findall(rf"^\s*{key}: (\[.*\])\s*$", SIDECAR.read_text(), flags=re.MULTILINE)
    return [json.loads(text) for text in found]


def test_sidecar_serve_arguments_are_a_valid_configuration() -> None:
    (args,) = _flow_lists("args")
    flags = serve.make_context("serve", list(args)).params
    config = ServerConfig.load(flags, {"OMNIROUTE_REDIS_URL": "redis://redis.example:6379/0"})
    assert config.port is None and config.unix_socket is not None
    assert config.redis_url == "redis://redis.example:6379/0" and config.metrics_port == 9464
    assert f'containerPort: {config.metrics_port}' in SIDECAR.read_text()

    socket = f"unix:{config.unix_socket}"
    probes = _flow_lists("command")
    assert len(probes) == 3  # startup, readiness, liveness
    for probe in probes:
        assert probe[:2] == ["omniroute", "health"]
        params = health.make_context("health", probe[2:]).params
        assert params["target"] == socket
    assert re.search(rf'name: OMNIROUTE_TARGET, value: "{re.escape(socket)}"', SIDECAR.read_text())
    # both containers mount the socket's directory
    mount = str(config.unix_socket.parent)
    assert SIDECAR.read_text().count(f"mountPath: {mount}") == 2


def test_the_image_health_check_is_omniroute_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r'HEALTHCHECK .*\n\s*CMD (\[.*\])', dockerfile)
    assert match is not None
    command = json.loads(match.group(1))
    assert command[:2] == ["omniroute", "health"]
    assert health.make_context("health", command[2:]).params["target"] == "127.0.0.1:50051"
    assert "OMNIROUTE_PORT=50051" in dockerfile
