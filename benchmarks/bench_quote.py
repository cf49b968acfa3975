"""Checkout promise (issue 4: "a quote for a 5-line cart under 10 ms p50"), in-process, no gRPC.

    python benchmarks/bench_quote.py                       # the demo network, 500 carts
    python benchmarks/bench_quote.py --networks demo 2k --carts 300

Protocol, per network, in one process:
1. Network and carts: benchmarks/bench_routing.py's networks (make_network) and orders (sample_orders,
   same seed rules): the 5-line orders among them, as carts to the same points, quoted at the protocol's
   fixed time (a Monday, 10:00 on the east coast). Default cost model.
2. Each cart is quoted for every method (standard, express, same day, pickup, curbside; 3 stores within
   50 km per collection method): router.promise.quote_fulfillment_options, which builds the candidate
   pool per ship level, finds the earliest date, solves for its cost, and routes the cart to each chosen
   store. After --warmup carts, timed as the measuring thread's CPU time (robust on a shared machine) and
   wall time; also the ship levels alone and the stores alone.
3. What the quotes say: share of carts with each level available, in one parcel, partial; stores listed.
Results go to a table on stdout and to JSON (--out, default under the git-ignored bench-results/).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(ROOT))

from availability import StockStore  # noqa: E402
from availability import _kernels as AK  # noqa: E402
from benchmarks.bench_routing import PLACED_AT_ISO, make_network, percentiles, sample_orders, say  # noqa: E402
from router import Order  # noqa: E402
from router import _kernels as RK  # noqa: E402
from router.model import DeliveryMethod  # noqa: E402
from router.promise import SHIP_METHODS, STORE_METHODS, quote_fulfillment_options  # noqa: E402

CART_LINES = 5


def carts(store: StockStore, n: int, seed: int) -> list[Order]:
    """The protocol's n first orders of exactly CART_LINES lines (drawn in batches until there are n)."""
    out: list[Order] = []
    batch = 0
    while len(out) < n:
        out += [o for o in sample_orders(store, 20 * n, seed + batch) if len(o.lines) == CART_LINES]
        batch += 1
    return out[:n]


def time_quotes(
    store: StockStore, orders: list[Order], methods: tuple[DeliveryMethod, ...], warmup: int
) -> tuple[dict[str, Any], list[Any]]:
    at = datetime.fromisoformat(PLACED_AT_ISO)
    cpu: list[float] = []
    wall: list[float] = []
    quotes = []
    for i, o in enumerate(orders):
        c0, w0 = time.thread_time(), time.perf_counter()
        q = quote_fulfillment_options(store, o.lines, o.destination, channel=o.channel, now=at, methods=methods)
        c1, w1 = time.thread_time(), time.perf_counter()
        if i < warmup:
            continue
        cpu.append((c1 - c0) * 1e3)
        wall.append((w1 - w0) * 1e3)
        quotes.append(q)
    return {"carts": len(cpu), "cpu_ms": percentiles(cpu), "wall_ms": percentiles(wall)}, quotes


def summarise(quotes: list[Any]) -> dict[str, Any]:
    n = len(quotes)
    out: dict[str, Any] = {}
    for m in SHIP_METHODS:
        opts = [q.option(m) for q in quotes]
        out[m.value] = {
            "available": round(sum(o.available for o in opts) / n, 3),
            "single_parcel": round(sum(o.single_parcel for o in opts) / n, 3),
            "partial": round(sum(o.available and o.partial for o in opts) / n, 3),
        }
    for m in STORE_METHODS:
        listed = [q.stores_for(m) for q in quotes]
        out[m.value] = {
            "stores_listed_mean": round(sum(len(s) for s in listed) / n, 2),
            "whole_cart_store": round(sum(any(not x.partial for x in s) for s in listed) / n, 3),
        }
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    AK.warm_up()
    RK.warm_up()
    out: dict[str, Any] = {"protocol": "benchmarks/bench_quote.py docstring", "networks": {}}
    for size in args.networks:
        say(f"{size}: building the network")
        store = StockStore.from_snapshot(make_network(size, args.seed))
        orders = carts(store, args.carts + args.warmup, args.seed)
        say(f"{size}: quoting {len(orders)} carts of {CART_LINES} lines")
        every, quotes = time_quotes(store, orders, (*SHIP_METHODS, *STORE_METHODS), args.warmup)
        ship, _ = time_quotes(store, orders, SHIP_METHODS, args.warmup)
        stores, _ = time_quotes(store, orders, STORE_METHODS, args.warmup)
        out["networks"][size] = {
            "locations": len(store.network),
            "every_method": every,
            "ship_levels_only": ship,
            "stores_only": stores,
            "quotes": summarise(quotes),
        }
    return out


def report(out: dict[str, Any]) -> None:
    print(f"{'network':<8} {'what':<18} {'carts':>6} {'CPU p50':>8} {'p90':>7} {'p99':>7} {'wall p50':>9}")
    for size, r in out["networks"].items():
        for what in ("every_method", "ship_levels_only", "stores_only"):
            t = r[what]
            print(
                f"{size:<8} {what:<18} {t['carts']:>6} {t['cpu_ms']['p50']:>6.2f}ms {t['cpu_ms']['p90']:>5.2f}ms "
                f"{t['cpu_ms']['p99']:>5.2f}ms {t['wall_ms']['p50']:>7.2f}ms"
            )
        print(f"         quotes: {json.dumps(r['quotes'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", default=["demo"], choices=["demo", "small", "2k", "large"])
    parser.add_argument("--carts", type=int, default=500, help="timed carts per network")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "quote.json")
    args = parser.parse_args()
    out = run(args)
    report(out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
