"""The store's tables, in SQLAlchemy Core.

Core rather than the ORM: the append path is a handful of statements whose cost we measure,
the bulk loader writes batches with executemany (PostgreSQL: COPY-like fast executemany), and
the reports are aggregate SQL with dialect-specific parts (percentiles); none of them wants
identity maps or a unit of work. Rows come back as typed models (`store.models`).

Time is stored in UTC. SQLite has no time zone type, so `UtcDateTime` writes naive UTC
and reads it back aware; ISO strings of one format compare correctly as text there.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

# SQLite only makes INTEGER PRIMARY KEY the rowid (fast, auto-numbered); PostgreSQL wants 64 bits.
Position = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
Money = BigInteger  # minor units


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store only takes aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True, comment="global append order"),
    Column("id", String(100), nullable=False, unique=True),
    Column("return_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("type", String(32), nullable=False),
    Column("api_version", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("data", Json, nullable=False),  # last: a scan of the other columns never reads it on SQLite
    UniqueConstraint("return_id", "sequence"),
    Index(None, "created_at", "position"),
    Index("ix_events_type_created_at", "type", "created_at"),  # one kind of event over days (attention trend)
)

# The read model: one row per return, the latest status and the figures reports need.
returns = Table(
    "returns",
    metadata,
    Column("return_id", String(64), primary_key=True),
    Column("order_id", String(64), nullable=False),
    Column("customer_id", String(64), nullable=False),
    Column("method", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("resolution_kind", String(16)),
    Column("policy_version", String(64)),
    Column("needs_attention", Boolean, nullable=False, default=False),
    Column("attention_step", String(100)),
    Column("attention_error_type", String(100)),
    Column("attention_since", UtcDateTime),
    Column("last_sequence", Integer, nullable=False),
    Column("last_event_type", String(32), nullable=False),
    Column("event_count", Integer, nullable=False),
    # first time each step was reached, by event date
    Column("requested_at", UtcDateTime, nullable=False),
    Column("approved_at", UtcDateTime),
    Column("label_issued_at", UtcDateTime),
    Column("first_scan_at", UtcDateTime),
    Column("delivered_at", UtcDateTime),
    Column("received_at", UtcDateTime),
    Column("inspected_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # durations in seconds, set once both ends are known
    Column("request_to_first_scan_s", BigInteger),
    Column("delivered_to_inspected_s", BigInteger),
    Column("inspected_to_resolved_s", BigInteger),
    Column("request_to_resolved_s", BigInteger),
    # money, minor units of `currency`
    Column("returned_value", Money, nullable=False, default=0),
    Column("refunded", Money, nullable=False, default=0),
    Column("refund_pending", Money, nullable=False, default=0),
    Column("refund_failed", Money, nullable=False, default=0),
    Column("credited", Money, nullable=False, default=0),
    Column("credit_bonus", Money, nullable=False, default=0),
    Column("exchanged_value", Money, nullable=False, default=0),
    Column("fees", Money, nullable=False, default=0),
    Column("label_issued", Boolean, nullable=False, default=False),
    Column("label_voided", Boolean, nullable=False, default=False),
    Column("label_cost", Money),
    Column("units_requested", Integer, nullable=False, default=0),
    Column("units_back", Integer, nullable=False, default=0),
)
# Report indexes (migrations 0002, 0003): each report's period is a range on one of these
# dates; open and needs-attention returns are few, so theirs are partial (the predicate as each
# database spells a boolean test, so the planner matches it); the customer, duration and
# units-sold indexes cover their reports' queries, so SQLite never looks rows up one by one.
for _dated in ("requested_at", "first_scan_at", "inspected_at", "resolved_at"):
    Index(f"ix_returns_{_dated}", returns.c[_dated])
Index("ix_returns_expired", returns.c.stage, returns.c.closed_at)
Index(
    "ix_returns_open",
    returns.c.stage,
    returns.c.requested_at,
    sqlite_where=text("is_open = 1"),
    postgresql_where=text("is_open"),
)
Index(
    "ix_returns_customer", returns.c.customer_id, returns.c.requested_at, returns.c.units_requested, returns.c.currency
)
# durations: per method in duration order, so a percentile is an index walk (see store.reports)
for _duration, _dated in (
    ("request_to_first_scan_s", "first_scan_at"),
    ("delivered_to_inspected_s", "inspected_at"),
    ("inspected_to_resolved_s", "resolved_at"),
    ("request_to_resolved_s", "resolved_at"),
):
    Index(f"ix_returns_{_duration}", returns.c.method, returns.c[_duration], returns.c[_dated], returns.c.currency)
Index(
    "ix_returns_attention",
    returns.c.attention_step,
    returns.c.attention_error_type,
    sqlite_where=text("needs_attention = 1"),
    postgresql_where=text("needs_attention"),
)

# The latest status, apart from the figures: SQLite keeps a row's columns inline up to about
# a page, so a ~2 KB status beside them would make every report's scan of `returns` read it.
return_statuses = Table(
    "return_statuses",
    metadata,
    Column("return_id", String(64), ForeignKey("returns.return_id", ondelete="CASCADE"), primary_key=True),
    Column("status", Json, nullable=False),
)

return_lines = Table(
    "return_lines",
    metadata,
    Column("return_id", String(64), ForeignKey("returns.return_id", ondelete="CASCADE"), primary_key=True),
    Column("line_id", String(64), primary_key=True),
    Column("sku", String(64), nullable=False),
    Column("category", String(64)),
    Column("reason", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("declined", String(32)),
    Column("reception", String(32), nullable=False),
    Column("units_back", Integer, nullable=False),
    Column("grade", String(16)),
    Column("disposition", String(32)),
    # 1 on the return's first kept line of its reason (SKU, category): sums count returns
    Column("counts_reason", Integer, nullable=False, default=0),
    Column("counts_sku", Integer, nullable=False, default=0),
    Column("counts_category", Integer, nullable=False, default=0),
    # copied from the return so line reports filter and group without a join
    Column("currency", String(3), nullable=False),
    Column("method", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("inspected_at", UtcDateTime),
)
Index("ix_return_lines_requested_at", return_lines.c.requested_at)
Index("ix_return_lines_inspected_at", return_lines.c.inspected_at)


def _units_sold(name: str, units: type[Integer] | type[BigInteger]) -> Table:
    """Units sold per `day`, SKU and currency, with a covering index for return rates."""
    table = Table(
        name,
        metadata,
        Column("sku", String(64), primary_key=True),
        Column("currency", String(3), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("category", String(64)),
        Column("units", units, nullable=False),
    )
    Index(f"ix_{name}_rates", table.c.sku, table.c.currency, table.c.day, table.c.units, table.c.category)
    return table


# Units sold per day, SKU and currency: the denominator of return rates when the shop
# platform's figures are copied into the store (see `store.sales`).
units_sold = _units_sold("units_sold", Integer)
# The same figures summed per month (`day` the month's first; migration 0006): return rates over a
# year read 12 rows per SKU and currency instead of 365. StoredUnitsSold keeps it with the days.
units_sold_monthly = _units_sold("units_sold_monthly", BigInteger)

# Outbound webhooks: who wants which events, and what became of each delivery.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", Json, nullable=False, comment="[] means every type"),
    Column("description", String(500)),
    Column("secret", String(100), nullable=False),
    Column("previous_secret", String(100), comment="still signs until previous_secret_expires_at"),
    Column("previous_secret_expires_at", UtcDateTime),
    Column("state", String(16), nullable=False),
    Column("disabled_reason", String(500)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(100), ForeignKey("events.id"), nullable=False),
    Column("subscription_id", String(40), ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False),
    Column("return_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_status_code", Integer),
    Column("last_latency_ms", Integer),
    Column("last_error", String(500)),
    Column("next_attempt_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    UniqueConstraint("event_id", "subscription_id"),
    Index(None, "subscription_id", "return_id", "sequence"),
    Index(None, "subscription_id", "created_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("delivery_id", Position, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer),
    Column("error", String(500)),
)


# Daily rollups of the report figures (store.rollups keeps them; migration 0002), and monthly
# twins of the widest ones (migration 0005: their `day` is the month's first). On SQLite they
# are WITHOUT ROWID tables ordered by their keys, so a report's GROUP BY reads them in order.
def _rollup(name: str, keys: list[Column], figures: tuple[str, ...]) -> Table:
    return Table(
        name,
        metadata,
        *keys,
        Column("day", Date, primary_key=True),
        *(Column(figure, BigInteger, nullable=False, default=0) for figure in figures),
        sqlite_with_rowid=False,
    )


def _key(name: str, length: int) -> Column:
    return Column(name, String(length), primary_key=True)


# The figures each rollup keeps (store/rollups.py adds to them; store/reports.py reads them).
LINE_FIGURES = ("returns", "lines", "units", "units_back", "value")
MONEY_FIGURES = (
    "returns_resolved",
    "returned_value",
    "refunded",
    "refund_pending",
    "refund_failed",
    "credited",
    "credit_bonus",
    "exchanged",
    "fees_kept",
    "keep_it_cost",
)
rollup_reasons = _rollup("rollup_reasons", [_key("currency", 3), _key("reason", 32)], LINE_FIGURES)
rollup_categories = _rollup("rollup_categories", [_key("currency", 3), _key("category", 64)], LINE_FIGURES)
rollup_skus = _rollup("rollup_skus", [_key("currency", 3), _key("sku", 64), _key("category", 64)], LINE_FIGURES)
rollup_money = _rollup("rollup_money", [_key("currency", 3)], MONEY_FIGURES)
rollup_dispositions = _rollup(
    "rollup_dispositions", [_key("currency", 3), _key("disposition", 32)], ("lines", "units", "value")
)
rollup_skus_monthly = _rollup(
    "rollup_skus_monthly", [_key("currency", 3), _key("sku", 64), _key("category", 64)], LINE_FIGURES
)


def _duration_keys() -> list[Column]:
    # bucket: store.rollups.duration_bucket, a logarithmic histogram's bin of the duration
    keys = [_key("currency", 3), _key("metric", 32), _key("method", 16)]
    return [*keys, Column("bucket", Integer, primary_key=True, autoincrement=False)]


rollup_durations = _rollup("rollup_durations", _duration_keys(), ("returns",))
# Returns per customer and month; the index finds a period's busiest customers from the top down
rollup_customers_monthly = _rollup(
    "rollup_customers_monthly", [_key("currency", 3), _key("customer_id", 64)], ("returns",)
)
Index(
    "ix_rollup_customers_monthly_returns",
    rollup_customers_monthly.c.returns,
    rollup_customers_monthly.c.day,
    rollup_customers_monthly.c.customer_id,
    rollup_customers_monthly.c.currency,
)
rollup_durations_monthly = _rollup("rollup_durations_monthly", _duration_keys(), ("returns",))
