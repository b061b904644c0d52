"""The durable record of return events, the read model on it, and reports (issue 14).

    from store import EventStore, ReturnEvent, EventType, migrate
    migrate()                                   # EVENT_STORE_URL, default sqlite:///.run/returns.db
    store = EventStore.open()
    store.append(ReturnEvent.of(EventType.approved, status, sequence=3, created_at=now))
    store.status("R-1001")                      # after Temporal deleted the run, too

Reports are in `store.reports`, webhook subscriptions and deliveries in `store.webhooks`,
units sold (return rates) in `store.sales`; `python -m store.generate` fills a store with
synthetic returns and `python -m store.bench` measures it.
"""

from store.events import API_VERSION, EventType, ReturnEvent, event_id
from store.migrate import migrate
from store.store import Appended, EventConflictError, EventPage, EventStore

__all__ = [
    "API_VERSION",
    "Appended",
    "EventConflictError",
    "EventPage",
    "EventStore",
    "EventType",
    "ReturnEvent",
    "event_id",
    "migrate",
]
