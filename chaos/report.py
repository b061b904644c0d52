"""Tables for the terminal, and the JSON file every figure comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_run(results: dict[str, Any]) -> str:
    out = [f"Chaos run {results['run_id']}: {results['returns']} returns in {results['wall_s']:.0f} s"]
    rows = []
    for kind, row in sorted(results["outcomes"].items()):
        stages = ", ".join(f"{k.removeprefix('stage:')} {v}" for k, v in sorted(row.items()) if k.startswith("stage:"))
        rows.append([kind, row["returns"], row["as_expected"], row["returns"] - row["as_expected"], stages])
    total = sum(r["returns"] for r in results["outcomes"].values())
    good = sum(r["as_expected"] for r in results["outcomes"].values())
    rows.append(["all", total, good, total - good, ""])
    out += ["", table(["kind", "returns", "as expected", "failed", "final stages"], rows)]
    out += ["", table(["headline", "returns"], [[name, n] for name, n in results["headline"].items()])]
    faults = results["faults"]
    unfired = faults["unfired"]
    fault_rows = [[kind, n] for kind, n in sorted(faults["injected"].items())]
    out += ["", table(["fault injected", "times"], fault_rows)]
    if unfired:
        out.append(f"vendor faults still waiting to fire at the end (cleared): {unfired}")
    callers = results["callers"]
    out += [
        "",
        f"webhook outcomes: {callers['webhook_outcomes']}",
        f"held deliveries sent while no worker ran: {callers['held_deliveries_sent_with_no_worker']}"
        f" (sent by their owner, no window came: {callers['held_deliveries_sent_by_owner']})",
        f"operator retries: {callers['operator_retries']}; actions found done after a lost answer:"
        f" {callers['found_done_after_lost_answer']}",
        f"503 answers without Retry-After: {sum(callers['503_without_retry_after'].values())}",
    ]
    out += ["", render_routes(results["routes"])]
    if results["violations"]:
        shown = results["violations"][:40]
        out += [
            "",
            table(["return", "invariant", "detail"], [[v["return_id"], v["invariant"], v["detail"]] for v in shown]),
        ]
        if len(results["violations"]) > len(shown):
            out.append(f"... {len(results['violations']) - len(shown)} more in the JSON")
    for failure in results["failures"][:20]:
        out.append(f"failure {failure['return_id']}: {failure['dossier']} (history {failure['history']})")
    return "\n".join(out)


def render_routes(routes: dict[str, Any]) -> str:
    rows = []
    for route, figures in routes.items():
        statuses = " ".join(f"{status}:{n}" for status, n in figures["statuses"].items())
        rows.append(
            [
                route,
                figures.get("n", 0),
                figures.get("p50", "-"),
                figures.get("p95", "-"),
                figures.get("p99", "-"),
                figures.get("max", "-"),
                statuses,
            ]
        )
    return table(["route", "answers", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses"], rows)
