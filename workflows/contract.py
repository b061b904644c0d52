"""A return's identity and keys, written once for the workflow, its activities, the doors and the tools.

Running returns and the vendors' records depend on these exact strings (Stripe and the shop
platform keep idempotency keys, Shippo keeps label metadata, Temporal keeps workflow ids):
changing one breaks returns already running.
"""

from __future__ import annotations

# --- Ids ------------------------------------------------------------------------------------

WORKFLOW_ID_PREFIX = "return-"


def workflow_id_for(return_id: str) -> str:
    """One workflow per return: starting the same return twice reaches the same workflow."""
    return f"{WORKFLOW_ID_PREFIX}{return_id}"


def return_id_of(workflow_id: str) -> str | None:
    """The return a workflow id names, or None for a workflow that is not a return."""
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX) if workflow_id.startswith(WORKFLOW_ID_PREFIX) else None


# --- Idempotency keys: derived from the return and the step, never random -----------------------


def idempotency_key(return_id: str, step: str) -> str:
    """The key of one step that changes something at a vendor, stable across retries, crashes and replays."""
    return f"return:{return_id}:{step}"


def line_idempotency_key(return_id: str, line_id: str, step: str) -> str:
    return idempotency_key(return_id, f"line:{line_id}:{step}")


# Step names in money-moving keys ("refund:1"): the number leaves room for a deliberate second one.
REFUND_STEP = "refund:1"
STORE_CREDIT_STEP = "store_credit:1"


def refund_step(payment_intent_id: str) -> str:
    """One refund per payment of the order and return (split tender: several payments)."""
    return f"refund:{payment_intent_id}"


def exchange_step(line_id: str) -> str:
    return f"exchange:{line_id}"


# --- What vendors carry back to us ---------------------------------------------------------------

_LABEL_METADATA_PREFIX = "return:"
# The Stripe refund metadata key naming the return; Stripe's webhooks are routed by it.
REFUND_RETURN_ID_METADATA = "return_id"
REFUND_ORDER_ID_METADATA = "order_id"


def label_metadata(return_id: str) -> str:
    """What a return's Shippo label and track carry to find their return again (Shippo allows 100 chars)."""
    return f"{_LABEL_METADATA_PREFIX}{return_id}"


def return_id_from_label_metadata(metadata: str | None) -> str | None:
    """The return named by `label_metadata`, or None for metadata this system did not write."""
    if metadata is None or not metadata.startswith(_LABEL_METADATA_PREFIX):
        return None
    return metadata.removeprefix(_LABEL_METADATA_PREFIX) or None


# --- Events a return counts once, however often they are delivered --------------------------------


def scan_key(event_id: str) -> str:
    return f"scan:{event_id}"


def receipt_key(receipt_id: str) -> str:
    return f"receipt:{receipt_id}"


def refund_report_key(refund_id: str, status: str) -> str:
    return f"refund:{refund_id}:{status}"


# --- Error types -------------------------------------------------------------------------------

# A validator's refusal; the doors turn them into their own errors.
INVALID_STATE = "InvalidState"  # the return's state can't take this message now
INVALID_INPUT = "InvalidInput"  # the message itself is wrong; `details[0]` names the field

# Activity failures the workflow has a declared branch for (the rest wait for an operator).
ORDER_NOT_FOUND = "shop.order_not_found"
# The carrier won't come in that window: the shopper picks another. (A name, not a call.)
PICKUP_REFUSED = "shippo.pickup_refused"  # determinism-ok
# An update that could not finish its vendor call in time: the doors answer "try again".
UNAVAILABLE = "Unavailable"
