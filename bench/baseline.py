"""The baseline: a return-shaped workflow with nothing of ours in it.

It has the Temporal shape of ReturnWorkflow's happy path and nothing else: the same nine
activities in the same order (four before the label, a notification, one per line after
the inspection, the refund, a notification) with the same timeouts (steps heartbeat,
notifications don't), the same messages (carrier scans as signals; the receipt and the
inspection as updates with validators) and a status query. Its messages are plain dicts on the default
converter, its activities do nothing, and it has no timers, search attributes, timeline
or logging. The benchmark compares ReturnWorkflow with it, side by side in one run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    # The real workflow's step options, so the server stores and schedules the same thing.
    from workflows.contract import INVALID_STATE
    from workflows.steps import STEP_HEARTBEAT, STEP_RETRY, STEP_TIMEOUT

WORKFLOW_NAME = "BaselineReturn"
NOTIFICATION = "notify_shopper"  # the first is scheduled once the label is out: the return takes scans
_BEFORE_LABEL = ("load_order", "reserve_quantities", "buy_return_label", "register_tracking")
_AFTER_INSPECTION = ("restock_line", "dispose_recycle", "refund_payment")  # a disposition per line
_STAGES = ("requested", "label_issued", "in_transit", "delivered", "inspecting", "completed")
_SCAN_STAGES = {"TRANSIT": "in_transit", "DELIVERED": "delivered"}


async def _step(name: str, return_id: str) -> None:
    await workflow.execute_activity(
        name,
        return_id,
        start_to_close_timeout=STEP_TIMEOUT,
        heartbeat_timeout=STEP_HEARTBEAT,
        retry_policy=STEP_RETRY,
    )


async def _notify(return_id: str) -> None:
    await workflow.execute_activity(NOTIFICATION, return_id, start_to_close_timeout=STEP_TIMEOUT)


@workflow.defn(name=WORKFLOW_NAME)
class BaselineReturn:
    def __init__(self) -> None:
        self._stage = "requested"
        self._received = False

    @workflow.run
    async def run(self, start: dict[str, Any]) -> dict[str, Any]:
        return_id = start["return_id"]
        for name in _BEFORE_LABEL:
            await _step(name, return_id)
        self._stage = "label_issued"
        await _notify(return_id)
        # The same three waits as ReturnWorkflow: first scan, delivery, inspection.
        for stage in ("in_transit", "delivered", "inspecting"):
            await workflow.wait_condition(lambda stage=stage: self._reached(stage))
        for name in _AFTER_INSPECTION:
            await _step(name, return_id)
        await _notify(return_id)
        self._stage = "completed"
        return self.status()

    @workflow.query
    def status(self) -> dict[str, Any]:
        return {"stage": self._stage, "received": self._received}

    @workflow.signal
    def carrier_scan(self, scan: dict[str, Any]) -> None:
        target = _SCAN_STAGES.get(scan["status"])
        if target is not None and not self._reached(target):
            self._stage = target

    @workflow.update
    def record_receipt(self, receipt: dict[str, Any]) -> None:
        self._received = True

    @record_receipt.validator
    def _validate_receipt(self, receipt: dict[str, Any]) -> None:
        if self._reached("inspecting"):
            raise ApplicationError("already inspected", type=INVALID_STATE, non_retryable=True)

    @workflow.update
    def record_inspection(self, report: dict[str, Any]) -> None:
        self._stage = "inspecting"

    @record_inspection.validator
    def _validate_inspection(self, report: dict[str, Any]) -> None:
        if not self._reached("delivered") or self._reached("inspecting"):
            raise ApplicationError("not now", type=INVALID_STATE, non_retryable=True)

    def _reached(self, stage: str) -> bool:
        return _STAGES.index(self._stage) >= _STAGES.index(stage)


def _noop(name: str) -> Callable[..., Any]:
    @activity.defn(name=name)
    async def noop(return_id: str) -> None:
        return None

    return noop


ACTIVITIES = [_noop(name) for name in (*_BEFORE_LABEL, *_AFTER_INSPECTION, NOTIFICATION)]
