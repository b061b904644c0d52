"""Finding returns in the read model: filters, and pages in the order of the column asked for."""

from __future__ import annotations

import pytest

from store.finder import SORTS, ReturnsWanted, find_returns
from tests.integration.store.dataset import march_2025


@pytest.fixture
def stored(store):
    scripts = march_2025()
    for script in scripts:
        for event in script.events:
            store.append(event)
    return {script.status["return_id"]: script.status for script in scripts}


def _ids(store, sort: str, **wanted: object) -> list[str]:
    rows, total = find_returns(store, ReturnsWanted(**wanted), limit=100, sort=sort)
    assert total == len(rows)
    return [row["return_id"] for row in rows]


def test_every_sort_orders_the_whole_set_and_pages_never_overlap(store, stored) -> None:
    requested = {rid: next(e["at"] for e in status["timeline"]) for rid, status in stored.items()}
    newest = sorted(stored, key=lambda rid: (-requested[rid].timestamp(), rid))
    assert _ids(store, "newest") == newest
    assert _ids(store, "oldest") == sorted(stored, key=lambda rid: (requested[rid], rid))
    assert _ids(store, "return") == sorted(stored)
    assert _ids(store, "order") == sorted(stored, key=lambda rid: (stored[rid]["order_id"], rid))
    by_stage = _ids(store, "stage")
    stages = [stored[rid]["stage"] for rid in by_stage]
    assert stages == sorted(stages) and set(by_stage) == set(stored)
    customers = [stored[rid]["customer_id"] for rid in _ids(store, "customer")]
    assert customers == sorted(customers)

    for sort in SORTS:  # two pages of two: together the first four, none twice
        first, _ = find_returns(store, ReturnsWanted(), limit=2, offset=0, sort=sort)
        second, _ = find_returns(store, ReturnsWanted(), limit=2, offset=2, sort=sort)
        assert [r["return_id"] for r in first + second] == _ids(store, sort)[:4]


def test_filters_hold_together_and_an_unknown_sort_is_refused(store, stored) -> None:
    tees = _ids(store, "return", sku="S-TEE")
    assert tees and all(any(line["sku"] == "S-TEE" for line in stored[rid]["lines"]) for rid in tees)
    assert _ids(store, "return", sku="S-TEE", stage="no-such-stage") == []
    with pytest.raises(ValueError, match="sort is one of"):
        find_returns(store, ReturnsWanted(), limit=1, sort="amount; DROP TABLE returns")
