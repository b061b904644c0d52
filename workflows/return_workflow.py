"""ReturnWorkflow: one product return, from request to refund, as one durable workflow.

Contract
- id: `workflow_id_for(return_id)`; starting the same return twice reaches the same workflow.
- input: `ReturnRequest`; result: the final `ReturnStatus`.
- signals: `carrier_scan(CarrierScan)` from the carrier, `inspection_recorded(InspectionReport)`
  from the warehouse.
- query: `status() -> ReturnStatus`, answerable at every moment.
- search attributes: `ReturnStage`, `ReturnOrderId`, `ReturnCustomerId` (search_attributes.py).

Process: buy a return label -> wait for carrier scans until delivered -> wait for the
inspection -> restock resellable lines -> refund the accepted amount -> completed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows import rules
    from workflows.models import (
        ActivityName,
        CarrierScan,
        InspectionReport,
        Label,
        LabelRequest,
        LineStatus,
        RefundReceipt,
        RefundRequest,
        RestockReceipt,
        RestockRequest,
        ReturnRequest,
        ReturnStatus,
        Stage,
        TimelineEntry,
        TrackingStatus,
    )
    from workflows.search_attributes import RETURN_STAGE

WORKFLOW_ID_PREFIX = "return-"

# Vendors have outages measured in minutes to hours: keep retrying, but not hammering.
_VENDOR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
_VENDOR_CALL = {"start_to_close_timeout": timedelta(seconds=60), "retry_policy": _VENDOR_RETRY}


def workflow_id_for(return_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{return_id}"


def refund_idempotency_key(return_id: str) -> str:
    """One refund per return: every attempt, retry or replay of it uses this key."""
    return f"return:{return_id}:refund:1"


@workflow.defn
class ReturnWorkflow:
    @workflow.init
    def __init__(self, request: ReturnRequest) -> None:
        self._request = request
        self._stage = Stage.requested
        self._lines = {
            line.line_id: LineStatus(
                line_id=line.line_id,
                sku=line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                reason=line.reason,
            )
            for line in request.lines
        }
        self._label: Label | None = None
        self._tracking_status: TrackingStatus | None = None
        self._seen_scan_ids: set[str] = set()
        self._inspected_by: str | None = None
        self._refund: RefundReceipt | None = None
        self._timeline: list[TimelineEntry] = []

    @workflow.run
    async def run(self, request: ReturnRequest) -> ReturnStatus:
        self._note("shop", f"return requested for order {request.order_id}, {len(request.lines)} line(s)")
        await self._issue_label()
        await workflow.wait_condition(lambda: rules.is_at_or_past(self._stage, Stage.delivered))
        await workflow.wait_condition(lambda: self._inspected_by is not None)
        self._move_to(Stage.resolving, "system", "restocking and refunding")
        await self._restock()
        await self._refund_accepted_amount()
        self._move_to(Stage.completed, "system", "return resolved")
        return self.status()

    # --- Messages ---------------------------------------------------------------------

    @workflow.query
    def status(self) -> ReturnStatus:
        return ReturnStatus(
            return_id=self._request.return_id,
            order_id=self._request.order_id,
            customer_id=self._request.customer_id,
            stage=self._stage,
            currency=self._request.currency,
            lines=list(self._lines.values()),
            label=self._label,
            tracking_status=self._tracking_status,
            inspected_by=self._inspected_by,
            refund=self._refund,
            timeline=list(self._timeline),
        )

    @workflow.signal
    def carrier_scan(self, scan: CarrierScan) -> None:
        if scan.event_id in self._seen_scan_ids:
            return  # carriers redeliver webhooks; the first delivery already counted
        self._seen_scan_ids.add(scan.event_id)
        self._tracking_status = scan.status
        detail = f"carrier scan {scan.status.value}" + (f" at {scan.location}" if scan.location else "")
        next_stage = rules.stage_after_scan(self._stage, scan.status)
        if next_stage is self._stage:
            self._note("carrier", detail)
        else:
            self._move_to(next_stage, "carrier", detail)

    @workflow.signal
    def inspection_recorded(self, report: InspectionReport) -> None:
        problem = self._inspection_problem(report)
        if problem:
            self._note(report.inspector, f"inspection ignored: {problem}")
            return
        for inspected in report.lines:
            line = self._lines[inspected.line_id]
            self._lines[inspected.line_id] = line.model_copy(
                update={"grade": inspected.grade, "disposition": rules.disposition_for(inspected.grade)}
            )
        self._inspected_by = report.inspector
        grades = ", ".join(f"{line.line_id}={line.grade.value}" for line in report.lines)
        self._move_to(Stage.inspecting, report.inspector, f"inspected: {grades}")

    def _inspection_problem(self, report: InspectionReport) -> str | None:
        if self._inspected_by is not None:
            return "the return was already inspected"
        if not rules.is_at_or_past(self._stage, Stage.delivered):
            return "the parcel has not been delivered yet"
        reported = [line.line_id for line in report.lines]
        if sorted(reported) != sorted(self._lines):
            return f"it must grade each line exactly once: {sorted(self._lines)}"
        return None

    # --- Steps --------------------------------------------------------------------------

    async def _issue_label(self) -> None:
        request = self._request
        self._label = await workflow.execute_activity(
            ActivityName.buy_return_label,
            LabelRequest(
                return_id=request.return_id,
                customer_address=request.customer_address,
                warehouse_address=request.warehouse_address,
                parcel=request.parcel,
            ),
            result_type=Label,
            **_VENDOR_CALL,
        )
        self._move_to(Stage.label_issued, "system", f"label bought, tracking {self._label.tracking_number}")

    async def _restock(self) -> None:
        to_restock = rules.lines_to_restock(self._lines.values())
        receipts = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ActivityName.restock_line,
                    RestockRequest(
                        return_id=self._request.return_id, line_id=line.line_id, sku=line.sku, quantity=line.quantity
                    ),
                    result_type=RestockReceipt,
                    **_VENDOR_CALL,
                )
                for line in to_restock
            )
        )
        for line, receipt in zip(to_restock, receipts, strict=True):
            self._lines[line.line_id] = line.model_copy(update={"restock_id": receipt.restock_id})
            self._note("warehouse", f"restocked {receipt.quantity} x {receipt.sku}")

    async def _refund_accepted_amount(self) -> None:
        amount = rules.refund_amount(self._lines.values())
        if amount == 0:
            self._note("system", "nothing to refund: no line was accepted")
            return
        request = self._request
        self._refund = await workflow.execute_activity(
            ActivityName.refund_payment,
            RefundRequest(
                return_id=request.return_id,
                order_id=request.order_id,
                payment_intent_id=request.payment_intent_id,
                amount=amount,
                currency=request.currency,
                idempotency_key=refund_idempotency_key(request.return_id),
            ),
            result_type=RefundReceipt,
            **_VENDOR_CALL,
        )
        self._note("payments", f"refunded {amount} {request.currency} ({self._refund.refund_id})")

    # --- State ---------------------------------------------------------------------------

    def _move_to(self, stage: Stage, actor: str, detail: str) -> None:
        """The one place a return changes stage: state, timeline and visibility together."""
        self._stage = stage
        self._note(actor, detail)
        workflow.upsert_search_attributes([RETURN_STAGE.value_set(stage.value)])

    def _note(self, actor: str, detail: str) -> None:
        self._timeline.append(TimelineEntry(at=workflow.now(), stage=self._stage, actor=actor, detail=detail))
        workflow.logger.info(detail, extra={"return_id": self._request.return_id, "stage": self._stage.value})
