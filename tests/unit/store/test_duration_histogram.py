"""The durations' histogram (store.rollups): every bucket's value is within 1% of each duration
it holds, and a percentile read from buckets is within 1% of the exact one."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from store.reports import _percentile
from store.rollups import DURATION_ACCURACY, bucket_value, duration_bucket


@pytest.mark.parametrize("seconds", [1, 1.5, 59, 60, 61, 3_599, 3_600, 86_400, 86_401, 30 * 86_400, 400 * 86_400])
def test_a_bucket_stands_for_its_durations_within_one_percent(seconds):
    assert bucket_value(duration_bucket(seconds)) == pytest.approx(seconds, rel=DURATION_ACCURACY)


def test_buckets_keep_the_order_of_durations():
    durations = sorted(random.Random(3).uniform(1, 10**7) for _ in range(5_000))
    buckets = [duration_bucket(seconds) for seconds in durations]
    assert buckets == sorted(buckets)
    assert duration_bucket(0) == duration_bucket(0.4) == 0 and bucket_value(0) == 0


def exact_percentile(durations: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    ordered = sorted(durations)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.9, 1.0])
def test_a_percentile_from_the_buckets_is_within_one_percent_of_the_exact_one(fraction):
    rng = random.Random(11)
    durations = [rng.lognormvariate(11, 1.2) for _ in range(2_001)]
    counts = Counter(duration_bucket(seconds) for seconds in durations)
    found = _percentile(sorted(counts.items()), fraction * (len(durations) - 1))
    assert found == pytest.approx(exact_percentile(durations, fraction), rel=DURATION_ACCURACY)
