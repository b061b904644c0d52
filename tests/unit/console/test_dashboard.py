"""The dashboard's charts and CSVs from a real event store (SQLite) filled with synthetic returns:
every chart drawn, its figures those of the store's report, its CSV the report's own. No Temporal:
reports read the store alone."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.auth import key_hash
from console.dashboard import CHARTS
from integrations.settings import ApiKeyGrant, Settings
from starter.client import ReturnsClient
from store import reports
from store.bulk import bulk_load
from store.generate import Synthetic
from store.store import EventStore

KIM = "kim-s-key-0123456789"
END = date(2026, 6, 30)
FIRST = END - timedelta(days=29)
RANGE = {"from": FIRST.isoformat(), "to": END.isoformat()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventStore]:
    url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'returns.db'}"
    store = EventStore.open(url, migrate=True)
    synthetic = Synthetic(400, end=datetime.combine(END + timedelta(days=1), datetime.min.time(), UTC), days=40)
    bulk_load(store, synthetic.stream(), sales=synthetic.sales())
    yield store
    store.close()


@pytest.fixture
def client(store: EventStore) -> Iterator[TestClient]:
    settings = Settings(
        api_keys={key_hash(KIM): ApiKeyGrant(role="operator", holder="kim")},
        console_secret=SecretStr("test-secret"),
        event_store_url=str(store.engine.url),
    )
    returns = ReturnsClient(None, settings, store=store)  # type: ignore[arg-type]  # reports need no Temporal
    with TestClient(create_app(settings, returns=returns)) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/sign-in").text)
        assert token is not None
        client.post("/console/sign-in", data={"csrf_token": token.group(1), "api_key": KIM})
        yield client


def _report(store: EventStore, chart: Any) -> reports.Report:
    if chart.report is reports.ReportName.needs_attention:
        return reports.report(store, chart.report, None)
    return reports.report(store, chart.report, reports.Period.days(FIRST.isoformat(), END.isoformat()))


def test_every_chart_is_drawn_with_the_store_s_figures(client: TestClient, store: EventStore) -> None:
    page = client.get("/console/dashboard", params=RANGE)
    assert page.status_code == 200
    for chart in CHARTS:
        report = _report(store, chart)
        section = page.text.split(f'id="chart-{report.name}"', 1)[1].split("</section>", 1)[0]
        assert report.rows, f"{report.name}: the synthetic store should give it rows"
        assert section.count("<rect") == len(chart.bars(report)) > 0, report.name
        cells = re.findall(r"<td>([^<]*)</td>", section.split("<tbody>", 1)[1])
        first_row = [
            str(report.rows[0][column]) if report.rows[0][column] is not None else "" for column in report.columns
        ]
        assert cells[: len(report.columns)] == first_row, report.name


def test_each_chart_downloads_its_report_as_csv(client: TestClient, store: EventStore) -> None:
    for chart in CHARTS:
        answer = client.get(f"/console/dashboard/{chart.report.value}.csv", params=RANGE)
        assert answer.headers["content-type"].startswith("text/csv")
        assert answer.headers["content-disposition"] == f'attachment; filename="{chart.report.value}.csv"'
        assert answer.text == _report(store, chart).to_csv()
        assert list(csv.DictReader(io.StringIO(answer.text)))


def test_days_that_are_not_days_are_refused(client: TestClient) -> None:
    assert client.get("/console/dashboard", params={"from": "yesterday"}).status_code == 400
    assert client.get("/console/dashboard/money.csv", params={"to": "2026-13-01"}).status_code == 400
    assert client.get("/console/dashboard/not_a_report.csv").status_code == 404
