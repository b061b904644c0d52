"""Benchmark of the store: bulk load, append rate, and every report, on SQLite and PostgreSQL.

    python -m store.bench                                   # 1,000,000 returns, both databases
    python -m store.bench --returns 20000 --calls 5         # a quick look
    make bench-store BENCH_STORE_ARGS="--backends sqlite"

Figures are printed side by side and written to .run/store-bench/results.json (`--output`);
nothing here asserts a time. One database at a time, removed after its figures (a million
returns take about 25 GB). Steps, for each database:

1. migrate, and bulk-load N synthetic returns' events with their read model and rollups
   (the same returns for each database; generating them is timed apart);
2. time a plain full scan of the events table (the floor), and the reports that have daily
   rollups reading the detail rows instead (`detail=True`: what they would cost without);
3. time every report as it runs, over the whole span and over its last 30 days: p50 and p95
   of `--calls` calls each;
4. append `--append-returns` new returns' events one event per transaction through
   `EventStore.append`, the path the workflow's activity uses: from one thread, then from
   `--threads` threads at once.

PostgreSQL runs in a throwaway cluster (`store.pg_cluster`) with fsync on: appends are
measured with durable commits. SQLite runs in WAL mode with synchronous=NORMAL (`store.db`).
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text

from store import reports
from store.bulk import prepare, writer_for
from store.generate import Synthetic
from store.migrate import migrate
from store.pg_cluster import throwaway_postgres
from store.sales import StoredUnitsSold
from store.store import EventStore

log = structlog.get_logger("store.bench")

FLOOR_SQL = "SELECT type, count(*) FROM events GROUP BY type"
PG_SETTINGS = {
    "fsync": "on",
    "full_page_writes": "on",
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "2GB",
    "checkpoint_timeout": "30min",
    "effective_cache_size": "12GB",
}


def report_calls(
    store: EventStore, period: reports.Period, as_of: datetime, *, detail: bool = False
) -> dict[str, Callable[[], Any]]:
    sales = StoredUnitsSold(store.engine)
    rolled_up = {
        "returns_by_reason": lambda: reports.by_reason(store, period, detail=detail),
        "returns_by_sku": lambda: reports.by_sku(store, period, detail=detail),
        "returns_by_category": lambda: reports.by_category(store, period, detail=detail),
        "return_rate_by_sku": lambda: reports.return_rates(store, period, sales, by="sku", detail=detail),
        "return_rate_by_category": lambda: reports.return_rates(store, period, sales, by="category", detail=detail),
        "money": lambda: reports.money(store, period, detail=detail),
        "dispositions": lambda: reports.dispositions(store, period, detail=detail),
        "money_usd": lambda: reports.money(store, period, "USD", detail=detail),
        "durations": lambda: reports.durations(store, period, detail=detail),
        "durations_usd": lambda: reports.durations(store, period, "USD", detail=detail),
        "top_repeat_returners": lambda: reports.top_repeat_returners(store, period, detail=detail),
    }
    if detail:
        return rolled_up
    return {
        **rolled_up,
        "open_returns": lambda: reports.open_returns(store, as_of=as_of),
        "needs_attention": lambda: reports.needs_attention(store),
        "needs_attention_trend": lambda: reports.needs_attention_trend(store, period),
        "expired_labels": lambda: reports.expired_labels(store, period, label_cost={"USD": 800}),
        "returns_per_customer": lambda: reports.returns_per_customer(store, period),
        "return_rate_by_month": lambda: reports.return_rate_by_month(store, period, sales),
    }


def timed(call: Callable[[], Any], calls: int) -> dict[str, float]:
    seconds = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "calls": calls,
        "p50_s": round(statistics.median(ordered), 4),
        "p95_s": round(p95, 4),
        "max_s": round(ordered[-1], 4),
    }


def floor(store: EventStore, calls: int) -> dict[str, float]:
    def scan() -> None:
        with store.reading() as reader:
            reader.execute(text(FLOOR_SQL)).all()

    return timed(scan, calls)


def analyze(store: EventStore) -> float:
    started = time.perf_counter()
    if store.engine.dialect.name == "sqlite":
        with store.engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    else:
        raw = store.engine.raw_connection()
        try:
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE")
        finally:
            raw.close()
    return round(time.perf_counter() - started, 1)


def sizes(store: EventStore) -> dict[str, Any]:
    with store.engine.connect() as connection:
        counts = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("events", "returns", "return_lines", "units_sold")
        }
        if store.engine.dialect.name == "sqlite":
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
            size = connection.exec_driver_sql("PRAGMA page_size").scalar()
            counts["database_bytes"] = pages * size
        else:
            counts["database_bytes"] = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    return counts


def append_rate(store: EventStore, synthetic: Synthetic, threads: int) -> dict[str, Any]:
    """Appends every event of the synthetic returns, one transaction each; `threads` workers
    take whole returns (a return's events stay in order, as its workflow sends them)."""
    batches = list(synthetic.stream())
    events = sum(len(batch) for batch in batches)
    lock = threading.Lock()
    queue = list(reversed(batches))

    def work() -> None:
        while True:
            with lock:
                if not queue:
                    return
                batch = queue.pop()
            for event in batch:
                store.append(event)

    started = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    return {
        "threads": threads,
        "returns": len(batches),
        "events": events,
        "seconds": round(seconds, 2),
        "returns_per_s": round(len(batches) / seconds, 1),
        "events_per_s": round(events / seconds, 1),
    }


def main(argv: list[str] | None = None) -> int:
    from integrations.log_config import configure_logging

    parser = argparse.ArgumentParser(prog="python -m store.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--returns", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--calls", type=int, default=20, help="calls per report (p95 of them)")
    parser.add_argument("--detail-calls", type=int, default=3, help="calls per report reading the detail rows")
    parser.add_argument("--floor-calls", type=int, default=5)
    parser.add_argument("--append-returns", type=int, default=2_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workdir", default=".run/store-bench", help="SQLite file and PostgreSQL cluster live here")
    parser.add_argument("--output", default=".run/store-bench/results.json")
    parser.add_argument(
        "--existing",
        metavar="URL",
        help="measure a store this command loaded before (its --returns and --days), skipping the load",
    )
    args = parser.parse_args(argv)
    configure_logging()
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    end = datetime(2025, 7, 1, tzinfo=UTC)
    synthetic = Synthetic(args.returns, end=end, days=args.days)
    whole = reports.Period(synthetic.start(), end)
    last_30_days = reports.Period(end - timedelta(days=30), end)
    # the span's months are whole; a year from mid-month adds two edges of days to every rollup read
    mid_month = reports.Period(whole.start + timedelta(days=14), end - timedelta(days=14))
    periods = {"whole_span": whole, "last_30_days": last_30_days, "mid_month_span": mid_month}
    results: dict[str, Any] = {
        "returns": args.returns,
        "days": args.days,
        "calls": args.calls,
        "started": datetime.now(UTC).isoformat(),
        "floor_sql": FLOOR_SQL,
        "backends": {},
    }
    # One database at a time, removed after its figures: a million returns' events take about
    # 25 GB in either, and the machine's disk is shared.
    signal.signal(signal.SIGTERM, _stop)  # so a stopped run still stops its cluster
    if args.existing:
        migrate(args.existing)
        with _closing(EventStore.open(args.existing)) as store:
            analyze(store)
            results["backends"][store.engine.dialect.name] = measure(store, synthetic, periods, args)
    for backend in [] if args.existing else args.backends.split(","):
        with ExitStack() as stack:
            if backend == "sqlite":
                path = workdir / "bench.db"
                for leftover in workdir.glob("bench.db*"):
                    leftover.unlink()
                stack.callback(lambda path=path: [leftover.unlink() for leftover in path.parent.glob("bench.db*")])
                url = f"sqlite:///{path}"
            else:
                url = stack.enter_context(throwaway_postgres(PG_SETTINGS, root=str(workdir)))
            migrate(url)
            store = stack.enter_context(_closing(EventStore.open(url)))
            results["backends"][backend] = measure(store, synthetic, periods, args)
            _write(results, args.output)
    results["finished"] = datetime.now(UTC).isoformat()
    _write(results, args.output)
    print_table(results)
    print(f"\nwritten to {args.output}")
    return 0


def _write(results: dict[str, Any], output: str) -> None:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


def _stop(_signal: int, _frame: Any) -> None:
    raise SystemExit(143)


def measure(
    store: EventStore, synthetic: Synthetic, periods: dict[str, reports.Period], args: argparse.Namespace
) -> dict[str, Any]:
    """Times the reports over each of `periods` (`whole_span` first: the detail rows are read over it)."""
    backend = store.engine.dialect.name
    whole = periods["whole_span"]
    end = whole.end
    figures: dict[str, Any] = {}
    if args.existing:
        figures["sizes"] = sizes(store)
    else:
        figures |= load(store, synthetic)

    # 2. the floor, and what the rolled-up reports would cost on the detail rows
    figures["floor"] = floor(store, args.floor_calls)
    log.info("floor", backend=backend, **figures["floor"])
    figures["reports_detail_whole_span"] = {
        name: timed(call, args.detail_calls) for name, call in report_calls(store, whole, end, detail=True).items()
    }

    # 3. every report as it runs
    for label, period in periods.items():
        figures[f"reports_{label}"] = {
            name: timed(call, args.calls) for name, call in report_calls(store, period, end).items()
        }
        log.info("reports", backend=backend, period=label)

    # 4. appends through the activity's path
    figures["append"] = []
    for offset, threads in enumerate((1, args.threads)):
        fresh = Synthetic(args.append_returns, end=end, days=30, seed=100 + offset, first_index=10**8 * (offset + 1))
        figures["append"].append(append_rate(store, fresh, threads))
        log.info("append", backend=backend, **figures["append"][-1])
    return figures


def load(store: EventStore, synthetic: Synthetic) -> dict[str, Any]:
    """1. bulk load; generating the returns is timed apart."""
    backend = store.engine.dialect.name
    figures: dict[str, Any] = {}
    writer = writer_for(store)
    writing = 0.0
    started = time.perf_counter()
    loaded = events = 0
    try:
        for batch in prepare(synthetic.stream(), batch_returns=5_000):
            begun = time.perf_counter()
            writer.write(batch)
            writing += time.perf_counter() - begun
            loaded += len(batch["returns"])
            events += len(batch["events"])
            if loaded % 100_000 == 0:
                log.info("loading", backend=backend, returns=loaded, seconds=round(time.perf_counter() - started))
        for chunk in _chunked(synthetic.sales(), 50_000):
            begun = time.perf_counter()
            writer.write({"units_sold": chunk})
            writing += time.perf_counter() - begun
    finally:
        writer.close()
    begun = time.perf_counter()
    StoredUnitsSold(store.engine).sum_months()
    writing += time.perf_counter() - begun
    generating = time.perf_counter() - started - writing
    figures["generation"] = {"seconds": round(generating, 1), "returns_per_s": round(loaded / generating)}
    figures["bulk_load"] = {
        "seconds": round(writing, 1),
        "returns_per_s": round(loaded / writing),
        "events_per_s": round(events / writing),
    }
    figures["analyze_seconds"] = analyze(store)
    figures["sizes"] = sizes(store)
    log.info("loaded", backend=backend, **figures["bulk_load"])
    return figures


def print_table(results: dict[str, Any]) -> None:
    backends = list(results["backends"])
    print(f"\nstore benchmark: {results['returns']:,} returns over {results['days']} days")
    header = f"{'':38}" + "".join(f"{name:>22}" for name in backends)
    print(header)

    def line(label: str, value: Callable[[dict[str, Any]], str]) -> None:
        print(f"{label:38}" + "".join(f"{value(results['backends'][b]):>22}" for b in backends))

    line("events", lambda f: f"{f['sizes']['events']:,}")
    line("database size", lambda f: f"{f['sizes']['database_bytes'] / 2**30:.1f} GiB")
    if all("bulk_load" in f for f in results["backends"].values()):
        line("generation returns/s (apart)", lambda f: f"{f['generation']['returns_per_s']:,}")
        line("bulk load returns/s", lambda f: f"{f['bulk_load']['returns_per_s']:,}")
        line("bulk load events/s", lambda f: f"{f['bulk_load']['events_per_s']:,}")
    for index, label in enumerate(("append, 1 thread", "append, threads")):
        line(f"{label} returns/s", lambda f, i=index: f"{f['append'][i]['returns_per_s']:,}")
        line(f"{label} events/s", lambda f, i=index: f"{f['append'][i]['events_per_s']:,}")
    line("full scan of events (floor) p50 s", lambda f: f"{f['floor']['p50_s']:.3f}")
    names = list(results["backends"][backends[0]]["reports_whole_span"])
    sections = [name for name in results["backends"][backends[0]] if name.startswith("reports_")]
    for section in sections:
        print(f"\n{section} (p95 s)")
        for name in names:
            if name in results["backends"][backends[0]][section]:
                line(f"  {name}", lambda f, n=name, s=section: f"{f[s][n]['p95_s']:.3f}")


class _closing:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def __enter__(self) -> EventStore:
        return self.store

    def __exit__(self, *exc: object) -> None:
        self.store.close()


def _chunked(rows: Any, size: int) -> Any:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


if __name__ == "__main__":
    sys.exit(main())
