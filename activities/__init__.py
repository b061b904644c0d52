"""The return's activities: thin adapters from the workflow to one integration each.

Each translates the workflow's model into the integration's own types, calls it, and turns a
classified failure into an `ApplicationError` whose type the workflow and operators see
(`stripe.charge_already_refunded`, `shippo.http_400`, ...). Every call that changes something
carries an idempotency key derived from the return (workflows/contract.py), so retries are harmless.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable


def defined_activities(*implementations: object) -> list[Callable]:
    """Every `@activity.defn` method of the given objects: what a worker registers."""
    return [
        method
        for implementation in implementations
        for _, method in inspect.getmembers(implementation, inspect.ismethod)
        if hasattr(method, "__temporal_activity_definition")  # set by @activity.defn
    ]
