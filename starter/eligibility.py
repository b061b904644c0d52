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
from workflows.vocabulary import DeclineReason

if TYPE_CHECKING:
    from integrations.shop import OrderContact, ShopPlatform


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


class EligibilityCheck:
    def __init__(self, shop: ShopPlatform, policy: ReturnPolicy):
        self._shop = shop
        self._policy = policy

    async def of(self, request: ReturnRequest, now: datetime) -> Eligibility:
        unknown = InvalidReturnInput("order_id", f"unknown order {request.order_id}")
        try:
            if not names_the_order(request, await self._shop.load_order_contact(request.order_id)):
                raise unknown
            order = await self._shop.load_order(request.order_id)
        except IntegrationError as error:
            if error.code == ORDER_NOT_FOUND:
                raise unknown from error
            raise
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
    address = request.customer_address
    if address.email and contact.email and address.email.strip().casefold() == contact.email.strip().casefold():
        return True
    return bool(address.zip and contact.postal_code and _postal(address.zip) & _postal(contact.postal_code))


def _postal(code: str) -> set[str]:
    """A postal code's spellings that name the same place: `94103-1234` also as `94103`."""
    whole = "".join(code.split()).upper()
    return {whole.replace("-", ""), whole.split("-")[0]}
