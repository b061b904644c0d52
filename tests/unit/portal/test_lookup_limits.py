"""Order lookups are counted per shopper address and per order, in the storage the settings name."""

from __future__ import annotations

import pytest
from limits.errors import ConfigurationError

from integrations.settings import Settings
from portal.pages import PortalState


def test_an_order_is_looked_up_at_most_its_limit_whoever_asks() -> None:
    portal = PortalState(Settings(portal_lookups_per_order="3/10 minutes", portal_lookups_per_address="100/minute"))
    asked = [portal.may_look_up(f"10.0.0.{n}", "ORD-1") for n in range(5)]
    assert asked == [True, True, True, False, False]
    assert portal.may_look_up("10.0.0.9", "ord-2")  # another order has its own count
    assert not portal.may_look_up("10.0.0.9", "ord-1")  # order numbers counted whatever their case


def test_an_address_is_limited_across_orders() -> None:
    portal = PortalState(Settings(portal_lookups_per_address="2/minute"))
    assert [portal.may_look_up("10.0.0.1", f"ORD-{n}") for n in range(3)] == [True, True, False]


def test_a_storage_that_is_not_one_fails_at_start_not_open() -> None:
    with pytest.raises(ConfigurationError):
        PortalState(Settings(portal_rate_limit_storage="memroy://"))
