"""What starting a return would decide about each of its lines, under the current policy: the same
rules the workflow runs (workflows/rules.py) on the order as the shop platform has it. Starts nothing.

It answers only a caller who names the order rightly: its id and the customer's email or postal
code, as the request's `customer_address` gives them. Anyone else hears "unknown order", as for
an order that does not exist, and learns nothing of its lines, prices or quantities.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

import workflows.rules as rules
from activities.shop import order_facts
from integrations.errors import IntegrationError
from starter.errors import InvalidReturnInput
from workflows.contract import ORDER_NOT_FOUND
from workflows.models import ReturnRequest
from workflows.policy import ReturnPolicy
from workflows.vocabulary import DeclineReason, ReturnMethod

if TYPE_CHECKING:
    from integrations.shop import OrderContact, ShopOrder, ShopPlatform


class LineEligibility(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_id: str
    returnable: bool
    decline_reason: DeclineReason | None = None


class Eligibility(BaseModel):
    """What starting this request would decide, per line, under the current policy."""

    model_config = ConfigDict(frozen=True)

    eligible: bool = Field(description="at least one line may be returned")
    lines: list[LineEligibility]
    review_reason: str | None = Field(description="why an operator would have to approve first; null: no review")
    policy_version: str


def as_the_order_has_it(request: ReturnRequest, order: ShopOrder) -> ReturnRequest:
    """The request with the money facts the shop's order holds (customer, currency, the price paid
    per line). A fact the caller gave that the order contradicts is refused: nothing is started."""
    if request.customer_id not in (None, order.customer_id):
        raise InvalidReturnInput("customer_id", "is not the order's customer")
    if request.currency not in (None, order.currency):
        raise InvalidReturnInput("currency", "is not the order's currency")
    if request.payment_intent_id is not None and request.payment_intent_id not in {
        payment.payment_intent_id for payment in order.payments
    }:
        raise InvalidReturnInput("payment_intent_id", "is not a payment of this order")
    paid = {line.line_id: line.unit_price for line in order.lines}
    for index, line in enumerate(request.lines):
        if line.unit_price is not None and line.line_id in paid and line.unit_price != paid[line.line_id]:
            raise InvalidReturnInput(f"lines.{index}.unit_price", "is not the price paid for this line")
    lines = [line.model_copy(update={"unit_price": paid.get(line.line_id, line.unit_price)}) for line in request.lines]
    return request.model_copy(update={"customer_id": order.customer_id, "currency": order.currency, "lines": lines})


async def load_order(shop: ShopPlatform, order_id: str) -> ShopOrder:
    """The order as the shop platform has it; an order it does not know is the caller's error."""
    try:
        return await shop.load_order(order_id)
    except IntegrationError as error:
        if error.code == ORDER_NOT_FOUND:
            raise InvalidReturnInput("order_id", f"unknown order {order_id}") from error
        raise


class EligibilityCheck:
    def __init__(self, shop: ShopPlatform, policy: ReturnPolicy):
        self._shop = shop
        self._policy = policy

    async def of(self, request: ReturnRequest, now: datetime) -> Eligibility:
        return (await self.of_each(request, [request.method], now))[request.method]

    async def of_each(
        self, request: ReturnRequest, methods: list[ReturnMethod], now: datetime
    ) -> dict[ReturnMethod, Eligibility]:
        """The request's eligibility were it sent back each of these ways (the order read once)."""
        unknown = InvalidReturnInput("order_id", f"unknown order {request.order_id}")
        try:
            if not names_the_order(request, await self._shop.load_order_contact(request.order_id)):
                raise unknown
        except IntegrationError as error:
            if error.code == ORDER_NOT_FOUND:
                raise unknown from error
            raise
        order = await load_order(self._shop, request.order_id)
        request = as_the_order_has_it(request, order)
        return {method: self._assess(request.model_copy(update={"method": method}), order, now) for method in methods}

    def _assess(self, request: ReturnRequest, order: ShopOrder, now: datetime) -> Eligibility:
        assessment = rules.assess(request, order_facts(order), self._policy, now)
        lines = [
            LineEligibility(
                line_id=line.line_id,
                returnable=line.line_id not in assessment.declined,
                decline_reason=assessment.declined.get(line.line_id),
            )
            for line in request.lines
        ]
        return Eligibility(
            eligible=any(line.returnable for line in lines),
            lines=lines,
            review_reason=assessment.review_reason,
            policy_version=self._policy.version,
        )


def names_the_order(request: ReturnRequest, contact: OrderContact) -> bool:
    """Whether the request gives the order's email (any case) or its postal code (spaces, dashes and
    case aside). An order the shop platform keeps neither for can't be named: no one is answered."""
    return contact_matches(request.customer_address.email, request.customer_address.zip, contact)


def contact_matches(email: str | None, postal_code: str | None, contact: OrderContact) -> bool:
    """Whether an email (any case) or postal code (spaces, dashes and case aside) is the order's."""
    if email and contact.email and email.strip().casefold() == contact.email.strip().casefold():
        return True
    return bool(postal_code and contact.postal_code and _postal(postal_code) & _postal(contact.postal_code))


def _postal(code: str) -> set[str]:
    """A postal code's spellings that name the same place: `94103-1234` also as `94103`."""
    whole = "".join(code.split()).upper()
    return {whole.replace("-", ""), whole.split("-")[0]}
