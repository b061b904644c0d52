"""What the Shippo tests ask for: return labels for fresh returns, and the sandbox's view of them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from integrations.shippo_labels import label_metadata
from workflows.models import Address, LabelRequest, Parcel

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
