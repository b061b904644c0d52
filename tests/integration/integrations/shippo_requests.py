"""What the Shippo tests ask for: return labels for fresh returns, and the sandbox's view of them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from activities.models import LabelRequest
from integrations.shippo_labels import ShippoLabel, ShippoLabels
from workflows.contract import label_metadata
from workflows.primitives import Address, Parcel

if TYPE_CHECKING:
    from tests.conftest import Sandboxes

WAREHOUSE = Address(
    name="Returns Dept", street1="215 Clayton St.", city="San Francisco", state="CA", zip="94117", country="US"
)
CUSTOMER = Address(
    name="Ada Customer", street1="965 Mission St", city="San Francisco", state="CA", zip="94103", country="US"
)


def label_request(*, qr_code: bool = False) -> LabelRequest:
    """A return label request for a new return (the sandbox is shared by every test)."""
    return LabelRequest(
        return_id=f"R-{uuid.uuid4().hex[:12]}",
        customer_address=CUSTOMER,
        warehouse_address=WAREHOUSE,
        parcel=Parcel(),
        qr_code=qr_code,
    )


def labels_bought_for(sandboxes: Sandboxes, return_id: str) -> list[dict]:
    labels = sandboxes.admin("shippo", "/_sandbox/transactions")
    assert isinstance(labels, list)
    return [label for label in labels if label["metadata"] == label_metadata(return_id)]


async def buy_label(
    labels: ShippoLabels, request: LabelRequest | None = None, *, look_for_earlier_purchase: bool = False
) -> ShippoLabel:
    """Buys a return label the way the label activity does (tagged with the return)."""
    request = request or label_request()
    return await labels.buy_return_label(
        request, metadata=label_metadata(request.return_id), look_for_earlier_purchase=look_for_earlier_purchase
    )
