"""Order lookups are counted per shopper address and per order, in the storage the settings name."""

from __future__ import annotations

import pytest
from limits.errors import ConfigurationError

from devstack.ports import free_port
from integrations.settings import Settings
from portal.pages import LookupLimits


def test_an_order_is_looked_up_at_most_its_limit_whoever_asks() -> None:
    limits = LookupLimits(Settings(portal_lookups_per_order="3/10 minutes", portal_lookups_per_address="100/minute"))
    asked = [limits.hit(f"10.0.0.{n}", "ORD-1") for n in range(5)]
    assert asked == [True, True, True, False, False]
    assert limits.hit("10.0.0.9", "ord-2")  # another order has its own count
    assert not limits.hit("10.0.0.9", "ord-1")  # order numbers counted whatever their case


def test_an_address_is_limited_across_orders() -> None:
    limits = LookupLimits(Settings(portal_lookups_per_address="2/minute"))
    assert [limits.hit("10.0.0.1", f"ORD-{n}") for n in range(3)] == [True, True, False]


def test_a_shared_storage_that_does_not_answer_leaves_each_process_counting_on_its_own() -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limits = LookupLimits(Settings(portal_rate_limit_storage=nobody, portal_lookups_per_order="2/10 minutes"))
    assert [limits.hit("10.0.0.1", "ORD-1") for _ in range(3)] == [True, True, False]


def test_a_storage_that_is_not_one_fails_at_start_not_open() -> None:
    with pytest.raises(ConfigurationError):
        LookupLimits(Settings(portal_rate_limit_storage="memroy://"))
