"""Search attributes of a return, declared once for the workflow and the tools that query it.

Register them on a server with `temporal operator search-attribute create` (the local
stack and tests do it for you); all are Keyword, the type every visibility store offers.
"""

from temporalio.common import SearchAttributeKey

RETURN_STAGE = SearchAttributeKey.for_keyword("ReturnStage")
ORDER_ID = SearchAttributeKey.for_keyword("ReturnOrderId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("ReturnCustomerId")
TRACKING_NUMBER = SearchAttributeKey.for_keyword("ReturnTrackingNumber")
NEEDS_ATTENTION = SearchAttributeKey.for_keyword("ReturnNeedsAttention")  # "true" / "false"

ALL = (RETURN_STAGE, ORDER_ID, CUSTOMER_ID, TRACKING_NUMBER, NEEDS_ATTENTION)
