"""Search attributes of a return, declared once for the workflow and the tools that query it.

Register them on a server with `temporal operator search-attribute create` (the local
stack and tests do it for you); all are Keyword, the type every visibility store offers.
"""

from temporalio.common import SearchAttributeKey

RETURN_STAGE = SearchAttributeKey.for_keyword("ReturnStage")
ORDER_ID = SearchAttributeKey.for_keyword("ReturnOrderId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("ReturnCustomerId")

ALL = (RETURN_STAGE, ORDER_ID, CUSTOMER_ID)
