"""The activities a worker registers are the ones the workflow schedules, under the same names
and types, and the unit tier's fakes stand in for every one of them."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from activities import defined_activities
from activities.deliveries import DeliveryActivities
from activities.events import EventActivities
from activities.labels import LabelActivities
from activities.mail import MailActivities
from activities.payments import PaymentActivities
from activities.shop import WORK_ORDER_ACTIVITIES, ShopActivities
from integrations.settings import Settings
from tests.unit.workflows.fakes import FakeVendors
from workflows.vocabulary import Disposition


def _by_name(activities: list[Callable]) -> dict[str, Callable]:
    return {getattr(fn, "__temporal_activity_definition").name: fn for fn in activities}


IMPLEMENTATIONS = (
    ShopActivities(None),  # type: ignore[arg-type]
    LabelActivities(None),  # type: ignore[arg-type]
    PaymentActivities(None),  # type: ignore[arg-type]
    EventActivities(None, None),  # type: ignore[arg-type]
    DeliveryActivities(None),  # type: ignore[arg-type]
    MailActivities(None, Settings()),  # type: ignore[arg-type]
)
REAL = _by_name(defined_activities(*IMPLEMENTATIONS))
FAKE = _by_name(defined_activities(FakeVendors()))


def _types(fn: Callable) -> tuple[list[object], object]:
    hints = typing.get_type_hints(fn)
    parameters = [hints[name] for name in inspect.signature(fn).parameters]
    return parameters, hints["return"]


def test_every_activity_is_registered_once_under_its_name() -> None:
    assert len(REAL) == len(defined_activities(*IMPLEMENTATIONS))
    assert "refund_payment" in REAL and "dispose_recycle" in REAL and "record_event" in REAL


def test_every_disposition_but_restock_has_its_work_order_activity() -> None:
    assert set(WORK_ORDER_ACTIVITIES) == set(Disposition) - {Disposition.restock}
    registered = {getattr(fn, "__temporal_activity_definition").name for fn in WORK_ORDER_ACTIVITIES.values()}
    assert registered == {f"dispose_{d.value}" for d in WORK_ORDER_ACTIVITIES} and registered <= set(REAL)


def test_the_fakes_stand_in_for_every_activity_with_the_same_types() -> None:
    assert set(FAKE) == set(REAL)
    for name, real in REAL.items():
        assert _types(FAKE[name]) == _types(real), name
