"""Eligibility answers only who names the order rightly; a shop's key only its shop's ids."""

from __future__ import annotations

import pytest

from devstack.checkout import demo_request
from integrations.shop import OrderContact
from starter.eligibility import names_the_order
from starter.shops import belongs_to_shop, shop_query

CONTACT = OrderContact(email="Ada@Example.com", postal_code="94103-1234")


@pytest.mark.parametrize(
    ("email", "zip_code", "named"),
    [
        ("ada@example.com", "00000", True),  # the email, in any case
        (" ADA@EXAMPLE.COM ", "00000", True),
        (None, "94103", True),  # the postal code, ZIP+4 or not
        (None, "94103-1234", True),
        (None, "941031234", True),
        ("mallory@example.com", "00000", False),
        (None, "94104", False),
        (None, "9410", False),
    ],
)
def test_the_order_is_named_by_its_email_or_postal_code(email: str | None, zip_code: str, named: bool) -> None:
    request = demo_request("R-1", "pi_1")
    address = request.customer_address.model_copy(update={"email": email, "zip": zip_code})
    assert names_the_order(request.model_copy(update={"customer_address": address}), CONTACT) is named


def test_an_order_with_no_contact_on_record_can_t_be_named() -> None:
    request = demo_request("R-1", "pi_1")
    assert not names_the_order(request, OrderContact(email=None, postal_code=None))


@pytest.mark.parametrize(
    ("identifier", "shop", "belongs"),
    [
        ("acme:R-1", "acme", True),
        ("acme-eu:R-1", "acme", False),  # a shop id is never a prefix of another's ids
        ("acme", "acme", False),
        ("R-1", "acme", False),
        ("R-1", None, True),  # a key without a shop reaches every return
    ],
)
def test_a_shop_s_ids_begin_with_its_id_and_a_colon(identifier: str, shop: str | None, belongs: bool) -> None:
    assert belongs_to_shop(identifier, shop) is belongs


def test_a_shop_s_listing_is_its_workflow_ids() -> None:
    assert shop_query("acme") == "WorkflowId STARTS_WITH 'return-acme:'"
