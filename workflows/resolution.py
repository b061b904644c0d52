"""How a return pays the shopper back: refund, store credit or exchange, and what follows a refund.

A refund is followed until Stripe settles it (webhook, else polling), an instant refund is
reconciled with the inspection without a second refund, and a refund that fails (even days
after it succeeded) is handed to the policy's fallback. Every money-moving step carries an
idempotency key derived from the return (workflows/contract.py), so it happens once.

Passed through the workflow sandbox (no per-return import): only workflow APIs, no I/O.
"""

from __future__ import annotations

import workflows.rules as rules
from activities.models import (
    ExchangeReceipt,
    ExchangeRequest,
    NotificationKind,
    RefundReceipt,
    RefundRequest,
    StoreCreditRequest,
)
from activities.payments import PaymentActivities
from activities.shop import ShopActivities
from workflows.contract import REFUND_STEP, STORE_CREDIT_STEP, exchange_step, idempotency_key, refund_report_key
from workflows.models import LineStatus, PaymentUpdate, Resolution
from workflows.policy import OutOfStockFallback, RefundFailureFallback
from workflows.steps import ReturnSteps
from workflows.vocabulary import Deadline, Decision, RefundState, ResolutionKind, Stage, Verdict

REFUND_SETTLE_POLLS = 10  # then a pending refund becomes an operator case
EARLY_REFUND_REPORTS = 20  # reports about a refund the return has not heard of yet, kept until it has


