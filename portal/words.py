"""The portal's plain words for the trade's vocabulary (stages, methods, reasons, why a line can't
go back). Marked with `_` so Babel extracts them into the message catalogs; translated at render."""

from __future__ import annotations

from activities.models import SaidWhy
from workflows.vocabulary import DeclineReason, ReasonCode, ResolutionKind, ReturnMethod, Stage


def _(message: str) -> str:  # marks a message for extraction; templates translate it
    return message


REASONS = {
    ReasonCode.size_too_small: _("Too small"),
    ReasonCode.size_too_large: _("Too large"),
    ReasonCode.unwanted: _("No longer wanted"),
    ReasonCode.not_as_described: _("Not as described"),
    ReasonCode.wrong_item: _("Wrong item sent"),
    ReasonCode.defective: _("Faulty"),
    ReasonCode.damaged_in_transit: _("Arrived damaged"),
    ReasonCode.style: _("Didn't like the style"),
    ReasonCode.color: _("Didn't like the colour"),
    ReasonCode.other: _("Something else"),
}

METHODS = {
    ReturnMethod.mail_label: (
        _("Prepaid label"),
        _("Print the label, stick it on the parcel, hand it to the carrier."),
    ),
    ReturnMethod.drop_off: (
        _("QR code at a drop-off point"),
        _("No printer needed: show the QR code at a drop-off point."),
    ),
    ReturnMethod.pickup: (
        _("Carrier pickup"),
        _("The carrier collects the parcel at your address at a time you choose; you print the label."),
    ),
    ReturnMethod.in_store: (_("In a store"), _("Bring the items to one of our stores.")),
    ReturnMethod.keep_it: (_("Keep it"), _("Nothing to send back: keep the items.")),
}

OUTCOMES = {
    ResolutionKind.refund: _("Refund to your original payment"),
    ResolutionKind.store_credit: _("Store credit"),
    ResolutionKind.exchange: _("Exchange"),
}

WHY_NOT = {
    DeclineReason.non_returnable: _("This item can't be returned (final sale or not returnable)."),
    DeclineReason.outside_return_window: _("The return window closed on %(date)s."),
    DeclineReason.method_not_allowed: _("This item can't be returned this way."),
    DeclineReason.currency_not_priced: _("This order can't be returned online; please contact the shop."),
}
CANT_RETURN = _("This item can't be returned.")
ALREADY_RETURNED = _("Already in a return.")

STAGES = {
    Stage.requested: _("We received your return request."),
    Stage.needs_review: _("The shop is checking your return before it goes ahead."),
    Stage.approved: _("Your return was accepted."),
    Stage.label_issued: _("Your return label is ready."),
    Stage.in_transit: _("Your parcel is on its way to us."),
    Stage.delivered: _("Your items arrived at our warehouse."),
    Stage.inspecting: _("We checked your items."),
    Stage.resolving: _("Your money is on its way."),
    Stage.completed: _("Your return is complete."),
    Stage.declined: _("Your return was declined."),
    Stage.cancelled: _("Your return was cancelled."),
    Stage.expired: _("Your return expired: nothing was sent before the deadline."),
    Stage.failed_needs_attention: _("We are looking into a problem with your return."),
}

# The return's emails (activities/mail.py), per notification kind: subject and text. `%(id)s` is the
# return, `%(date)s` the ship-by day, `%(amount)s` the money, `%(why)s` the workflow's reason.
EMAILS = {
    "label_ready": (
        _("Your return label is ready"),
        _("Your label for return %(id)s is ready. Please send the parcel by %(date)s."),
    ),
    "ship_by_reminder": (
        _("Please send your return by %(date)s"),
        _("We haven't seen the parcel of return %(id)s yet. Please send it by %(date)s, or the return expires."),
    ),
    "received": (
        _("We have your returned items"),
        _("The items of return %(id)s arrived at our warehouse. We check them and tell you what happens next."),
    ),
    "refunded": (
        _("We refunded %(amount)s"),
        _("We refunded %(amount)s for return %(id)s to your original payment. It can take a few days to show."),
    ),
    "store_credit_issued": (
        _("You have %(amount)s in store credit"),
        _("We added %(amount)s in store credit for return %(id)s to your account."),
    ),
    "exchange_ordered": (
        _("Your exchange is on its way"),
        _("We ordered the exchange for return %(id)s. You will hear from us when it ships."),
    ),
    "declined": (_("Your return %(id)s was declined"), _("We can't accept return %(id)s: %(why)s")),
    "expired": (
        _("Your return %(id)s expired"),
        _("Nothing was sent before the deadline, so return %(id)s expired and its label was cancelled."),
    ),
    "cancelled": (_("Your return %(id)s was cancelled"), _("Return %(id)s was cancelled: %(why)s")),
    "closed": (_("About your return %(id)s"), _("We closed return %(id)s. Our team will contact you about it.")),
    "pickup_booked": (
        _("The carrier comes for your parcel on %(date)s"),
        _("The carrier collects the parcel of return %(id)s on %(window)s. Have it ready, with the label on it."),
    ),
    "pickup_not_booked": (
        _("Please choose another pickup time"),
        _(
            "The carrier can't come at the time you chose for return %(id)s. Choose another time on your "
            "return's page, or drop the parcel off with the label."
        ),
    ),
    "pickup_missed": (
        _("The carrier didn't collect your parcel"),
        _(
            "The carrier was to collect the parcel of return %(id)s on %(window)s but hasn't scanned it. "
            "Choose another time on your return's page, or drop the parcel off with the label."
        ),
    ),
}

# Why a return ended, when the workflow gave the reason itself (an operator's is sent as written).
WHY = {
    SaidWhy.no_line_returnable: _("no line can be returned"),
    SaidWhy.rejected_in_review: _("rejected in review"),
    SaidWhy.quantities_taken: _("earlier returns already took these quantities"),
    SaidWhy.lost_parcel_declined: _("parcel lost; operator declined to resolve"),
    SaidWhy.cancelled_on_the_portal: _("cancelled by the shopper on the portal"),
}
