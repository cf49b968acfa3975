"""The tables `omniroute bench` prints: one for the run, one for --compare."""

from __future__ import annotations

from rich.table import Table

from .results import Delta, Results, Row


def number(x: float | None) -> str:
    if x is None:
        return ""
    if abs(x) >= 1e6:
        return f"{x / 1e6:.1f}M"
    if abs(x) >= 1e5:
        return f"{x / 1e3:.0f}k"
    if abs(x) >= 1_000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3g}"


def verdict(row: Row) -> str:
    if row.skipped:
        return f"[yellow]{row.skipped}[/]"
    met = row.met
    if met is None:
        return "[dim]n/a[/]" if any(not g.applies for g in row.goals) else ""
    return "[green]met[/]" if met else "[red]missed[/]"


def results_table(results: Results) -> Table:
    net, m = results.network, results.machine
    table = Table(
        title=f"omniroute bench: {net['size']} network, seed {net['seed']} ({net['locations']:,} locations, "
        f"{net['skus']:,} SKUs, {net['positions']:,} positions)",
        caption=f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; Python {m['python']}; "
        f"commit {str(m.get('commit', ''))[:10] or '?'}{' (modified)' if m.get('dirty') else ''}; "
        f"{results.created}; {results.elapsed_s:.0f} s",
    )
    table.add_column("name", no_wrap=True)
    table.add_column("figure", justify="right", no_wrap=True)
    table.add_column("unit")
    table.add_column("p50 / p99", justify="right", no_wrap=True)
    table.add_column("ratio", justify="right")
    table.add_column("goal")
    table.add_column("")
    for row in results.rows:
        latency = ""
        if row.p50 is not None and row.p99 is not None:
            latency = f"{number(row.p50)} / {number(row.p99)} {row.latency_unit.split(' ')[0]}"
        table.add_row(
            row.key,
            number(row.figure),
            row.unit,
            latency,
            f"{row.ratio:.2f}" if row.ratio is not None else "",
            "; ".join(g.text for g in row.goals),
            verdict(row),
        )
    return table


def notes(results: Results) -> list[str]:
    """What each ratio divides, once per kind of ratio, and why a goal is n/a (the table has no room)."""
    seen: dict[str, list[str]] = {}
    for row in results.rows:
        if row.ratio_of and row.ratio is not None:
            seen.setdefault(row.ratio_of, []).append(row.key)
    out = [f"ratio of {', '.join(keys)}: {what}" for what, keys in seen.items()]
    for row in results.rows:
        scales = [g.scale for g in row.goals if not g.applies]
        if scales and not row.skipped:
            out.append(f"n/a: {row.key}'s goal is stated {scales[0]}, not for this network")
    return out


def compare_table(deltas: list[Delta], before: str) -> Table:
    table = Table(title=f"against {before}")
    for col, justify in (("name", "left"), ("before", "right"), ("now", "right"), ("unit", "left"),
                         ("change", "right"), ("", "left")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    style = {"better": "green", "worse": "red"}
    for d in deltas:
        change = f"{d.change:+.1%}" if d.change is not None else ""
        verdict = f"[{style[d.verdict]}]{d.verdict}[/]" if d.verdict in style else d.verdict
        table.add_row(d.key, number(d.before), number(d.after), d.unit, change, verdict)
    return table
