"""ServerConfig: defaults, validation, and flags over OMNIROUTE_* variables over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniroute.config import ConfigError, ServerConfig


def test_defaults() -> None:
    c = ServerConfig.load({}, {})
    assert (c.host, c.port, c.unix_socket, c.log_level, c.data_dir) == (
        "127.0.0.1",
        50051,
        None,
        "INFO",
        None,
    )
    assert c.max_message_bytes == 32 * 1024 * 1024


def test_flags_win_over_environment_over_defaults() -> None:
    env = {
        "OMNIROUTE_PORT": "6000",
        "OMNIROUTE_HOST": "0.0.0.0",
        "OMNIROUTE_LOG_LEVEL": "debug",
        "OMNIROUTE_DATA_DIR": "/srv/snap",
        "OMNIROUTE_GRACE_SECONDS": "2.5",
    }
    c = ServerConfig.load({"port": "7000", "host": None}, env)
    assert (c.port, c.host, c.log_level, c.data_dir, c.grace_seconds) == (
        7000,
        "0.0.0.0",
        "DEBUG",
        Path("/srv/snap"),
        2.5,
    )


def test_unix_socket_only() -> None:
    c = ServerConfig.load({"port": "off", "unix_socket": "/tmp/o.sock"}, {})
    assert c.port is None and c.unix_socket == Path("/tmp/o.sock")
    with pytest.raises(ConfigError, match="nothing to listen on"):
        ServerConfig.load({"port": "off"}, {})


@pytest.mark.parametrize(
    ("flags", "env", "source"),
    [
        ({}, {"OMNIROUTE_PORT": "99999"}, "OMNIROUTE_PORT"),
        ({"port": "-1"}, {}, "--port"),
        ({}, {"OMNIROUTE_LOG_LEVEL": "chatty"}, "OMNIROUTE_LOG_LEVEL"),
        ({"max_message_mb": "0"}, {}, "--max-message-mb"),
        ({}, {"OMNIROUTE_MAX_MESSAGE_MB": "lots"}, "OMNIROUTE_MAX_MESSAGE_MB"),
        ({"grace_seconds": "-3"}, {}, "--grace-seconds"),
        ({"drain_delay_seconds": "301"}, {}, "--drain-delay-seconds"),
        ({}, {"OMNIROUTE_DRAIN_DELAY_SECONDS": "nan"}, "OMNIROUTE_DRAIN_DELAY_SECONDS"),
        ({"unix_socket": "/tmp/" + "x" * 120}, {}, "--unix-socket"),
        ({"host": "bad host"}, {}, "--host"),
    ],
)
def test_errors_name_the_flag_or_variable(flags: dict[str, str], env: dict[str, str], source: str) -> None:
    with pytest.raises(ConfigError) as err:
        ServerConfig.load(flags, env)
    assert err.value.source == source


def test_unknown_setting() -> None:
    with pytest.raises(ConfigError):
        ServerConfig.load({"colour": "blue"}, {})


def test_redis_url_may_name_one_server_or_a_cluster() -> None:
    for url in ("redis://h:6379/0", "rediss://h:6380/1", "unix:///run/redis.sock", "redis+cluster://h:7000",
                "rediss+cluster://h:7000"):  # fmt: skip
        assert ServerConfig.load({"redis_url": url}, {}).redis_url == url
    with pytest.raises(ConfigError, match=r"redis\+cluster://") as err:
        ServerConfig.load({}, {"OMNIROUTE_REDIS_URL": "cluster://h:7000"})
    assert err.value.source == "OMNIROUTE_REDIS_URL"
