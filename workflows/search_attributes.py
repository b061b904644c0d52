"""Search attributes of a return, declared once for the workflow and the tools that query it.

Register them on a server with `temporal operator search-attribute create` (the local stack,
the production topology and the tests do it for you: `integrations.temporal_client.
register_search_attributes`); Keyword where it will do, the type every visibility store offers.
"""

from temporalio.common import SearchAttributeKey

RETURN_STAGE = SearchAttributeKey.for_keyword("ReturnStage")
ORDER_ID = SearchAttributeKey.for_keyword("ReturnOrderId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("ReturnCustomerId")
TRACKING_NUMBER = SearchAttributeKey.for_keyword("ReturnTrackingNumber")
NEEDS_ATTENTION = SearchAttributeKey.for_keyword("ReturnNeedsAttention")  # "true" / "false"
# When the return entered its stage: "stuck in its stage for more than N days" is a query.
STAGE_SINCE = SearchAttributeKey.for_datetime("ReturnStageSince")

ALL = (RETURN_STAGE, ORDER_ID, CUSTOMER_ID, TRACKING_NUMBER, NEEDS_ATTENTION, STAGE_SINCE)
