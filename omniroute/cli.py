"""The `omniroute` command: serve, ask a running server for availability, export the local inventory feed.

Commands import the engine only when they need it, so `omniroute availability` starts as fast as a
gRPC client can.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .client import (
    DEFAULT_TARGET,
    FEED_COLUMNS,
    Client,
    DeliveryMethod,
    Method,
    Order,
    OrderLine,
    ServiceError,
    Status,
)
from .config import ConfigError, ServerConfig

TARGET_ENV = "OMNIROUTE_TARGET"
_STATUS_STYLE = {
    Status.IN_STOCK: "green",
    Status.LOW_STOCK: "yellow",
    Status.OUT_OF_STOCK: "red",
    Status.UNSPECIFIED: "dim",
}


def _err_console() -> Console:
    return Console(stderr=True)


@contextmanager
def _service_errors() -> Iterator[None]:
    """Server errors as one readable line (plus the offending fields), exit status 1."""
    try:
        yield
    except ServiceError as err:
        lines = [f"{err.status.name}: {err.message}"]
        lines += [f"  {name}: {why}" for name, why in err.field_violations]
        if err.status.name == "UNAVAILABLE" and "connect" in err.message.lower():
            lines.append("  is `omniroute serve` running there? (see --target)")
        raise click.ClickException("\n".join(lines)) from None


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="omniroute")
def main() -> None:
    """Available-to-promise and order routing for omnichannel retail."""


# ---------------------------------------------------------------------------------------------- serve
@main.command()
@click.option("--host", default=None, help="Bind address (env OMNIROUTE_HOST; default 127.0.0.1).")
@click.option(
    "--port", default=None, help="TCP port, 0 for any free port, 'off' for none (env OMNIROUTE_PORT)."
)
@click.option(
    "--unix-socket", default=None, help="Also listen on this Unix socket (env OMNIROUTE_UNIX_SOCKET)."
)
@click.option(
    "--data", "data_dir", default=None, help="Load this snapshot directory (env OMNIROUTE_DATA_DIR)."
)
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (env OMNIROUTE_LOG_LEVEL).")
@click.option(
    "--log-format", default=None, help="text or json: one JSON object a line (env OMNIROUTE_LOG_FORMAT; default text)."
)
@click.option(
    "--metrics-port",
    default=None,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics, 0 for any free port (env OMNIROUTE_METRICS_PORT; "
    "default off).",
)
@click.option(
    "--otel/--no-otel",
    default=None,
    help="OpenTelemetry tracing of gRPC calls, exported as the OTEL_* variables say; needs "
    "`pip install 'omniroute[otel]'` (env OMNIROUTE_OTEL; default off).",
)
@click.option(
    "--max-message-mb", default=None, help="Largest request or response (env OMNIROUTE_MAX_MESSAGE_MB)."
)
@click.option("--grace-seconds", default=None, help="Drain time on SIGTERM (env OMNIROUTE_GRACE_SECONDS).")
@click.option(
    "--drain-delay-seconds", default=None,
    help="On SIGTERM, keep answering this long while health says NOT_SERVING, then drain: time for load "
    "balancers and probes to notice (env OMNIROUTE_DRAIN_DELAY_SECONDS; default 0).",
)  # fmt: skip
@click.option(
    "--feed-channel", default=None, help="Default channel of the feed (env OMNIROUTE_FEED_CHANNEL)."
)
@click.option("--demo-size", default=None, help="Demo network size without --data (env OMNIROUTE_DEMO_SIZE).")
@click.option("--demo-seed", default=None, help="Demo network seed (env OMNIROUTE_DEMO_SEED).")
@click.option(
    "--redis",
    "--redis-url",
    "redis_url",
    default=None,
    help="Use the Redis ledger at this URL, shared by every replica: redis://, rediss://, unix://, or "
    "redis+cluster://HOST:PORT (any node) for Redis Cluster (env OMNIROUTE_REDIS_URL).",
)
@click.option(
    "--redis-prefix", default=None, help="Key prefix of the Redis ledger (env OMNIROUTE_REDIS_PREFIX)."
)
@click.option(
    "--atp-config",
    default=None,
    help="ATP rules as TOML: inbound shares, default safety stock, status thresholds (env OMNIROUTE_ATP_CONFIG).",
)
@click.option(
    "--routing-config",
    default=None,
    help="Routing cost model as TOML (default: routing.toml in --data, else built-in; env OMNIROUTE_ROUTING_CONFIG).",
)
@click.option(
    "--state-dir",
    default=None,
    help="Keep the embedded ledger's state in this directory across restarts (env OMNIROUTE_STATE_DIR).",
)
@click.option(
    "--state-fsync/--no-state-fsync",
    default=None,
    help="Answer a write only once it is fsynced in --state-dir (default on; env OMNIROUTE_STATE_FSYNC).",
)
@click.option(
    "--workers",
    default=None,
    help="Server processes sharing the port, each a replica of the Redis ledger (env OMNIROUTE_WORKERS).",
)
@click.option(
    "--auth-tokens",
    default=None,
    help="Require bearer tokens: a TOML file of hashed tokens and roles, see `omniroute token` "
    "(env OMNIROUTE_AUTH_TOKENS; default: authentication off).",
)
@click.option("--tls-cert", default=None, help="TLS on the TCP port: certificate chain, PEM (env OMNIROUTE_TLS_CERT).")
@click.option("--tls-key", default=None, help="The certificate's private key, PEM (env OMNIROUTE_TLS_KEY).")
@click.option(
    "--tls-client-ca",
    default=None,
    help="Mutual TLS: require client certificates signed by this CA, PEM (env OMNIROUTE_TLS_CLIENT_CA).",
)
@click.option(
    "--max-streams-per-caller",
    default=None,
    help="Open WatchAvailability/ExportLocalInventory streams per token or client address (default 64; "
    "env OMNIROUTE_MAX_STREAMS_PER_CALLER).",
)
@click.option(
    "--default-deadline-seconds",
    default=None,
    help="Deadline of unary calls that set none (default 60, 0: none; env OMNIROUTE_DEFAULT_DEADLINE_SECONDS).",
)
def serve(**flags: str | bool | None) -> None:
    """Run the gRPC server. Without --data: the embedded ledger with a generated demo network."""
    try:
        config = ServerConfig.load(flags)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    _check_edge(config)
    from .workers import is_worker, supervise

    if config.workers > 1 and not is_worker():
        from .server import configure_logging

        configure_logging(config.log_level, config.log_format)
        raise SystemExit(supervise(config))
    if config.data_dir is not None and not config.data_dir.is_dir():
        raise click.UsageError(f"--data {config.data_dir}: not a directory")
    atp = None
    if config.atp_config is not None:
        from availability.errors import InvalidArgument
        from availability.model import load_atp_config

        try:
            atp = load_atp_config(config.atp_config)
        except InvalidArgument as err:
            raise click.UsageError(f"--atp-config: {err}") from None

    from .server import ServerError, demo_loader, loader_for, routing_cost_model, run, with_state_dir

    try:
        routing_cost_model(config)  # read again at start; checked here so a bad file is a usage error
    except ServerError as err:
        raise click.UsageError(f"--routing-config: {err}") from None

    console = _err_console()
    loader: Callable[[], Any]
    if config.redis_url is None and config.data_dir is None and console.is_terminal:
        loader = with_state_dir(config, _demo_with_progress(config, console, demo_loader, atp))
    else:
        loader = loader_for(config, atp)
    try:
        run(config, loader)
    except ServerError as err:
        logging.getLogger("omniroute").error("%s", err)
        raise SystemExit(1) from None


def _check_edge(config: ServerConfig) -> None:
    """The tokens and TLS files, read now so that a bad one is a usage error (the server reads them
    again when it starts)."""
    from .edge import EdgeError, build_edge
    from .server import SERVICE_NAMES

    try:
        build_edge(config, SERVICE_NAMES)
    except EdgeError as err:
        raise click.UsageError(str(err)) from None


def _demo_with_progress(
    config: ServerConfig, console: Console, demo_loader: Any, atp: Any = None
) -> Callable[[], Any]:
    def load() -> Any:
        # runs on the server's loader thread; rich's live display is thread-safe
        with _progress(console) as bar:
            task = bar.add_task(f"generating the {config.demo_size} network", total=1.0, detail="")

            def report(stage: str, fraction: float) -> None:
                bar.update(task, completed=fraction, detail=stage)

            return demo_loader(config.demo_size, config.demo_seed, progress=report, atp=atp)()

    return load


# ---------------------------------------------------------------------------------------------- generate
@main.command()
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Directory for the snapshot files (created if needed).",
)  # fmt: skip
@click.option(
    "--size", type=click.Choice(["demo", "small", "medium", "large"]), default="small", show_default=True,
    help="demo 64 locations / 3k SKUs, small 200 / 20k, medium 600 / 100k, large 2,000 / 500k.",
)  # fmt: skip
@click.option("--seed", type=int, default=7, show_default=True, help="The same seed gives the same network.")
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True,
    help="File format of the tables.",
)  # fmt: skip
@click.option(
    "--base-date", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
    help="Day inbound supply is counted from (default: today).",
)  # fmt: skip
def generate(out_dir: Path, size: str, seed: int, fmt: str, base_date: Any) -> None:
    """Generate a network with its stock (real US cities, stores weighted by population, DCs at hubs,
    skewed popularity) and write it as a snapshot directory that `serve --data`, `load` and every other
    command read."""
    import time as _time

    from availability.errors import InvalidArgument
    from availability.ingest import write_snapshot

    from .networkgen import generate_network

    console = _err_console()
    started = _time.perf_counter()
    with _service_errors(), _progress(console) as bar:
        task = bar.add_task(f"generating the {size} network", total=1.0, detail="")

        def report(stage: str, fraction: float) -> None:
            bar.update(task, completed=fraction, detail=stage)

        day = base_date.date() if base_date is not None else date.today()
        snap = generate_network(size, seed=seed, progress=report, base_date=day)
        bar.update(task, completed=1.0, detail=f"writing {fmt}")
        try:
            write_snapshot(snap, out_dir, format="csv" if fmt == "csv" else "parquet")
        except InvalidArgument as err:
            raise click.ClickException(str(err)) from None
    console.print(
        f"{size} network (seed {seed}): {len(snap.locations):,} locations, {len(snap.skus):,} SKUs, "
        f"{snap.positions:,} positions written to {out_dir} in {_time.perf_counter() - started:.1f} s"
    )


# ---------------------------------------------------------------------------------------------- bench
@main.command()
@click.option(
    "--size", type=click.Choice(["demo", "small", "medium"]), default="small", show_default=True,
    help="The generated network measured (omniroute generate's sizes; cached under bench-results/networks).",
)  # fmt: skip
@click.option("--seed", type=click.IntRange(min=0), default=7, show_default=True, help="The network's seed.")
@click.option("--quick", is_flag=True, help="The same rows with a fraction of the calls (about 15 s; rougher).")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None,
    help="Results as JSON (default bench-results/bench-<UTC time>.json).",
)  # fmt: skip
@click.option(
    "--compare", "compare_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
    help="An earlier run's JSON: print the change of every row against it.",
)  # fmt: skip
@click.option(
    "--only", default=None, metavar="SUITE,...",
    help="Only these suites: atp, ledger, routing, quote, batch, redis, grpc (default: all).",
)  # fmt: skip
def bench(size: str, seed: int, quick: bool, out: Path | None, compare_path: Path | None, only: str | None) -> None:
    """Run the standard benchmark set on a generated network, in-process and over gRPC (a server started
    on a free port; Redis rows on a throw-away redis-server), print one table and write the figures and
    the machine as JSON."""
    from .bench.command import bench_command

    bench_command(size=size, seed=seed, quick=quick, out=out, compare_path=compare_path, only=only)


# ---------------------------------------------------------------------------------------------- simulate
@main.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Directory for the Parquet files and report.html (made if needed; e.g. sim-results/NAME).",
)  # fmt: skip
@click.option("--days", type=click.IntRange(1, 366), default=None, help="Override the scenario's run.days.")
@click.option(
    "--policy", "policies", multiple=True, metavar="NAME",
    help="Only these routing policies (repeatable); default the scenario's run.policies.",
)  # fmt: skip
def simulate(scenario_file: Path, out_dir: Path, days: int | None, policies: Sequence[str]) -> None:
    """Replay days of trade from a scenario file against the engine in-process (online carts and orders,
    walk-in sales, expiring carts, returns, pick rejections rerouted, replenishment), once per routing
    policy on identical demand; write orders, shipments, stock flows and metrics as Parquet, an HTML
    report with plots, and print a summary."""
    from .simulation.command import simulate_command

    simulate_command(scenario_file, out_dir, days=days, policies=tuple(policies))


# ---------------------------------------------------------------------------------------------- load
@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="The snapshot directory to load.",
)
@click.option(
    "--redis",
    "--redis-url",
    "redis_url",
    default=lambda: os.environ.get("OMNIROUTE_REDIS_URL"),
    show_default="$OMNIROUTE_REDIS_URL",
    help="The Redis ledger to load into, e.g. redis://127.0.0.1:6379/0 (redis+cluster://HOST:PORT: a cluster).",
)
@click.option(
    "--prefix",
    default=lambda: os.environ.get("OMNIROUTE_REDIS_PREFIX", "omniroute"),
    show_default="$OMNIROUTE_REDIS_PREFIX or omniroute",
    help="Key prefix of the ledger.",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 1024),
    default=None,
    help="Partitions of a new ledger (default 1); a ledger keeps the count it was created with.",
)
def load(data_dir: Path, redis_url: str | None, prefix: str, partitions: int | None) -> None:
    """Load a snapshot into the Redis ledger; running replicas switch to it by themselves. The ATP rules
    are the directory's atp.toml if it has one, else the ledger's current ones."""
    if not redis_url:
        raise click.UsageError("--redis URL (or OMNIROUTE_REDIS_URL) is required")
    from availability.errors import OmnirouteError
    from availability.ingest import load_snapshot
    from availability.ledger.redis import load_into_redis
    from availability.ledger.scripts import redacted

    console = _err_console()
    try:
        with _progress(console) as bar:
            task = bar.add_task(f"reading {data_dir}", total=1.0, detail="")
            snapshot = load_snapshot(data_dir)
            bar.update(task, description=f"writing to {redacted(redis_url)}", completed=0.0)

            def report(stage: str, fraction: float) -> None:
                bar.update(task, completed=fraction, detail=stage)

            done = load_into_redis(redis_url, snapshot, prefix=prefix, partitions=partitions, progress=report)
    except OmnirouteError as err:
        raise click.ClickException(str(err)) from None
    rate = done.positions / done.seconds if done.seconds > 0 else 0.0
    console.print(
        f"loaded {len(snapshot.skus):,} SKUs and {done.positions:,} positions into {redacted(redis_url)} "
        f"(prefix {prefix!r}, generation {done.generation}, {done.partitions} partitions) "
        f"in {done.seconds:.1f} s ({rate:,.0f} positions/s)"
    )


# ---------------------------------------------------------------------------------------------- availability
def _point(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        lat, lon = (float(x) for x in value.split(","))
    except ValueError:
        raise click.BadParameter("expected LAT,LON, e.g. 42.36,-71.06", param_hint="--near") from None
    return lat, lon


TOKEN_ENV = "OMNIROUTE_TOKEN"
_CONNECTION = "omniroute.connection"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # how to connect is kept in the context rather than passed to every command: `_client` reads it
    ctx.meta.setdefault(_CONNECTION, {})[param.name] = value
    return value


def _env(name: str) -> Callable[[], str | None]:
    return lambda: os.environ.get(name) or None


def target_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--target, and how to reach it: --token, TLS (--tls, --tls-ca) and a client certificate for mutual
    TLS (--tls-cert, --tls-key)."""
    options = [
        click.option(
            "--target",
            default=lambda: os.environ.get(TARGET_ENV, DEFAULT_TARGET),
            show_default=f"${TARGET_ENV} or {DEFAULT_TARGET}",
            help="Server address: HOST:PORT or unix:/path/to.sock.",
        ),
        # the default is shown as the variable's name, never its value
        click.option(
            "--token", default=_env(TOKEN_ENV), show_default=f"${TOKEN_ENV}", expose_value=False,
            callback=_remember, help="Bearer token sent with every call (the variable keeps it out of `ps`).",
        ),
        click.option(
            "--tls", is_flag=True, expose_value=False, callback=_remember,
            help="Connect with TLS, checking the server against the system's trusted roots.",
        ),
        click.option(
            "--tls-ca", default=_env("OMNIROUTE_TLS_CA"), show_default="$OMNIROUTE_TLS_CA", expose_value=False,
            callback=_remember, help="Connect with TLS, checking the server's certificate against this CA (PEM).",
        ),
        click.option(
            "--tls-cert", default=_env("OMNIROUTE_CLIENT_TLS_CERT"), show_default="$OMNIROUTE_CLIENT_TLS_CERT",
            expose_value=False, callback=_remember, help="Mutual TLS: this client's certificate (PEM).",
        ),
        click.option(
            "--tls-key", default=_env("OMNIROUTE_CLIENT_TLS_KEY"), show_default="$OMNIROUTE_CLIENT_TLS_KEY",
            expose_value=False, callback=_remember, help="Mutual TLS: this client's private key (PEM).",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        fn = option(fn)
    return fn


def _client(target: str, timeout: float) -> Client:
    """A Client for `target` with the command's --token and TLS options."""
    from .tls import TlsError

    given: dict[str, Any] = click.get_current_context().meta.get(_CONNECTION, {})
    try:
        return Client(
            target,
            timeout=timeout,
            token=given.get("token"),
            tls=bool(given.get("tls")),
            tls_ca=given.get("tls_ca"),
            tls_cert=given.get("tls_cert"),
            tls_key=given.get("tls_key"),
        )
    except (TlsError, ValueError) as err:
        raise click.UsageError(str(err)) from None


@main.command()
@click.argument("skus", nargs=-1, required=True)
@click.option("--channel", default="web", show_default=True)
@click.option("--method", type=click.Choice([m.value for m in Method]), default="ship", show_default=True)
@click.option("--near", default=None, metavar="LAT,LON", help="Only locations within --radius of this point.")
@click.option("--radius", type=float, default=None, metavar="KM", help="Radius around --near, in km.")
@click.option("--group", default=None, help="Only this location group.")
@click.option("--location", "locations", multiple=True, help="Only these locations (repeatable).")
@click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Count inbound due by this date."
)
@click.option("--per-location", is_flag=True, help="Also show every location's figure.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds.")
@target_option
def availability(
    skus: Sequence[str],
    channel: str,
    method: str,
    near: str | None,
    radius: float | None,
    group: str | None,
    locations: Sequence[str],
    as_of: Any,
    per_location: bool,
    timeout: float,
    target: str,
) -> None:
    """Available-to-promise for SKUs, from a running server."""
    point = _point(near)
    if (point is None) != (radius is None):
        raise click.UsageError("--near and --radius go together")
    if sum(x is not None for x in (point, group, locations or None)) > 1:
        raise click.UsageError("use at most one of --near/--radius, --group and --location")
    day: date | None = as_of.date() if as_of is not None else None
    with _service_errors(), _client(target, timeout) as client:
        a = client.get_availability(
            list(skus),
            channel=channel,
            method=method,
            group=group,
            locations=list(locations) or None,
            near=point,
            radius_km=radius,
            as_of=day,
            per_location=per_location,
        )
    where = (
        f"within {radius:g} km of {near}"
        if point
        else f"group {group}"
        if group
        else ", ".join(locations)
        if locations
        else "network"
    )
    title = f"{channel} / {method} / {where}" + (f" / as of {day}" if day else "")
    table = Table(title=title, caption=f"ledger sequence {a.sequence}" + (" (stale)" if a.stale else ""))
    table.add_column("SKU")
    table.add_column("available", justify="right")
    table.add_column("status")
    for sku, qty, status, unknown in a.rows():
        label = "unknown SKU" if unknown else status.value.replace("_", " ")
        table.add_row(sku, str(qty), f"[{_STATUS_STYLE[status]}]{label}[/]")
    console = Console()
    console.print(table)
    if per_location:
        loc_table = Table(title="per location")
        for col, justify in (
            ("SKU", "left"),
            ("location", "left"),
            ("available", "right"),
            ("status", "left"),
        ):
            loc_table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for row in a.locations:
            label = row.status.value.replace("_", " ")
            loc_table.add_row(
                row.sku, row.location, str(row.quantity), f"[{_STATUS_STYLE[row.status]}]{label}[/]"
            )
        console.print(loc_table)


# ---------------------------------------------------------------------------------------------- feed
@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .csv or .parquet.",
)
@click.option("--channel", default=None, help="Channel whose availability the feed shows (default: web).")
@click.option("--location", "locations", multiple=True, help="Only these stores or groups (repeatable).")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Build the feed from this snapshot directory instead of asking a server.",
)
@click.option("--chunk-rows", type=int, default=10_000, show_default=True, help="Rows per streamed message.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds.")
@target_option
def feed(
    out: Path,
    channel: str | None,
    locations: Sequence[str],
    data_dir: Path | None,
    chunk_rows: int,
    timeout: float,
    target: str,
) -> None:
    """Export the local inventory feed (Merchant Center fields) as CSV or Parquet."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter("must end in .csv or .parquet", param_hint="--out")
    import polars as pl

    from availability.errors import InvalidArgument
    from availability.feed import feed_from_snapshot_dir, write_table

    console = _err_console()
    with _progress(console) as bar:
        if data_dir is not None:
            bar.add_task(f"building the feed from {data_dir}", total=None, detail="")
            try:
                df = feed_from_snapshot_dir(data_dir, channel or "web", list(locations) or None)
            except InvalidArgument as err:
                raise click.ClickException(str(err)) from None
        else:
            task = bar.add_task(f"receiving the feed from {target}", total=None, detail="0 rows")
            columns: dict[str, list[Any]] = {name: [] for name in FEED_COLUMNS}
            with _service_errors(), _client(target, timeout) as client:
                for chunk in client.export_local_inventory(
                    channel=channel or "", locations=list(locations), chunk_rows=chunk_rows
                ):
                    for name, values in chunk.columns().items():
                        columns[name].extend(values)
                    bar.update(task, detail=f"{len(columns['id']):,} rows")
            # the wire has no null strings: an empty pickup_sla means "no pickup here"
            columns["pickup_sla"] = [v or None for v in columns["pickup_sla"]]
            df = pl.DataFrame(
                columns,
                schema={
                    "store_code": pl.String,
                    "id": pl.String,
                    "quantity": pl.Int64,
                    "availability": pl.String,
                    "pickup_method": pl.String,
                    "pickup_sla": pl.String,
                },
            )
        write_table(df, out)
    _err_console().print(f"wrote {df.height:,} rows to {out}")


# ---------------------------------------------------------------------------------------------- route
def _order_from(
    spec: dict[str, Any],
    *,
    order_id: str | None,
    channel: str | None,
    lines: Sequence[str],
    to: str | None,
    store: str | None,
    method: str | None,
    deliver_by: Any,
    placed_at: Any,
    max_shipments: int | None,
    allow_partial: bool,
    allow_backorder: bool,
    exclude: Sequence[str],
) -> Order:
    """An Order from a JSON object (the --file), with flags given on the command line winning."""
    parsed: list[OrderLine] = []
    for i, ln in enumerate(spec.get("lines", [])):
        if isinstance(ln, dict):
            parsed.append(OrderLine(str(ln.get("sku", "")), int(ln.get("quantity", 0)),
                                    tuple(ln.get("excluded_locations", ()))))  # fmt: skip
        elif isinstance(ln, list | tuple) and len(ln) == 2:
            parsed.append(OrderLine(str(ln[0]), int(ln[1])))
        else:
            raise click.BadParameter(f"lines[{i}]: expected [sku, quantity] or an object", param_hint="--file")
    for text in lines:
        sku, sep, qty = text.rpartition(":")
        if not sep or not qty.lstrip("-").isdigit():
            raise click.BadParameter(f"{text!r}: expected SKU:QUANTITY", param_hint="--line")
        parsed.append(OrderLine(sku, int(qty)))
    destination: Any = spec.get("destination")
    if isinstance(destination, dict):
        destination = destination.get("store") or (destination.get("latitude"), destination.get("longitude"))
    if to is not None:
        destination = _point(to)
    if store is not None:
        destination = store
    if destination is None:
        raise click.UsageError("give the destination: --to LAT,LON or --store ID (or \"destination\" in --file)")
    if isinstance(destination, list):
        destination = tuple(destination)
    when = placed_at or (datetime.fromisoformat(spec["placed_at"]) if spec.get("placed_at") else None)
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    by = deliver_by.date() if deliver_by is not None else None
    if by is None and spec.get("deliver_by"):
        by = date.fromisoformat(spec["deliver_by"])
    chosen = method or spec.get("method") or ("pickup" if isinstance(destination, str) else "standard")
    return Order(
        order_id=order_id or spec.get("order_id") or "cli-order",
        channel=channel or spec.get("channel") or "web",
        lines=parsed,
        destination=destination,
        method=DeliveryMethod(chosen),
        deliver_by=by,
        placed_at=when,
        max_shipments=max_shipments if max_shipments is not None else int(spec.get("max_shipments", 0)),
        allow_partial=allow_partial or bool(spec.get("allow_partial", False)),
        allow_backorder=allow_backorder or bool(spec.get("allow_backorder", False)),
        excluded_locations=tuple(exclude) or tuple(spec.get("excluded_locations", ())),
    )


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@main.command()
@click.option("--file", "spec_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The order as JSON: order_id, channel, lines [[sku, qty], ...], destination [lat, lon] or a "
                   "store id, method, deliver_by, placed_at, max_shipments, allow_partial, allow_backorder, "
                   "excluded_locations. Flags override it.")
@click.option("--order-id", default=None, help="Order id (default cli-order).")
@click.option("--channel", default=None, help="Channel (default web).")
@click.option("--line", "lines", multiple=True, metavar="SKU:QTY", help="An order line (repeatable).")
@click.option("--to", default=None, metavar="LAT,LON", help="Ship to this point.")
@click.option("--store", default=None, help="Collect at this store (pickup, curbside).")
@click.option("--method", type=click.Choice([m.value for m in DeliveryMethod]), default=None,
              help="Default standard, or pickup with --store.")
@click.option("--deliver-by", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Hard delivery date.")
@click.option("--placed-at", type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="The order's time (default now; UTC unless an offset is given).")
@click.option("--max-shipments", type=int, default=None)
@click.option("--allow-partial", is_flag=True)
@click.option("--allow-backorder", is_flag=True)
@click.option("--exclude", multiple=True, help="A location or group that must not serve the order (repeatable).")
@click.option("--policy", default="", help="optimal (default), nearest, priority, high_stock, fewest_shipments.")
@click.option("--hold", is_flag=True, help="Hold the plan (confirmed location holds).")
@click.option("--reservation-id", default="", help="The order's reservation to hold the plan in (default its id).")
@click.option("--time-limit", type=float, default=0.0, help="Optimiser time limit, seconds (0: server default).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds.")
@target_option
def route(
    spec_file: Path | None,
    policy: str,
    hold: bool,
    reservation_id: str,
    time_limit: float,
    timeout: float,
    target: str,
    **flags: Any,
) -> None:
    """Route one order on a running server: the plan, its cost and why, as a table."""
    import json

    spec: dict[str, Any] = {}
    if spec_file is not None:
        try:
            spec = json.loads(spec_file.read_text())
        except (OSError, ValueError) as err:
            raise click.BadParameter(str(err), param_hint="--file") from None
        if not isinstance(spec, dict):
            raise click.BadParameter("expected a JSON object", param_hint="--file")
    order = _order_from(spec, **flags)
    with _service_errors(), _client(target, timeout) as client:
        routed = client.route_order(
            order, policy=policy, hold=hold, reservation_id=reservation_id, time_limit_s=time_limit
        )
    r = routed.result
    gap = f", gap {r.gap:.2%}" if r.gap is not None else ""
    caption = (
        f"{r.status.value} by {r.solver} in {r.solve_time_s * 1000:.1f} ms{gap}; total {_money(r.total_cost)}"
        + (f"; {r.candidates.considered} of {r.candidates.pool} candidate locations" if r.candidates else "")
    )
    table = Table(title=f"order {r.order_id} / {r.policy}", caption=caption)
    for col, justify in (("location", "left"), ("lines", "left"), ("ships", "left"), ("arrives", "left"),
                         ("km", "right"), ("cost", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for s in r.shipments:
        table.add_row(
            s.location,
            ", ".join(f"{ln.sku} x{ln.quantity}" for ln in s.lines),
            s.ship_date.isoformat(),
            s.delivery_date.isoformat(),
            f"{s.distance_km:.0f}",
            _money(s.cost.total),
        )
    console = Console()
    console.print(table)
    for u in r.unfulfilled:
        console.print(f"[yellow]unfulfilled[/]: {u.sku} {u.missing} of {u.requested} ({u.reason.replace('_', ' ')})")
        if u.backordered:
            arrives = f"; arrives {u.expected_delivery_date.isoformat()}" if u.expected_delivery_date else ""
            console.print(f"  [yellow]back order[/]: {u.backorder_note}{arrives}")
    if r.message:
        console.print(r.message)
    if r.explanation:
        console.print(f"why: {r.explanation}")
    if routed.hold is not None:
        h = routed.hold
        again = f" after routing again {h.reroutes} time{'s' if h.reroutes != 1 else ''}" if h.reroutes else ""
        if h.held and h.reservation is not None:
            console.print(f"[green]held[/] in {h.reservation.reservation_id}{again}")
        else:
            console.print(f"[red]not held[/]: {h.message}")


# ---------------------------------------------------------------------------------------------- reconcile
@main.command()
@click.option("--repair", is_flag=True, help="Fix what is found, with recorded compensating changes.")
@click.option("--sku", "skus", multiple=True, help="Only these SKUs (repeatable; default: all).")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Seconds.")
@target_option
def reconcile(repair: bool, skus: Sequence[str], timeout: float, target: str) -> None:
    """Check the ledger's hold counters against its reservations (and, on the embedded ledger, on hand
    against the changes applied since its base); exit status 1 if anything is left inconsistent (found
    and not repaired)."""
    with _service_errors(), _client(target, timeout) as client:
        report = client.reconcile(repair=repair, skus=list(skus))
    console = Console()
    found = report.inconsistencies
    summary = (
        f"{report.positions_checked:,} positions and {report.reservations_checked:,} open reservations "
        f"checked at ledger sequence {report.sequence}"
    )
    if not found:
        console.print(f"[green]consistent[/]: {summary}")
        return
    title = f"{len(found)} inconsistenc{'y' if len(found) == 1 else 'ies'}" + (" (repaired)" if repair else "")
    table = Table(title=title, caption=summary)
    for col in ("SKU", "place", "counter"):
        table.add_column(col)
    table.add_column("expected", justify="right")
    table.add_column("found", justify="right")
    table.add_column("reservations")
    table.add_column("repaired")
    for i in found:
        # a hot SKU can have thousands of holds at one place: the first few identify the drift
        shown = ", ".join(i.reservations[:5]) + (f" (+{len(i.reservations) - 5})" if len(i.reservations) > 5 else "")
        table.add_row(
            i.sku,
            i.place,
            i.counter,
            str(i.expected),
            str(i.found),
            shown or "-",
            "[green]yes[/]" if i.repaired else "[red]no[/]",
        )
    console.print(table)
    if not report.consistent:
        raise SystemExit(1)


# --------------------------------------------------------------------------------------------- health
@main.command()
@click.option(
    "--service", default="",
    help="A service's name (e.g. omniroute.v1.AvailabilityService) instead of the overall status.",
)
@click.option(
    "--wait", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
    help="Keep asking until SERVING, for at most this long.",
)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True,
              help="Seconds per check.")
@target_option
def health(service: str, wait: float, timeout: float, target: str) -> None:
    """Exit 0 when the server says SERVING, 1 when it answers anything else (loading, ledger out of
    reach, draining), 2 when it cannot be reached. For exec probes where a gRPC probe cannot reach the
    server (a sidecar on a Unix socket), and for scripts waiting on a server."""
    deadline = time.monotonic() + wait
    with _client(target, timeout) as client:
        while True:
            try:
                status = client.health(service, timeout=timeout)
                failure = None
            except ServiceError as err:
                status, failure = "", err
            if status == "SERVING" or time.monotonic() >= deadline:
                break
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    if failure is not None:
        if failure.status.name == "NOT_FOUND":  # the server runs, but knows no service of that name
            click.echo(f"{target}: NOT_FOUND: no health status for service {service!r}", err=True)
            raise SystemExit(1)
        click.echo(f"{target}: {failure.status.name}: {failure.message}", err=True)
        raise SystemExit(2)
    click.echo(f"{target} {service or '(overall)'}: {status}")
    if status != "SERVING":
        raise SystemExit(1)


# ---------------------------------------------------------------------------------------------- token
@main.command()
@click.option("--name", required=True, help="Who the token is for (shown in logs and errors), e.g. checkout.")
@click.option(
    "--role", "roles", multiple=True, required=True, type=click.Choice(["read", "write", "admin"]),
    help="read, write or admin; cumulative (write includes read). Repeatable.",
)  # fmt: skip
def token(name: str, roles: Sequence[str]) -> None:
    """Make a new random token for `serve --auth-tokens`: prints the token, once, and the entry for the
    tokens file, which keeps only its SHA-256. Store the token where the caller keeps its secrets (e.g. as
    OMNIROUTE_TOKEN); it cannot be shown again."""
    from .auth import check_name, generate_token, hash_token, role_of, tokens_file_entry

    try:
        check_name(name)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--name") from None
    secret = generate_token()
    click.echo(f"# the token for {name!r}, shown only this once:")
    click.echo(secret)
    click.echo("# add to the tokens file (serve --auth-tokens), which holds only its hash:")
    click.echo(tokens_file_entry(name, [role_of(r) for r in roles], hash_token(secret)), nl=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
