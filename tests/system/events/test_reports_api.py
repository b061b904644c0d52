"""Reports through the HTTP API (`/v1/reports/{name}`), from the stack's own event store: a demo
return walked through the system, and synthetic returns (`python -m store.generate`) whose figures
the test counts itself from their events."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from devstack.demo import role_headers, run_demo
from devstack.stack import LocalStack, Ports
from store.generate import Synthetic
from store.reports import ReportName

pytestmark = pytest.mark.devserver

# Synthetic returns requested over the 90 days before SYNTHETIC_END (the generator's defaults otherwise).
SYNTHETIC_END = date(2025, 7, 1)
SYNTHETIC = Synthetic(400, end=datetime.combine(SYNTHETIC_END, datetime.min.time(), UTC), days=90, seed=11)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    log_dir: Path = tmp_path_factory.mktemp("reports")
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=log_dir) as stack:
        generate = await asyncio.create_subprocess_exec(
            sys.executable,
            *(
                "-m",
                "store.generate",
                "--url",
                stack.settings.event_store_url.get_secret_value(),
                "--returns",
                str(SYNTHETIC.returns),
            ),
            *("--end", SYNTHETIC_END.isoformat(), "--days", str(SYNTHETIC.days), "--seed", str(SYNTHETIC.seed)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await generate.communicate()
        assert generate.returncode == 0, output.decode()
        yield stack


def _counted_by_reason(start: date, end: date, currency: str) -> dict[str, dict[str, int]]:
    """Returns and units per reason, for returns requested from `start` to `end` (included), counted
    from the synthetic returns' own events: their first event's date and their latest status."""
    counted: dict[str, dict[str, int]] = defaultdict(lambda: {"returns": 0, "units": 0})
    for events in SYNTHETIC.stream():
        requested = min(events, key=lambda event: event.sequence)
        latest = max(events, key=lambda event: event.sequence).data
        if not start <= requested.created_at.date() <= end or latest["currency"] != currency:
            continue
        kept = [line for line in latest["lines"] if not line.get("declined")]
        for reason in {line["reason"] for line in kept}:
            counted[reason]["returns"] += 1
        for line in kept:
            counted[line["reason"]]["units"] += line["quantity"]
    return dict(counted)


async def test_the_demo_returns_refund_and_reasons_are_reported_from_the_store(
    stack: LocalStack, operator: httpx.AsyncClient
) -> None:
    final = await run_demo(stack.settings, stack.api_url, return_id="REP-DEMO")
    today = datetime.now(UTC).date().isoformat()
    for _ in range(100):  # the refunded event is appended beside the return, a moment after it
        money = await operator.get("/reports/money", params={"from": today, "to": today, "currency": "USD"})
        if money.json()["rows"]:
            break
        await asyncio.sleep(0.1)
    assert money.status_code == 200
    assert [(row["currency"], row["refunded"]) for row in money.json()["rows"]] == [("USD", final.refund.amount)]
    assert final.refund.amount == 2 * 2500 - 599
    reasons = (await operator.get("/reports/returns_by_reason", params={"from": today, "to": today})).json()
    assert {(row["reason"], row["returns"], row["units"]) for row in reasons["rows"]} == {
        ("size_too_large", 1, 2),
        ("unwanted", 1, 1),
    }


async def test_reports_by_reason_match_what_the_events_say(operator: httpx.AsyncClient) -> None:
    start, end = date(2025, 5, 1), date(2025, 5, 31)
    answer = await operator.get("/reports/returns_by_reason", params={"from": start, "to": end, "currency": "EUR"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["report"] == "returns_by_reason"
    assert body["parameters"] == {
        "currency": "EUR",
        "start": "2025-05-01T00:00:00+00:00",
        "end": "2025-06-01T00:00:00+00:00",
    }
    reported = {row["reason"]: {"returns": row["returns"], "units": row["units"]} for row in body["rows"]}
    assert reported == _counted_by_reason(start, end, "EUR") and reported
    assert {row["currency"] for row in body["rows"]} == {"EUR"}


@pytest.mark.parametrize("name", list(ReportName))
async def test_every_report_answers_json_and_the_same_as_csv(operator: httpx.AsyncClient, name: ReportName) -> None:
    period = {"from": "2025-04-01", "to": "2025-06-30"}
    as_json = await operator.get(f"/reports/{name.value}", params=period)
    by_accept = await operator.get(f"/reports/{name.value}", params=period, headers={"Accept": "text/csv"})
    by_format = await operator.get(f"/reports/{name.value}", params=period | {"format": "csv"})
    assert as_json.status_code == by_accept.status_code == by_format.status_code == 200
    assert by_accept.headers["content-type"].startswith("text/csv") and by_accept.text == by_format.text
    body = as_json.json()
    rows = list(csv.DictReader(io.StringIO(by_accept.text)))
    assert by_accept.text.splitlines()[0].split(",") == body["columns"]
    assert len(rows) == len(body["rows"])
    for row, expected in zip(rows, body["rows"], strict=True):
        assert row == {column: "" if expected[column] is None else str(expected[column]) for column in body["columns"]}


async def test_a_period_without_synthetic_returns_is_empty_and_a_snapshot_needs_none(
    operator: httpx.AsyncClient,
) -> None:
    empty = (await operator.get("/reports/money", params={"from": "2020-01-01", "to": "2020-01-31"})).json()
    assert empty["rows"] == []
    snapshot = await operator.get("/reports/open_returns")
    assert snapshot.status_code == 200 and "start" not in snapshot.json()["parameters"]
    assert sum(row["returns"] for row in snapshot.json()["rows"]) > 0


async def test_bad_report_requests_are_refused_clearly(stack: LocalStack, operator: httpx.AsyncClient) -> None:
    backwards = await operator.get("/reports/money", params={"from": "2025-06-30", "to": "2025-06-01"})
    assert backwards.status_code == 422 and "before it starts" in backwards.json()["message"]
    assert (await operator.get("/reports/money", params={"currency": "euro"})).status_code == 422
    assert (await operator.get("/reports/money", params={"from": "yesterday"})).status_code == 422
    assert (await operator.get("/reports/no_such_report")).status_code == 422
    async with httpx.AsyncClient(base_url=f"{stack.api_url}/v1/reports", timeout=30) as anonymous:
        assert (await anonymous.get("/money")).status_code == 401
        shop = await anonymous.get("/money", headers=role_headers(stack.settings, "storefront", "shop-web"))
        assert shop.status_code == 403
