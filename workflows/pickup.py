"""Carrier pickup (method `pickup`): the carrier collects the parcel in a window the shopper chose.

After the label is bought, `_keep_pickup` runs beside the wait for the parcel's first scan: it
books the window the shopper wants (Shippo's pickups), books again when they move it, gives the
booking up when they cancel it (they drop the parcel off with the label instead), and flags a
booked window that passed without a carrier scan. It ends when the parcel leaves, or the return
stops waiting for it (expired, cancelled).

Shippo can book a pickup but not cancel one ("contact the carrier directly"): a booking given up
is kept in `status.pickup.released` with its confirmation code, and a `pickup_released` event tells
the shop's systems to tell the carrier.

Passed through the workflow sandbox (no per-return import): only workflow APIs, no I/O.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

from temporalio.exceptions import ActivityError

from activities.labels import LabelActivities
from activities.models import NotificationKind, PickupBooking, PickupWindow
from store.events import EventType
from workflows.contract import PICKUP_REFUSED
from workflows.steps import ReturnCancelled, ReturnSteps, failure_of
from workflows.vocabulary import Deadline

MISSED = "carrier pickup missed"
NOT_BOOKED = "carrier pickup not booked"


def window_text(start: datetime, end: datetime) -> str:
    """A window as the timeline says it."""
    return f"{start.astimezone(UTC):%Y-%m-%d %H:%M}-{end.astimezone(UTC):%H:%M} UTC"


def interval(start: datetime, end: datetime) -> str:
    """A window as the shopper's notifications carry it: an ISO 8601 interval (the email writes it out)."""
    return f"{start.isoformat()}/{end.isoformat()}"


class CarrierPickup(ReturnSteps):
    async def _keep_pickup(self) -> None:
        """Keeps the carrier's booking in line with the window the shopper wants, until the parcel leaves."""
        self._awaiting_pickup = True
        with contextlib.suppress(ReturnCancelled):  # the main flow compensates, releasing the booking
            while self._awaiting_pickup and not self._departed():
                wanted = self._pickup_wanted
                if self._pickup is not None and wanted != self._pickup_booked_for:
                    self._release_pickup("the shopper moved it" if wanted else "the shopper cancelled it")
                if wanted is not None and self._pickup is None:
                    await self._book_pickup(wanted)
                await self._watch_window(wanted)

    async def _watch_window(self, wanted: PickupWindow | None) -> None:
        """Until the parcel leaves, the main flow stops waiting, or the shopper changes the window;
        a booked window that passes without a scan (and the grace after it) is flagged."""

        def changed() -> bool:
            return not self._awaiting_pickup or self._departed() or self._pickup_wanted != wanted

        if self._pickup is None or self._pickup_booked_for != wanted:
            return await self._wait(changed)
        booked = self._pickup
        self._deadlines[Deadline.pickup] = booked.end + self._policy.deadlines.duration(Deadline.pickup)
        if not await self._wait(changed, Deadline.pickup):
            self._pickup_missed = True
            code = f", confirmation {booked.confirmation_code}" if booked.confirmation_code else ""
            self._flag(f"{MISSED}: {window_text(booked.start, booked.end)}{code}")
            await self._notify(NotificationKind.pickup_missed, interval(booked.start, booked.end))
            await self._wait(changed)
            self._unflag_pickup()
        self._clear_deadline(Deadline.pickup)

    async def _book_pickup(self, window: PickupWindow) -> None:
        """Books `window`; a carrier that refuses it, or can't be reached for minutes, leaves the return
        without a pickup (the shopper picks another window or drops the parcel off with the label)."""
        label = self._label
        booking = PickupBooking(
            return_id=self._request.return_id,
            transaction_id=label.transaction_id,
            carrier_account=label.carrier_account,
            address=self._request.customer_address,
            window=window,
        )
        try:
            pickup = await self._vendor_call(LabelActivities.book_pickup, booking)
        except ActivityError as error:
            error_type, said = failure_of(error)
            if self._pickup_wanted == window:
                self._pickup_wanted = None  # the shopper picks another window, or drops it off
            if error_type == PICKUP_REFUSED:
                self._note("carrier", f"pickup {window_text(window.start, window.end)} refused: {said}")
            else:
                self._flag(f"{NOT_BOOKED}: {said}")
            await self._notify(NotificationKind.pickup_not_booked, said)
            return
        self._pickup, self._pickup_booked_for, self._pickup_missed = pickup, window, False
        self._unflag_pickup()
        code = f" (confirmation {pickup.confirmation_code})" if pickup.confirmation_code else ""
        self._note("carrier", f"pickup booked {window_text(pickup.start, pickup.end)}{code}")
        self._event(EventType.pickup_booked)
        await self._notify(NotificationKind.pickup_booked, interval(pickup.start, pickup.end), until=pickup.start)

    def _release_pickup(self, why: str) -> None:
        """Gives the booking up: Shippo can't cancel it, so the shop tells the carrier its code."""
        released = self._pickup
        if released is None:
            return
        self._pickups_released.append(released)
        self._pickup = self._pickup_booked_for = None
        self._pickup_missed = False
        self._unflag_pickup()
        code = released.confirmation_code or released.pickup_id
        self._note(
            "system", f"pickup {window_text(released.start, released.end)} released ({why}): tell the carrier {code}"
        )
        self._event(EventType.pickup_released)

    def _unflag_pickup(self) -> None:
        """Clears the flag only if it is the pickup's own."""
        if self._attention is not None and self._attention.reason.startswith((MISSED, NOT_BOOKED)):
            self._unflag()
