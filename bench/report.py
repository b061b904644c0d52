"""The machine a run measured, and its results as tables (stdout) and JSON (a file)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "temporalio": version("temporalio"),
        "pydantic": version("pydantic"),
        "temporal_cli": _temporal_cli_version(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def render(results: dict[str, Any]) -> str:
    config = results.get("config") or {}
    where = "the dev server (in memory)"
    if config.get("server", "dev") != "dev":
        where = "deploy/'s topology (Temporal on PostgreSQL)"
    elif config.get("webhooks", True):
        where += "; every return event delivered to a webhook subscriber"
    else:
        where += "; no webhook subscriber"
    sections = [
        f"Server: {where}",
        _throughput(results.get("throughput")),
        _latency(results.get("latency")),
        _history(results.get("history")),
        _footprint(results.get("footprint")),
        _profiles((results.get("throughput") or {}).get("profiles")),
    ]
    return "\n\n".join(s for s in sections if s)


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in header], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in cells
    ]
    return "\n".join([title, *lines[:1], "-" * len(lines[0]), *lines[1:]])


def _throughput(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    rows = [
        [
            name,
            v["returns_per_s"],
            v["vs_baseline"],
            v["journey_p50_ms"],
            *v["cpu_ms_per_return"].values(),
            v["worker_cpu_vs_baseline"],
        ]
        for name, v in result["variants"].items()
    ]
    header = ["variant", "returns/s", "vs baseline", "journey p50 ms", *_cpu_header(result), "worker CPU vs baseline"]
    text = table("Throughput: whole happy path (medians over rounds)", header, rows)
    return f"{text}\nscale-out, 2 worker processes / 1: {result['scale_out']}"


def _cpu_header(result: dict[str, Any]) -> list[str]:
    first = next(iter(result["variants"].values()))
    return [f"CPU ms/return {role}" for role in first["cpu_ms_per_return"]]


def _latency(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    rows = [
        [f"{what}: {name}", p.get("p50"), p.get("p95"), p.get("p99"), p["n"]]
        for what, key in (("start", "start_ms"), ("event -> visible", "event_to_visible_ms"))
        for name, p in result[key].items()
    ]
    return table("Latency, one return at a time (ms)", ["", "p50", "p95", "p99", "n"], rows)


def _history(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    rows = [[name, h["final_stage"], h["events"], h["bytes"], h["events_until_resolved"]] for name, h in result.items()]
    header = ["branch", "final stage", "events", "bytes", "events until resolved"]
    return table("History per finished return", header, rows)


def _footprint(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    rows = []
    for kind, f in result.items():
        for cache in ("cached", "evicting"):
            run = f[cache]
            rss = ", ".join(f"{n}: {mib}" for n, mib in run["rss_mib"].items())
            per_return = f["kib_per_cached_return"] if cache == "cached" else f["kib_per_return_beyond_cache"]
            rows.append([f"{kind}, cache {run['max_cached_workflows']}", rss, per_return, run["signals_per_s"]])
    header = ["worker", "RSS MiB by open returns", "KiB per return", "signals/s"]
    ratios = ", ".join(f"{kind} {f['evicted_vs_cached']}" for kind, f in result.items())
    return f"{table('Footprint: returns open, waiting for scans', header, rows)}\nsignals to evicted / cached: {ratios}"


def _profiles(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    owners = sorted({owner for p in result.values() for owner in p["by_owner_pct"]})
    rows = [[name, *(p["by_owner_pct"].get(o, 0.0) for o in owners)] for name, p in result.items()]
    return table("Worker profile, % of samples by owner (py-spy)", ["variant", *owners], rows)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _temporal_cli_version() -> str | None:
    cli = os.environ.get("TEMPORAL_CLI_PATH")
    if not cli:
        return None
    return subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
