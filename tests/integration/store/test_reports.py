"""Every report against the hand-made month in dataset.py, with figures worked out by hand,
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from store import reports
from store.events import EventType
from store.sales import FixedUnitsSold, StoredUnitsSold
from tests.integration.store.builders import at
from tests.integration.store.dataset import all_events, march_2025

MARCH = reports.Period(at("2025-03-01 00:00"), at("2025-04-01 00:00"))


@pytest.fixture
def march(store):
    for event in all_events():
        store.append(event)
    return store


def rows(report: reports.Report, *keys: str) -> list[tuple]:
    return [tuple(row[key] for key in keys) for row in report.rows]


def test_returns_and_units_by_reason_count_returns_requested_in_the_period(march):
    report = reports.by_reason(march, MARCH)
    # R7 was requested in February, R8's only line was declined: neither counts
    assert rows(report, "currency", "reason", "returns", "lines", "units", "units_back", "value") == [
        ("EUR", "not_as_described", 1, 1, 1, 1, 8000),
        ("USD", "size_too_small", 1, 1, 2, 2, 4000),
        ("USD", "unwanted", 2, 2, 2, 0, 2400),
        ("USD", "defective", 1, 1, 1, 1, 1500),
        ("USD", "other", 1, 1, 1, 0, 2500),
        ("USD", "size_too_large", 1, 1, 1, 1, 2000),
        ("USD", "style", 1, 1, 1, 0, 2000),
    ]
    assert [row["reason"] for row in reports.by_reason(march, MARCH, "EUR").rows] == ["not_as_described"]


def test_by_sku_and_by_category(march):
    assert rows(reports.by_sku(march, MARCH, "USD"), "sku", "category", "returns", "units", "units_back", "value") == [
        ("S-TEE", "apparel", 3, 4, 3, 8000),
        ("S-MUG", "home", 2, 2, 1, 3000),
        ("S-HAT", "apparel", 1, 1, 0, 2500),
        ("S-SOCK", "apparel", 1, 1, 0, 900),
    ]
    assert rows(reports.by_category(march, MARCH), "currency", "category", "returns", "lines", "units", "value") == [
        ("EUR", "shoes", 1, 1, 1, 8000),
        ("USD", "apparel", 5, 5, 6, 11400),
        ("USD", "home", 2, 2, 2, 3000),
    ]


SOLD = FixedUnitsSold(
    {
        ("S-TEE", "USD"): ("apparel", 40),
        ("S-MUG", "USD"): ("home", 10),
        ("S-HAT", "USD"): ("apparel", 5),
        ("S-SHOE", "EUR"): ("shoes", 4),
        ("S-CAP", "USD"): ("apparel", 0),
    }
)


def test_return_rates_divide_units_returned_by_units_sold(march):
    by_sku = reports.return_rates(march, MARCH, SOLD)
    assert rows(by_sku, "currency", "sku", "units_returned", "units_sold", "return_rate") == [
        ("EUR", "S-SHOE", 1, 4, 0.25),
        ("USD", "S-CAP", 0, 0, None),
        ("USD", "S-HAT", 1, 5, 0.2),
        ("USD", "S-MUG", 2, 10, 0.2),
        ("USD", "S-SOCK", 1, 0, None),  # returned, but no sales in the period: no rate
        ("USD", "S-TEE", 4, 40, 0.1),
    ]
    by_category = reports.return_rates(march, MARCH, SOLD, "USD", by="category")
    assert rows(by_category, "category", "units_returned", "units_sold", "return_rate") == [
        ("apparel", 6, 45, 0.133333),
        ("home", 2, 10, 0.2),
    ]


def test_return_rates_from_the_stored_units_sold(march):
    from datetime import date

    sold = StoredUnitsSold(march.engine)
    sold.record(
        [
            {"day": date(2025, 3, 2), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 30},
            {"day": date(2025, 3, 31), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 10},
            {"day": date(2025, 4, 1), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 99},
        ]
    )
    report = reports.return_rates(march, MARCH, sold, "USD")
    assert [r for r in report.rows if r["sku"] == "S-TEE"][0]["units_sold"] == 40  # April 1 is outside


def test_the_return_rate_by_month_cuts_the_period_at_month_ends(march):
    from datetime import date

    sold = StoredUnitsSold(march.engine)
    sold.record(
        [
            {"day": date(2025, 2, 10), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 50},
            {"day": date(2025, 2, 20), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 7},
            {"day": date(2025, 3, 2), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 30},
            {"day": date(2025, 3, 31), "sku": "S-MUG", "currency": "USD", "category": "home", "units": 10},
            {"day": date(2025, 4, 14), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 20},
            {"day": date(2025, 4, 15), "sku": "S-TEE", "currency": "USD", "category": "apparel", "units": 99},
        ]
    )
    period = reports.Period(at("2025-02-15 00:00"), at("2025-04-15 00:00"))

    report = reports.return_rate_by_month(march, period, sold, "USD")

    # March's returns (every one of the dataset's) over March's sales; February from the 15th, April to the 14th
    assert rows(report, "month", "currency", "units_returned", "units_sold", "return_rate") == [
        ("2025-02", "USD", 0, 7, 0.0),
        ("2025-03", "USD", 8, 40, 0.2),
        ("2025-04", "USD", 0, 20, 0.0),
    ]
    per_month = sum(row["units_returned"] for row in report.rows)
    assert per_month == sum(row["units_returned"] for row in reports.return_rates(march, period, sold, "USD").rows)
    assert reports.report(march, reports.ReportName.return_rate_by_month, period, "USD").rows == report.rows
    # a period not of whole days reads the detail rows, and says the same of its months
    hours = reports.Period(at("2025-02-15 06:00"), at("2025-04-14 18:00"))
    assert reports.return_rate_by_month(march, hours, sold, "USD").rows == report.rows


def test_money_by_currency_for_returns_resolved_in_the_period(march):
    report = reports.money(march, MARCH)
    assert report.rows == [
        {
            "currency": "EUR",
            "returns_resolved": 1,
            "returned_value": 8000,
            "refunded": 0,
            "refund_pending": 0,
            "refund_failed": 0,
            "credited": 0,
            "credit_bonus": 0,
            "exchanged": 8000,
            "fees_kept": 0,
            "retained_revenue": 8000,
            "retained_share": 1.0,
            "keep_it_cost": 0,
        },
        {
            "currency": "GBP",  # R7: requested in February, refunded in March
            "returns_resolved": 1,
            "returned_value": 3000,
            "refunded": 2500,
            "refund_pending": 0,
            "refund_failed": 0,
            "credited": 0,
            "credit_bonus": 0,
            "exchanged": 0,
            "fees_kept": 500,
            "retained_revenue": 0,
            "retained_share": 0.0,
            "keep_it_cost": 0,
        },
        {
            "currency": "USD",  # R1 refund 5,500; R2 credit 1,430 of which 130 bonus; R5 keep-it 900
            "returns_resolved": 3,
            "returned_value": 8400,
            "refunded": 6400,
            "refund_pending": 0,
            "refund_failed": 0,
            "credited": 1430,
            "credit_bonus": 130,
            "exchanged": 0,
            "fees_kept": 700,
            "retained_revenue": 1300,
            "retained_share": 0.154762,
            "keep_it_cost": 900,
        },
    ]
    assert [row["currency"] for row in reports.money(march, MARCH, "GBP").rows] == ["GBP"]


def test_duration_percentiles_per_method(march):
    report = reports.durations(march, MARCH, detail=True)
    day = 86_400
    assert rows(report, "metric", "method", "returns", "p50_seconds", "p90_seconds") == [
        # first scans in March: R1 1 day, R3 1.5 days, R9 12 hours (mail); R2 2 days (drop-off)
        ("request_to_first_scan", "drop_off", 1, 2 * day, 2 * day),
        ("request_to_first_scan", "mail_label", 3, day, day + 0.8 * day / 2),
        # inspections in March: R1 1 day, R3 1 day, R7 4 days (delivered in February)
        ("delivered_to_inspected", "drop_off", 1, 2 * day, 2 * day),
        ("delivered_to_inspected", "mail_label", 3, day, day + 0.8 * 3 * day),
        # resolutions in March: R1 6 h, R3 2 h, R7 1 day; R2 3 h; keep-it R5 was never inspected
        ("inspected_to_resolved", "drop_off", 1, 10_800, 10_800),
        ("inspected_to_resolved", "mail_label", 3, 21_600, 21_600 + 0.8 * (day - 21_600)),
        ("request_to_resolved", "drop_off", 1, 529_200, 529_200),
        ("request_to_resolved", "keep_it", 1, 60, 60),
        ("request_to_resolved", "mail_label", 3, 367_200, 367_200 + 0.8 * (864_000 - 367_200)),
    ]
    # over whole days the same figures come from the histogram rollup, each within 1%
    histogram = reports.durations(march, MARCH)
    assert rows(histogram, "metric", "method", "returns") == rows(report, "metric", "method", "returns")
    for approximate, exact in zip(histogram.rows, report.rows, strict=True):
        for name in ("p50_seconds", "p90_seconds"):
            assert approximate[name] == pytest.approx(exact[name], rel=0.01), (exact, name)


def test_dispositions_with_a_recovery_estimate(march):
    report = reports.dispositions(march, MARCH, recovery_bp={"restock": 9_000, "recycle": 300})
    assert rows(report, "currency", "disposition", "lines", "units", "value", "recovery_bp", "recovery_estimate") == [
        ("EUR", "restock", 1, 1, 8000, 9000, 7200),
        ("GBP", "restock", 1, 1, 3000, 9000, 2700),
        ("USD", "recycle", 1, 1, 1500, 300, 45),
        ("USD", "restock", 2, 3, 6000, 9000, 5400),
    ]


def test_operations_open_returns_attention_and_expired_labels(march):
    open_now = reports.open_returns(march, as_of=at("2025-04-01 00:00"))
    assert rows(open_now, "stage", "age", "returns", "oldest_requested_at") == [
        ("approved", "2-7d", 1, at("2025-03-28 10:00")),
        ("in_transit", "0-2d", 1, at("2025-03-31 00:00")),
    ]
    assert reports.open_returns(march, as_of=at("2025-04-01 00:00"), currency="EUR").rows == []
    attention = reports.needs_attention(march)
    assert rows(attention, "step", "error_type", "returns", "oldest_since") == [
        ("buy label", "ShippoUnavailable", 1, at("2025-03-28 10:20"))
    ]
    expired = reports.expired_labels(march, MARCH, label_cost={"USD": 800})
    assert expired.rows == [{"currency": "USD", "labels": 1, "voided": 1, "without_price": 1, "cost": 800}]
    assert reports.expired_labels(march, MARCH).rows[0]["cost"] is None  # no price known, none guessed


def test_customers_returns_per_customer_and_top_repeat_returners(march):
    assert rows(reports.returns_per_customer(march, MARCH), "returns", "customers") == [(1, 3), (2, 1), (3, 1)]
    top = reports.top_repeat_returners(march, MARCH)
    assert rows(top, "customer_id", "returns", "units", "first_requested_at", "last_requested_at") == [
        ("C1", 3, 5, at("2025-03-01 10:00"), at("2025-03-28 10:00")),
        ("C2", 2, 2, at("2025-03-05 12:00"), at("2025-03-20 08:00")),
    ]
    assert reports.top_repeat_returners(march, MARCH, limit=1, min_returns=3).rows[0]["customer_id"] == "C1"


def test_a_report_called_again_and_again_answers_the_same_and_is_planned_for_its_own_period(march):
    """psycopg prepares a statement run five times on a connection; PostgreSQL would then plan it
    once for every period (a year's returns per customer: 2.4 s against 0.5 s, docs/benchmarks.md)."""
    answers = {json.dumps(reports.returns_per_customer(march, MARCH).rows) for _ in range(12)}
    assert answers == {
        json.dumps([{"returns": 1, "customers": 3}, {"returns": 2, "customers": 1}, {"returns": 3, "customers": 1}])
    }
    if march.engine.dialect.name == "postgresql":
        with march.reading() as reader:
            assert reader.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
            assert reader.execute(text("SHOW enable_hashagg")).scalar() == "on"  # off only within the report


def test_a_period_outside_every_event_answers_no_rows(march):
    april = reports.Period.days("2025-04-02", "2025-04-30")
    for report in (
        reports.by_reason(march, april),
        reports.money(march, april),
        reports.durations(march, april),
        reports.dispositions(march, april),
        reports.expired_labels(march, april),
        reports.returns_per_customer(march, april),
    ):
        assert report.rows == [], report.name


def test_reports_serialise_to_json_and_csv(march):
    report = reports.expired_labels(march, MARCH)
    assert report.to_csv() == "currency,labels,voided,without_price,cost\nUSD,1,1,1,\n"
    document = json.loads(json.dumps(reports.open_returns(march, as_of=at("2025-04-01 00:00")).to_json()))
    assert document["report"] == "open_returns"
    assert document["rows"][0] == {
        "stage": "approved",
        "age": "2-7d",
        "returns": 1,
        "oldest_requested_at": "2025-03-28T10:00:00+00:00",
    }
    parsed = list(csv.DictReader(io.StringIO(reports.money(march, MARCH).to_csv())))
    assert [(r["currency"], r["refunded"], r["retained_share"]) for r in parsed] == [
        ("EUR", "0", "1.0"),
        ("GBP", "2500", "0.0"),
        ("USD", "6400", "0.154762"),
    ]


def test_the_detail_rows_answer_what_the_rollups_answer(march):
    assert MARCH.whole_days()
    for report in (reports.by_reason, reports.by_sku, reports.by_category, reports.money, reports.dispositions):
        assert report(march, MARCH, detail=True).rows == report(march, MARCH).rows, report.__name__
    assert reports.return_rates(march, MARCH, SOLD, detail=True).rows == reports.return_rates(march, MARCH, SOLD).rows


def test_a_period_inside_a_day_reads_the_detail_rows(march):
    morning = reports.Period(at("2025-03-01 00:00"), at("2025-03-01 10:30"))  # R1 was requested at 10:00
    assert not morning.whole_days()
    assert rows(reports.by_reason(march, morning), "reason", "units") == [("size_too_small", 2), ("defective", 1)]
    assert reports.by_reason(march, reports.Period(at("2025-03-01 10:30"), at("2025-03-02 00:00"))).rows == []


def test_the_needs_attention_trend_counts_flags_and_clears_per_day(store):
    scripts = march_2025()
    for script in scripts:
        for event in script.events:
            store.append(event)
    r6 = next(script for script in scripts if script.status["return_id"] == "R6")
    r6.step(EventType.attention_cleared, "2025-03-29 09:00", attention=None)  # an operator retried it
    store.append(r6.events[-1])

    trend = reports.report(store, reports.ReportName.needs_attention_trend, MARCH)
    assert trend.columns == ["day", "flagged", "cleared"] and len(trend.rows) == 31  # every day, none skipped
    moved = [row for row in trend.rows if row["flagged"] or row["cleared"]]
    assert moved == [
        {"day": "2025-03-28", "flagged": 1, "cleared": 0},
        {"day": "2025-03-29", "flagged": 0, "cleared": 1},
    ]
    euros = reports.needs_attention_trend(store, MARCH, currency="EUR")
    assert not any(row["flagged"] or row["cleared"] for row in euros.rows)
    one_day = reports.needs_attention_trend(store, reports.Period(at("2025-03-28 00:00"), at("2025-03-28 12:00")))
    assert one_day.rows == [{"day": "2025-03-28", "flagged": 1, "cleared": 0}]
