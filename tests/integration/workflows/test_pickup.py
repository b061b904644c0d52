"""Carrier pickup (method pickup) on the time-skipping server, against the Shippo sandbox: booked after
the label, moved and cancelled by the shopper (the old booking released), refused by the carrier,
missed and flagged until the parcel moves, released when the return is cancelled.

Windows are chosen from the server's clock; the door checks them against the wall clock, so the
tests here skip little time (the module's server starts at the wall clock)."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest

from activities.models import PickupWindow
from devstack.checkout import DEMO_LINES
from devstack.polling import wait_for_stage
from portal.journey import pickup_windows
from starter.errors import InvalidReturnInput, ReturnStateError
from tests.integration.workflows.harness import OPERATOR, Returns, scan
from workflows.contract import label_metadata
from workflows.models import Cancellation, PickupChange, ReturnStatus
from workflows.policy import ReturnPolicy
from workflows.vocabulary import Deadline, Grade, ReturnMethod, Stage, TrackingStatus

POLICY = ReturnPolicy(version="test-pickup", return_shipping_fee=599)


async def windows(harness: Returns) -> list[PickupWindow]:
    now = await harness.env.get_current_time()
    return pickup_windows(now, now + timedelta(days=14), ZoneInfo("UTC"))


def pickups(harness: Returns, return_id: str) -> list[dict]:
    booked = harness.sandboxes.admin("shippo", "/_sandbox/pickups")
    return [pickup for pickup in booked if pickup["metadata"] == label_metadata(return_id)]


def booked(status: ReturnStatus) -> bool:
    return status.pickup is not None and status.pickup.booked is not None


async def test_a_pickup_is_booked_after_the_label_and_the_return_is_refunded_like_a_mailed_one(
    harness: Returns,
) -> None:
    window = (await windows(harness))[0]
    client, return_id = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=window)

    status = await harness.until(client, return_id, booked)

    assert status.stage is Stage.label_issued
    [label] = harness.labels(return_id)
    [pickup] = pickups(harness, return_id)
    assert pickup["transactions"] == [label["object_id"]]
    assert pickup["location"]["address"]["street1"] == harness.requests[return_id].customer_address.street1
    assert (status.pickup.booked.start, status.pickup.booked.end) == (window.start, window.end)
    assert status.pickup.booked.confirmation_code == pickup["confirmation_code"]
    assert any(entry.detail.startswith("pickup booked") for entry in status.timeline)

    await harness.deliver(client, return_id)
    await harness.receive(client, return_id)
    await harness.inspect(client, return_id, {line.line_id: Grade.a for line in DEMO_LINES})
    done = await wait_for_stage(client, return_id, Stage.completed)

    # the return shipping fee applies, as for a label the shopper posts
    value = sum(line.unit_price * line.quantity for line in DEMO_LINES)
    fee = POLICY.priced(POLICY.return_shipping_fee, "USD")
    assert done.refund.amount == value - fee
    assert [refund["amount"] for refund in harness.refunds(return_id)] == [value - fee]
    assert done.pickup.booked.pickup_id == pickup["object_id"] and not done.pickup.missed


async def test_the_shopper_moves_the_pickup_then_cancels_it_and_each_booking_given_up_is_kept(
    harness: Returns,
) -> None:
    first, second = (await windows(harness))[:2]
    client, return_id = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=first)
    status = await harness.until(client, return_id, booked)
    first_code = status.pickup.booked.confirmation_code

    await client.reschedule_pickup(return_id, PickupChange(actor="shopper", reason="not home", window=second))
    status = await harness.until(client, return_id, lambda s: booked(s) and s.pickup.booked.start == second.start)

    assert [released.confirmation_code for released in status.pickup.released] == [first_code]
    assert [(p["requested_start_time"], p["requested_end_time"]) for p in pickups(harness, return_id)] == [
        (first.start.isoformat().replace("+00:00", "Z"), first.end.isoformat().replace("+00:00", "Z")),
        (second.start.isoformat().replace("+00:00", "Z"), second.end.isoformat().replace("+00:00", "Z")),
    ]

    await client.cancel_pickup(return_id, OPERATOR.model_copy(update={"actor": "shopper"}))
    status = await harness.until(client, return_id, lambda s: s.pickup.wanted is None and s.pickup.booked is None)
    assert len(status.pickup.released) == 2
    assert status.stage is Stage.label_issued  # the parcel is still expected: dropped off with the label

    # what the state can't take is refused, and changes nothing
    with pytest.raises(ReturnStateError, match="no pickup is booked"):
        await client.cancel_pickup(return_id, OPERATOR)
    past = first.model_copy(update={"start": first.start - timedelta(days=3), "end": first.end - timedelta(days=3)})
    with pytest.raises(InvalidReturnInput, match="at least 2 hours from now"):
        await client.reschedule_pickup(return_id, PickupChange(actor="shopper", reason="oops", window=past))
    assert len(pickups(harness, return_id)) == 2

    # the shopper books again, then the parcel leaves: moving it is refused from then on
    await client.reschedule_pickup(return_id, PickupChange(actor="shopper", reason="home after all", window=first))
    await harness.until(client, return_id, booked)
    await harness.ship(client, return_id)
    with pytest.raises(ReturnStateError, match="the carrier has the parcel"):
        await client.reschedule_pickup(return_id, PickupChange(actor="shopper", reason="late", window=second))
    assert len(pickups(harness, return_id)) == 3


async def test_a_window_the_carrier_refuses_leaves_the_label_and_the_shopper_picks_another(harness: Returns) -> None:
    offered = await windows(harness)
    sunday = offered[0].start + timedelta(days=(6 - offered[0].start.weekday()) % 7)
    refused = PickupWindow(start=sunday, end=sunday + timedelta(hours=3))
    client, return_id = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=refused)

    status = await harness.until(client, return_id, lambda s: any("refused" in e.detail for e in s.timeline))

    assert status.pickup.wanted is None and status.pickup.booked is None
    assert status.stage is Stage.label_issued and status.attention is None
    assert pickups(harness, return_id) == []

    await client.reschedule_pickup(return_id, PickupChange(actor="shopper", reason="a weekday", window=offered[0]))
    status = await harness.until(client, return_id, booked)
    assert len(pickups(harness, return_id)) == 1


async def test_cancelling_the_return_voids_the_label_and_releases_the_pickup(harness: Returns) -> None:
    window = (await windows(harness))[0]
    client, return_id = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=window)
    await harness.until(client, return_id, booked)

    await client.cancel(return_id, Cancellation(actor="shopper", reason="kept it", requested_by="shopper"))
    status = await wait_for_stage(client, return_id, Stage.cancelled)

    assert status.label_voided and len(harness.label_voids(return_id)) == 1
    assert status.pickup.booked is None and len(status.pickup.released) == 1
    assert any("released (the label is void)" in entry.detail for entry in status.timeline)


async def test_a_window_the_carrier_can_not_make_is_refused_at_the_door(harness: Returns) -> None:
    now = await harness.env.get_current_time()
    soon = PickupWindow(start=now + timedelta(minutes=30), end=now + timedelta(hours=3))
    with pytest.raises(InvalidReturnInput, match="at least 2 hours from now") as refused:
        await harness.start(POLICY, method=ReturnMethod.pickup, pickup=soon)
    assert refused.value.field == "pickup"
    with pytest.raises(InvalidReturnInput, match="needs the window") as refused:
        await harness.start(POLICY, method=ReturnMethod.pickup)
    assert refused.value.field == "pickup"


async def test_a_shippo_outage_flags_the_pickup_not_booked_until_the_shopper_books_again(harness: Returns) -> None:
    offered = await windows(harness)
    harness.sandboxes.fault("shippo", method="POST", path="/pickups", status=503, times=1_000)
    client, return_id = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=offered[0])

    stuck = await harness.until(client, return_id, lambda s: s.attention is not None, skip=timedelta(minutes=2))

    assert stuck.attention.reason.startswith("carrier pickup not booked")
    assert stuck.stage is Stage.label_issued and stuck.pickup.wanted is None
    harness.sandboxes.clear_faults("shippo")
    await client.reschedule_pickup(return_id, PickupChange(actor="ops:kim", reason="Shippo is back", window=offered[1]))
    status = await harness.until(client, return_id, booked)
    assert status.attention is None and len(pickups(harness, return_id)) == 1


async def test_a_missed_pickup_is_flagged_until_the_parcel_moves(harness: Returns) -> None:
    """Last in the module: it skips past the window."""
    window = (await windows(harness))[0]
    client, return_id = await harness.start(POLICY, method=ReturnMethod.pickup, pickup=window)
    await harness.until(client, return_id, booked)

    past_grace = window.end + POLICY.deadlines.duration(Deadline.pickup) - await harness.env.get_current_time()
    await harness.env.sleep(past_grace + timedelta(minutes=5))
    status = await harness.until(client, return_id, lambda s: s.attention is not None)

    assert status.pickup.missed
    assert status.attention.reason.startswith("carrier pickup missed")
    assert status.pickup.booked.confirmation_code in status.attention.reason

    await client.record_carrier_scan(return_id, scan(TrackingStatus.transit))
    status = await wait_for_stage(client, return_id, Stage.in_transit)
    status = await harness.until(client, return_id, lambda s: s.attention is None)
    assert status.stage is Stage.in_transit
    assert window.start.tzinfo is not None and window.start.astimezone(UTC) == status.pickup.booked.start
