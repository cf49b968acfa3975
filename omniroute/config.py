"""Server configuration: a frozen dataclass, validated where it is made, from flags and OMNIROUTE_* variables.

Precedence: a command-line flag wins over its environment variable, which wins over the default. Every
value read from the environment goes through the same validation as a flag, and an error names the
variable (or flag) it came from, so a typo in a deployment manifest fails at start-up with a clear message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = "OMNIROUTE_"
DEFAULT_PORT = 50051
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
_MAX_MESSAGE_MB = 2047  # gRPC message lengths are int32 byte counts


class ConfigError(ValueError):
    """A configuration value is invalid; `source` is the flag or variable it came from."""

    def __init__(self, source: str, value: object, reason: str) -> None:
        self.source = source
        self.value = value
        self.reason = reason
        super().__init__(f"{source}={value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    # None: no TCP listener (Unix socket only). 0: an ephemeral port (tests).
    port: int | None = DEFAULT_PORT
    unix_socket: Path | None = None
    log_level: str = "INFO"
    # Log lines as text (people) or one JSON object a line (log pipelines); omniroute/logs.py.
    log_format: str = "text"
    # Prometheus metrics over HTTP on this port of `host` (0: any free port, reported in the log); None:
    # off, nothing counted. omniroute/metrics.py.
    metrics_port: int | None = None
    # OpenTelemetry tracing of gRPC calls, exported as the OTEL_* variables say (needs the `otel` extra).
    otel: bool = False
    # A snapshot directory to load at start-up; None: the generated demo network.
    data_dir: Path | None = None
    max_message_mb: int = 32
    grace_seconds: float = 10.0
    # On SIGTERM, keep answering calls this long while health already says NOT_SERVING, before the drain:
    # pollers (kubelet probes, load balancers' health checks) need a few checks to stop sending traffic,
    # and a port that refuses at once fails the calls they still send meanwhile.
    drain_delay_seconds: float = 0.0
    feed_channel: str = "web"
    demo_size: str = "demo"
    demo_seed: int = 7
    # The Redis ledger (shared by every replica) instead of the embedded one, e.g. redis://host:6379/0, or
    # a Redis Cluster by any of its nodes, redis+cluster://host:7000 (README "Redis Cluster").
    redis_url: str | None = None
    redis_prefix: str = "omniroute"
    # ATP rules (inbound shares, default safety stock, status thresholds) as TOML; overrides a snapshot's
    # own atp.toml. None: the snapshot's, else the defaults.
    atp_config: Path | None = None
    # The routing cost model as TOML (router/network.py, README "Routing"); None: the --data directory's
    # routing.toml when it has one, else the defaults.
    routing_config: Path | None = None
    # The embedded ledger's state directory (a journal of every write plus checkpoints): its state then
    # survives restarts. None: the state lives in memory only.
    state_dir: Path | None = None
    # A write answers only once its journal entry is fsynced (off: once the OS has it, which survives a
    # crash of the process but not of the machine).
    state_fsync: bool = True
    # Server processes sharing the port (SO_REUSEPORT), each a replica of the Redis ledger. The embedded
    # ledger is one process: more than one worker needs --redis.
    workers: int = 1

    # Security (omniroute/edge.py, README "Security"). A TOML file of hashed bearer tokens and their roles;
    # None: authentication off, every caller may call every RPC.
    auth_tokens: Path | None = None
    # TLS on the TCP port: the certificate chain and its key (PEM); with tls_client_ca, mutual TLS (every
    # client must present a certificate signed by that CA). The Unix socket stays plaintext.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # Open WatchAvailability / ExportLocalInventory streams one caller (token, else client address) may hold.
    max_streams_per_caller: int = 64
    # The deadline of a unary call whose client set none, in seconds; 0: none.
    default_deadline_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host or any(c.isspace() for c in self.host):
            raise ConfigError("host", self.host, "must be a non-empty address without spaces")
        if self.port is not None and not (
            isinstance(self.port, int) and not isinstance(self.port, bool) and 0 <= self.port <= 65535
        ):
            raise ConfigError("port", self.port, "must be an integer in [0, 65535] (0: any free port)")
        if self.port is None and self.unix_socket is None:
            raise ConfigError("port", None, "TCP is off and no Unix socket is set: nothing to listen on")
        if self.unix_socket is not None and len(str(self.unix_socket).encode()) > 107:
            # sun_path is 108 bytes on Linux; a longer path fails deep inside gRPC with an obscure error
            raise ConfigError("unix_socket", str(self.unix_socket), "path must be at most 107 bytes")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError("log_level", self.log_level, f"must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError("log_format", self.log_format, f"must be one of {', '.join(LOG_FORMATS)}")
        if self.metrics_port is not None and not (
            isinstance(self.metrics_port, int)
            and not isinstance(self.metrics_port, bool)
            and 0 <= self.metrics_port <= 65535
        ):
            raise ConfigError("metrics_port", self.metrics_port, "must be an integer in [0, 65535] (0: any free port)")
        if self.metrics_port and self.metrics_port == self.port:
            raise ConfigError("metrics_port", self.metrics_port, "must differ from the gRPC port")
        if not isinstance(self.otel, bool):
            raise ConfigError("otel", self.otel, "must be true or false")
        if not (isinstance(self.max_message_mb, int) and 1 <= self.max_message_mb <= _MAX_MESSAGE_MB):
            raise ConfigError(
                "max_message_mb", self.max_message_mb, f"must be an integer in [1, {_MAX_MESSAGE_MB}]"
            )
        if not (
            isinstance(self.grace_seconds, (int, float))
            and math.isfinite(self.grace_seconds)
            and 0 <= self.grace_seconds <= 3600
        ):
            raise ConfigError("grace_seconds", self.grace_seconds, "must be a number of seconds in [0, 3600]")
        if not (
            isinstance(self.drain_delay_seconds, (int, float))
            and math.isfinite(self.drain_delay_seconds)
            and 0 <= self.drain_delay_seconds <= 300
        ):
            raise ConfigError(
                "drain_delay_seconds", self.drain_delay_seconds, "must be a number of seconds in [0, 300]"
            )
        if not self.feed_channel:
            raise ConfigError("feed_channel", self.feed_channel, "must not be empty")
        # the generator owns the list of sizes and rejects unknown ones when the server starts
        if not self.demo_size.isidentifier():
            raise ConfigError("demo_size", self.demo_size, "must be a size name such as 'demo'")
        if isinstance(self.demo_seed, bool) or not isinstance(self.demo_seed, int):
            raise ConfigError("demo_seed", self.demo_seed, "must be an integer")
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if self.redis_url is not None and not self.redis_url.startswith(schemes):
            raise ConfigError(
                "redis_url", self.redis_url, "must be a redis://, rediss://, unix:// or redis+cluster:// URL"
            )
        if not self.redis_prefix or any(c in self.redis_prefix for c in "{} \n*?[]"):
            raise ConfigError("redis_prefix", self.redis_prefix, "must be non-empty, without braces or spaces")
        if self.state_dir is not None and self.redis_url is not None:
            raise ConfigError(
                "state_dir",
                str(self.state_dir),
                "is for the embedded ledger; the Redis ledger keeps its state in Redis: use --state-dir or --redis, "
                "not both",
            )
        if self.state_dir is not None and not str(self.state_dir).strip():
            raise ConfigError("state_dir", str(self.state_dir), "must be a directory path")
        if not isinstance(self.state_fsync, bool):
            raise ConfigError("state_fsync", self.state_fsync, "must be true or false")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or not 1 <= self.workers <= 64:
            raise ConfigError("workers", self.workers, "must be an integer in [1, 64]")
        if self.workers > 1:
            if self.redis_url is None:
                raise ConfigError(
                    "workers", self.workers, "the embedded ledger is one process; more than one worker needs --redis"
                )
            if not self.port:
                raise ConfigError("workers", self.workers, "workers share one TCP port: give --port (not 0 or off)")
            if self.unix_socket is not None:
                raise ConfigError("workers", self.workers, "a Unix socket cannot be shared by workers")

        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError(
                "tls_cert" if self.tls_cert is None else "tls_key",
                None,
                "--tls-cert and --tls-key go together (the certificate and its private key)",
            )
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("tls_client_ca", str(self.tls_client_ca), "mutual TLS needs --tls-cert and --tls-key")
        if (
            isinstance(self.max_streams_per_caller, bool)
            or not isinstance(self.max_streams_per_caller, int)
            or not 1 <= self.max_streams_per_caller <= 100_000
        ):
            raise ConfigError(
                "max_streams_per_caller", self.max_streams_per_caller, "must be an integer in [1, 100000]"
            )
        if not (
            isinstance(self.default_deadline_seconds, (int, float))
            and math.isfinite(self.default_deadline_seconds)
            and 0 <= self.default_deadline_seconds <= 86_400
        ):
            raise ConfigError(
                "default_deadline_seconds", self.default_deadline_seconds, "must be seconds in [0, 86400] (0: none)"
            )

    @property
    def max_message_bytes(self) -> int:
        return self.max_message_mb * 1024 * 1024

    @classmethod
    def load(
        cls, flags: Mapping[str, object | None] | None = None, env: Mapping[str, str] | None = None
    ) -> ServerConfig:
        """Defaults, then OMNIROUTE_<FIELD> variables, then flags that were given (not None)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        origin: dict[str, str] = {}
        known = {f.name for f in fields(cls)}
        for name in sorted(known):
            var = ENV_PREFIX + name.upper()
            raw = env.get(var)
            if raw is not None and raw.strip() != "":
                values[name] = _PARSERS[name](var, raw)
                origin[name] = var
        for name, value in (flags or {}).items():
            if name not in known:
                raise ConfigError(name, value, "unknown setting")
            if value is None:
                continue
            flag = f"--{name.replace('_', '-')}"
            values[name] = _PARSERS[name](flag, value) if isinstance(value, str) else value
            origin[name] = flag
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ConfigError as err:
            # say where the bad value came from: the variable or flag the operator has to fix
            if err.source in origin:
                raise ConfigError(origin[err.source], err.value, err.reason) from None
            raise


