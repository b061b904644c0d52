"""Which returns belong to which shop, where one deployment serves several.

A shop's return ids and order ids begin with its id and a colon (`acme:R-1001`, order
`acme:ORD-7`): return ids must be unique across the deployment anyway (one workflow per id),
and the prefix makes every check a string comparison, with no lookup that could fail or leak.
A key that names its shop (api/auth.py) starts, reads, lists, cancels and checks eligibility
only under that prefix; whatever lies outside it is answered as if it did not exist. A key
without a shop (an operator, the warehouse, a single-shop storefront) sees every return.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from workflows.contract import workflow_id_for

# No colon or dot: `acme` can't be a prefix of another shop's ids (`acme-eu:` is not `acme:`).
ShopId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]


def shop_prefix(shop_id: str) -> str:
    return f"{shop_id}:"


def belongs_to_shop(identifier: str, shop_id: str | None) -> bool:
    """Whether a return id or order id is the shop's (every id is, for a key without a shop)."""
    return shop_id is None or identifier.startswith(shop_prefix(shop_id))


def shop_query(shop_id: str) -> str:
    """The visibility query for a shop's returns (ShopId's pattern admits no quote)."""
    return f"WorkflowId STARTS_WITH '{workflow_id_for(shop_prefix(shop_id))}'"