class ReturnResolution(ReturnSteps):
    async def _maybe_refund_instantly(self) -> None:
        request, order = self._request, self._order
        settlement = rules.settle_unseen(self._open_lines(), self._policy, shipped=True)
        if request.resolution is not ResolutionKind.refund or order is None or not settlement.net:
            return
        if not rules.qualifies_for_instant_refund(request, settlement.net, order.customer_return_count, self._policy):
            return
        refund = await self._refund(settlement.net)
        self._resolution = Resolution(
            kind=ResolutionKind.refund, amount=refund.amount, fees=settlement.fees, instant_refund=refund, refund=refund
        )
        self._note("payments", f"instant refund on first scan: {refund.amount} {request.currency}")

    async def _resolve(self, settlement: rules.Settlement, basis: str) -> None:
        self._move_to(Stage.resolving, "system", f"resolving {basis}: {settlement.net} {self._request.currency} owed")
        if self._resolution is not None and self._resolution.instant_refund is not None:
            return await self._reconcile_instant_refund(settlement)
        kind = self._request.resolution
        if settlement.net == 0 and kind is not ResolutionKind.exchange:
            self._resolution = Resolution(kind=kind, amount=0, fees=settlement.fees)
            return self._note("system", "nothing owed: no line was accepted")
        if kind is ResolutionKind.exchange:
            await self._exchange()
        elif kind is ResolutionKind.store_credit:
            await self._issue_store_credit(settlement.net, settlement.fees)
        else:
            refund = await self._refund(settlement.net)
            self._resolution = Resolution(kind=kind, amount=settlement.net, fees=settlement.fees, refund=refund)
            await self._follow_refund()

    async def _reconcile_instant_refund(self, settlement: rules.Settlement) -> None:
        """No second refund after an instant one; a shortfall becomes an operator case."""
        paid = self._resolution.instant_refund.amount
        if settlement.net >= paid:
            return self._note("payments", f"instant refund of {paid} matches the inspection")
        shortfall = paid - settlement.net
        await self._await_decision(
            Decision.instant_refund_shortfall, None, f"instant refund exceeds the inspected value by {shortfall}"
        )
        self._note("payments", f"shortfall of {shortfall} accepted")

    # --- Refunds ---------------------------------------------------------------------------------

    async def _refund(self, amount: int) -> RefundReceipt:
        request = self._request
        refund = await self._step(
            "refund",
            PaymentActivities.refund_payment,
            RefundRequest(
                return_id=request.return_id,
                order_id=request.order_id,
                payment_intent_id=request.payment_intent_id,
                amount=amount,
                currency=request.currency,
                idempotency_key=idempotency_key(request.return_id, REFUND_STEP),
            ),
        )
        self._note(
            "payments", f"refund {refund.refund_id} of {refund.amount} {request.currency}: {refund.status.value}"
        )
        for update, actor in self._early_refund_reports if self._progress_from_evidence else ():
            if update.refund_id == refund.refund_id:
                refund = self._with_report(refund, update, actor)
        return refund

    async def _follow_refund(self) -> None:
        """Waits for a pending refund to settle (webhook, else polling); handles failure."""
        for _ in range(REFUND_SETTLE_POLLS):
            if self._refund_settled():
                break
            self._set_deadline(Deadline.refund_settle)
            if not await self._wait(self._refund_settled, Deadline.refund_settle):
                polled = await self._step(
                    "check refund", PaymentActivities.get_refund, self._resolution.refund.refund_id
                )
                self._apply_refund_status(
                    PaymentUpdate(
                        refund_id=polled.refund_id, status=polled.status, failure_reason=polled.failure_reason
                    ),
                    "system",
                )
        self._clear_deadline(Deadline.refund_settle)
        refund = self._resolution.refund
        if refund.status is RefundState.succeeded:
            return await self._notify(NotificationKind.refunded, f"{refund.amount} {self._request.currency}")
        if refund.status in (RefundState.pending, RefundState.requires_action):
            await self._await_decision(
                Decision.refund_failed, None, f"refund {refund.refund_id} still {refund.status.value}"
            )
            return
        await self._after_failed_refund(refund)

    def _apply_refund_status(self, update: PaymentUpdate, actor: str) -> None:
        resolution = self._resolution
        refund = resolution.refund if resolution else None
        if not self._progress_from_evidence:  # returns started before the patch: the last update decided
            if refund is None or refund.refund_id != update.refund_id or refund.status is update.status:
                return  # not ours, or nothing new (webhooks and polls overlap)
            changed = refund.model_copy(update={"status": update.status, "failure_reason": update.failure_reason})
            self._resolution = resolution.model_copy(update={"refund": changed})
            return self._note(actor, f"refund {update.refund_id} is {update.status.value}")
        if refund is None or refund.refund_id != update.refund_id:
            # Stripe's webhook can beat the refund step's own answer: keep it for when the answer comes.
            if len(self._early_refund_reports) < EARLY_REFUND_REPORTS:
                self._early_refund_reports.append((update, actor))
            return
        self._resolution = resolution.model_copy(update={"refund": self._with_report(refund, update, actor)})

    def _with_report(self, refund: RefundReceipt, update: PaymentUpdate, actor: str) -> RefundReceipt:
        """The refund after a status report: each status is noted once, and the refund only moves
        forward in Stripe's lifecycle (a late `pending` never undoes a `failed`)."""
        if self._first_time(refund_report_key(update.refund_id, update.status.value)):
            self._note(actor, f"refund {update.refund_id} reported {update.status.value}")
        if rules.later_refund_state(refund.status, update.status) is refund.status:
            return refund
        return refund.model_copy(update={"status": update.status, "failure_reason": update.failure_reason})

    async def _after_failed_refund(self, refund: RefundReceipt) -> None:
        reason = f"refund {refund.refund_id} {refund.status.value}: {refund.failure_reason or 'no reason given'}"
        self._note("payments", reason)
        ask_operator = self._policy.refund_failure_fallback is RefundFailureFallback.operator
        if ask_operator and await self._await_decision(Decision.refund_failed, None, reason) is Verdict.reject:
            return self._finish(Stage.failed_needs_attention, "operator", "closed with a failed refund")
        await self._issue_store_credit(refund.amount, self._resolution.fees, bonus=False)

    async def _watch_refund_after_completion(self) -> None:
        """A refund can fail days after it succeeded: keep listening for the settle window."""
        refund = self._resolution.refund if self._resolution else None
        if refund is None or refund.status is not RefundState.succeeded:
            return
        self._set_deadline(Deadline.refund_settle)
        failed = await self._wait(lambda: self._resolution.refund.status is RefundState.failed, Deadline.refund_settle)
        self._clear_deadline(Deadline.refund_settle)
        if failed:
            await self._after_failed_refund(self._resolution.refund)

    # --- Store credit and exchanges ------------------------------------------------------------------

    async def _issue_store_credit(self, amount: int, fees: int, *, bonus: bool = True) -> None:
        request = self._request
        credit = rules.with_bonus(amount, self._policy.store_credit_bonus_bp) if bonus else amount
        receipt = await self._step(
            "store credit",
            ShopActivities.issue_store_credit,
            StoreCreditRequest(
                return_id=request.return_id,
                customer_id=request.customer_id,
                amount=credit,
                currency=request.currency,
                idempotency_key=idempotency_key(request.return_id, STORE_CREDIT_STEP),
            ),
        )
        previous = self._resolution
        self._resolution = Resolution(
            kind=ResolutionKind.store_credit,
            amount=credit,
            fees=fees,
            refund=previous.refund if previous else None,
            instant_refund=previous.instant_refund if previous else None,
            store_credit=receipt,
        )
        self._note("payments", f"store credit {receipt.credit_id} of {credit} {request.currency}")
        await self._notify(NotificationKind.store_credit_issued, f"{credit} {request.currency}")

    async def _exchange(self) -> None:
        request = self._request
        placed: list[tuple[LineStatus, ExchangeReceipt]] = []
        for line in self._open_lines():
            if line.grade is None or not rules.is_refundable(line.grade, line.reason) or line.exchange_sku is None:
                continue
            receipt = await self._step(
                f"exchange {line.line_id}",
                ShopActivities.order_exchange,
                ExchangeRequest(
                    return_id=request.return_id,
                    order_id=request.order_id,
                    customer_id=request.customer_id,
                    line_id=line.line_id,
                    sku=line.exchange_sku,
                    quantity=rules.units_back(line, self._receipts_recorded),
                    idempotency_key=idempotency_key(request.return_id, exchange_step(line.line_id)),
                ),
            )
            placed.append((line, receipt))
        out_of_stock = [(line, e) for line, e in placed if e.exchange_order_id is None]
        exchanges = [e for _, e in placed]
        self._resolution = Resolution(kind=ResolutionKind.exchange, amount=0, fees=0, exchanges=exchanges)
        if exchanges and not out_of_stock:
            return await self._notify(NotificationKind.exchange_ordered, ", ".join(e.sku for e in exchanges))
        fallback_value = sum(line.unit_price * e.quantity for line, e in out_of_stock)
        if not fallback_value:
            return
        self._note("system", f"out of stock: {', '.join(e.sku for _, e in out_of_stock)}; falling back")
        if self._policy.exchange_out_of_stock is OutOfStockFallback.store_credit:
            await self._issue_store_credit(fallback_value, 0)
        else:
            refund = await self._refund(fallback_value)
            self._resolution = self._resolution.model_copy(update={"amount": refund.amount, "refund": refund})
            await self._follow_refund()