def _text(source: str, raw: object) -> str:
    return str(raw).strip()


def _int(source: str, raw: object) -> int:
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ConfigError(source, raw, "must be an integer") from None


def _float(source: str, raw: object) -> float:
    try:
        return float(str(raw).strip())
    except ValueError:
        raise ConfigError(source, raw, "must be a number") from None


def _port(source: str, raw: object) -> int | None:
    text = str(raw).strip().lower()
    if text in ("off", "none", "no"):
        return None
    return _int(source, raw)


def _path(source: str, raw: object) -> Path:
    return Path(str(raw).strip()).expanduser()


def _level(source: str, raw: object) -> str:
    return str(raw).strip().upper()


def _lower(source: str, raw: object) -> str:
    return str(raw).strip().lower()


def _bool(source: str, raw: object) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(source, raw, "must be on or off (true/false, yes/no, 1/0)")


_PARSERS: dict[str, Callable[[str, object], object]] = {
    "host": _text,
    "port": _port,
    "unix_socket": _path,
    "log_level": _level,
    "log_format": _lower,
    "metrics_port": _port,
    "otel": _bool,
    "data_dir": _path,
    "max_message_mb": _int,
    "grace_seconds": _float,
    "drain_delay_seconds": _float,
    "feed_channel": _text,
    "demo_size": _text,
    "demo_seed": _int,
    "redis_url": _text,
    "workers": _int,
    "redis_prefix": _text,
    "atp_config": _path,
    "routing_config": _path,
    "state_dir": _path,
    "state_fsync": _bool,
    "auth_tokens": _path,
    "tls_cert": _path,
    "tls_key": _path,
    "tls_client_ca": _path,
    "max_streams_per_caller": _int,
    "default_deadline_seconds": _float,
}
