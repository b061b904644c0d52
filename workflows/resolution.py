"""How a return pays the shopper back: refund, store credit or exchange, and what follows a refund.

Money goes back to the order's own payments (the shop platform's record), in the order the shop
lists them, never more than each has left; what can't go back to a card (nothing left on it, a
refund that failed) goes the policy's way: store credit, or an operator's decision. A refund is
followed until Stripe settles it (webhook, else polling), an instant refund is reconciled with the
inspection without a second refund, and a refund can still fail days after it succeeded. Every
money-moving step carries an idempotency key derived from the return (workflows/contract.py).

Returns started before `MONEY_FROM_THE_ORDER` keep refunding the request's one payment exactly.

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
from store.events import EventType
from workflows.contract import (
    REFUND_STEP,
    STORE_CREDIT_STEP,
    exchange_step,
    idempotency_key,
    refund_report_key,
    refund_step,
)
from workflows.models import LineStatus, PaymentUpdate, Resolution
from workflows.policy import OutOfStockFallback, RefundFailureFallback
from workflows.steps import ReturnSteps, StepAbandoned
from workflows.vocabulary import Deadline, Decision, RefundState, ResolutionKind, Stage, Verdict, WayOut

REFUND_SETTLE_POLLS = 10  # then a pending refund becomes an operator case
EARLY_REFUND_REPORTS = 20  # reports about a refund the return has not heard of yet, kept until it has
_UNSETTLED = frozenset({RefundState.pending, RefundState.requires_action})
_RETURNED_NOTHING = frozenset({RefundState.failed, RefundState.canceled})


class ReturnResolution(ReturnSteps):
    async def _maybe_refund_instantly(self) -> None:
        request, order = self._request, self._order
        settlement = self._settlement_unseen(shipped=True)
        if request.resolution is not ResolutionKind.refund or order is None or not settlement.net:
            return
        if not rules.qualifies_for_instant_refund(
            request, settlement.net, order.customer_return_count, self._policy, self._currency
        ):
            return
        if not self._money_from_order:
            refund = await self._refund(settlement.net)
            refunds = [refund]
        else:
            refunds, _ = await self._refund_to_order_payments(settlement.net)
            if not refunds:
                return self._note("payments", "no instant refund: nothing is left on the order's payments")
        paid = sum(refund.amount for refund in refunds)
        self._resolution = Resolution(
            kind=ResolutionKind.refund,
            amount=paid,
            fees=settlement.fees,
            instant_refund=refunds[0],
            refund=refunds[0],
            refunds=refunds if self._money_from_order else [],
        )
        self._note("payments", f"instant refund on first scan: {paid} {self._currency}")

    async def _resolve(self, settlement: rules.Settlement, basis: str) -> None:
        self._move_to(Stage.resolving, "system", f"resolving {basis}: {settlement.net} {self._currency} owed")
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
            self._resolution = Resolution(kind=kind, amount=settlement.net, fees=settlement.fees)
            await self._refund_and_follow(settlement.net)

    async def _reconcile_instant_refund(self, settlement: rules.Settlement) -> None:
        """No second refund after an instant one; a shortfall becomes an operator case. The shopper
        must have been paid first: the instant refund is followed like any other."""
        if self._money_from_order:
            await self._follow_refunds()
        paid = self._resolution.instant_refund.amount if not self._money_from_order else self._resolution.amount
        if settlement.net >= paid:
            return self._note("payments", f"instant refund of {paid} matches the inspection")
        shortfall = paid - settlement.net
        await self._await_decision(
            Decision.instant_refund_shortfall, None, f"instant refund exceeds the inspected value by {shortfall}"
        )
        self._note("payments", f"shortfall of {shortfall} accepted")

    # --- Refunds ---------------------------------------------------------------------------------

    async def _refund_and_follow(self, owed: int) -> None:
        """Refunds what is owed, follows the refunds until Stripe settles them, and pays back
        otherwise what could not go back to the order's payments."""
        if not self._money_from_order:
            refund = await self._refund(owed)
            self._resolution = self._resolution.model_copy(update={"refund": refund})
            return await self._follow_refunds()
        try:
            refunds, unrefunded = await self._refund_to_order_payments(owed)
        except StepAbandoned:  # an operator chose store credit for what the refund step could not pay
            return await self._issue_store_credit(owed, self._resolution.fees, bonus=False)
        self._resolution = self._resolution.model_copy(
            update={"refund": refunds[0] if refunds else None, "refunds": refunds, "amount": owed - unrefunded}
        )
        if refunds:
            await self._follow_refunds(unrefunded)
        else:
            await self._pay_back_otherwise(unrefunded, "nothing is left to refund on the order's payments")

    async def _refund(self, amount: int) -> RefundReceipt:
        """The one refund of returns started before MONEY_FROM_THE_ORDER: the request's payment, exactly."""
        request = self._request
        with self._moving_money():
            refund = await self._step(
                "refund",
                PaymentActivities.refund_payment,
                RefundRequest(
                    return_id=request.return_id,
                    order_id=request.order_id,
                    payment_intent_id=request.payment_intent_id,
                    amount=amount,
                    currency=self._currency,
                    idempotency_key=idempotency_key(request.return_id, REFUND_STEP),
                ),
            )
        return self._refund_made(refund)

    async def _refund_to_order_payments(self, owed: int) -> tuple[list[RefundReceipt], int]:
        """Refunds `owed` to the order's payments in the order the shop lists them, never more than
        each has left (other returns of the order may have taken some); answers the refunds made
        and what could not be refunded."""
        request = self._request
        refunds: list[RefundReceipt] = []
        for payment in self._order.payments if self._order else []:
            if owed == 0:
                break
            with self._moving_money():
                refund = await self._step(
                    "refund",
                    PaymentActivities.refund_what_is_left,
                    RefundRequest(
                        return_id=request.return_id,
                        order_id=request.order_id,
                        payment_intent_id=payment.payment_intent_id,
                        amount=owed,
                        currency=self._currency,
                        idempotency_key=idempotency_key(request.return_id, refund_step(payment.payment_intent_id)),
                    ),
                    ways_out=(WayOut.store_credit,),
                )
            if refund is None:
                self._note("payments", f"nothing left to refund on payment {payment.payment_intent_id}")
                continue
            refunds.append(self._refund_made(refund))
            owed -= refund.amount
        return refunds, owed

    def _refund_made(self, refund: RefundReceipt) -> RefundReceipt:
        self._note("payments", f"refund {refund.refund_id} of {refund.amount} {self._currency}: {refund.status.value}")
        for update, actor in self._early_refund_reports if self._progress_from_evidence else ():
            if update.refund_id == refund.refund_id:
                refund = self._with_report(refund, update, actor)
        return refund

    async def _follow_refunds(self, unrefunded: int = 0) -> None:
        """Waits for the refunds to settle (webhook, else polling), then pays back otherwise what
        they did not return (and `unrefunded`, which never went to a card)."""
        for _ in range(REFUND_SETTLE_POLLS):
            if self._refunds_settled():
                break
            self._set_deadline(Deadline.refund_settle)
            if not await self._wait(self._refunds_settled, Deadline.refund_settle):
                for refund in [r for r in self._refunds() if r.status in _UNSETTLED]:
                    polled = await self._step("check refund", PaymentActivities.get_refund, refund.refund_id)
                    self._apply_refund_status(
                        PaymentUpdate(
                            refund_id=polled.refund_id, status=polled.status, failure_reason=polled.failure_reason
                        ),
                        "system",
                    )
        self._clear_deadline(Deadline.refund_settle)
        refunds = self._refunds()
        pending = [refund for refund in refunds if refund.status in _UNSETTLED]
        if pending:
            refund = pending[0]
            await self._await_decision(
                Decision.refund_failed, None, f"refund {refund.refund_id} still {refund.status.value}"
            )
            return
        failed = [refund for refund in refunds if refund.status in _RETURNED_NOTHING]
        if any(refund.status is RefundState.succeeded for refund in refunds):
            self._event(EventType.refunded)
        if not failed and not unrefunded:
            paid = sum(refund.amount for refund in refunds)
            return await self._notify(NotificationKind.refunded, f"{paid} {self._currency}", amount=paid)
        await self._after_failed_refunds(failed, unrefunded)

    def _apply_refund_status(self, update: PaymentUpdate, actor: str) -> None:
        resolution = self._resolution
        refund = resolution.refund if resolution else None
        if not self._progress_from_evidence:  # returns started before the patch: the last update decided
            if refund is None or refund.refund_id != update.refund_id or refund.status is update.status:
                return  # not ours, or nothing new (webhooks and polls overlap)
            changed = refund.model_copy(update={"status": update.status, "failure_reason": update.failure_reason})
            self._resolution = resolution.model_copy(update={"refund": changed})
            return self._note(actor, f"refund {update.refund_id} is {update.status.value}")
        ours = next((r for r in self._refunds() if r.refund_id == update.refund_id), None)
        if ours is None:
            # Stripe's webhook can beat the refund step's own answer: keep it for when the answer comes.
            if len(self._early_refund_reports) < EARLY_REFUND_REPORTS:
                self._early_refund_reports.append((update, actor))
            return
        reported = self._with_report(ours, update, actor)
        self._resolution = resolution.model_copy(
            update={
                "refund": reported if refund and refund.refund_id == ours.refund_id else refund,
                "refunds": [reported if r.refund_id == ours.refund_id else r for r in resolution.refunds],
            }
        )

    def _with_report(self, refund: RefundReceipt, update: PaymentUpdate, actor: str) -> RefundReceipt:
        """The refund after a status report: each status is noted once, and the refund only moves
        forward in Stripe's lifecycle (a late `pending` never undoes a `failed`)."""
        if self._first_time(refund_report_key(update.refund_id, update.status.value)):
            self._note(actor, f"refund {update.refund_id} reported {update.status.value}")
        if rules.later_refund_state(refund.status, update.status) is refund.status:
            return refund
        return refund.model_copy(update={"status": update.status, "failure_reason": update.failure_reason})

    def _refunds(self) -> list[RefundReceipt]:
        resolution = self._resolution
        if resolution is None:
            return []
        return list(resolution.refunds) or ([resolution.refund] if resolution.refund else [])

    def _refunds_settled(self) -> bool:
        refunds = self._refunds()
        return bool(refunds) and all(refund.status not in _UNSETTLED for refund in refunds)

    async def _after_failed_refunds(self, failed: list[RefundReceipt], unrefunded: int = 0) -> None:
        self._event(EventType.refund_failed)
        reasons = [f"refund {r.refund_id} {r.status.value}: {r.failure_reason or 'no reason given'}" for r in failed]
        if unrefunded:
            reasons.append(f"{unrefunded} {self._currency} could not be refunded to the order's payments")
        await self._pay_back_otherwise(sum(refund.amount for refund in failed) + unrefunded, "; ".join(reasons))

    async def _pay_back_otherwise(self, amount: int, reason: str) -> None:
        """Money that could not go back to the order's payments goes the policy's way: store credit,
        or an operator's decision (approve: store credit; reject: close the return unresolved)."""
        self._note("payments", reason)
        ask_operator = self._policy.refund_failure_fallback is RefundFailureFallback.operator
        if ask_operator and await self._await_decision(Decision.refund_failed, None, reason) is Verdict.reject:
            return self._finish(Stage.failed_needs_attention, "operator", "closed with a failed refund")
        await self._issue_store_credit(amount, self._resolution.fees, bonus=False)

    async def _watch_refund_after_completion(self) -> None:
        """A refund can fail days after it succeeded: keep listening for the settle window."""
        watched = [refund.refund_id for refund in self._refunds() if refund.status is RefundState.succeeded]
        if not watched:
            return

        def failed() -> list[RefundReceipt]:
            return [r for r in self._refunds() if r.refund_id in watched and r.status is RefundState.failed]

        self._set_deadline(Deadline.refund_settle)
        some_failed = await self._wait(lambda: bool(failed()), Deadline.refund_settle)
        self._clear_deadline(Deadline.refund_settle)
        if some_failed:
            await self._after_failed_refunds(failed())

    # --- Store credit and exchanges ------------------------------------------------------------------

    async def _issue_store_credit(self, amount: int, fees: int, *, bonus: bool = True) -> None:
        request = self._request
        credit = rules.with_bonus(amount, self._policy.store_credit_bonus_bp) if bonus else amount
        self._credits_issued += 1  # a second credit (a refund failing later) needs a key of its own
        step = STORE_CREDIT_STEP if self._credits_issued == 1 else f"store_credit:{self._credits_issued}"
        with self._moving_money():
            receipt = await self._step(
                "store credit",
                ShopActivities.issue_store_credit,
                StoreCreditRequest(
                    return_id=request.return_id,
                    customer_id=self._customer,
                    amount=credit,
                    currency=self._currency,
                    idempotency_key=idempotency_key(request.return_id, step),
                ),
            )
        previous = self._resolution
        refunded = sum(r.amount for r in self._refunds() if r.status not in _RETURNED_NOTHING)
        self._resolution = Resolution(
            kind=ResolutionKind.store_credit,
            amount=credit + refunded if self._money_from_order else credit,
            fees=fees,
            refund=previous.refund if previous else None,
            refunds=previous.refunds if previous else [],
            instant_refund=previous.instant_refund if previous else None,
            store_credit=receipt,
        )
        self._note("payments", f"store credit {receipt.credit_id} of {credit} {self._currency}")
        self._event(EventType.credited)
        await self._notify(NotificationKind.store_credit_issued, f"{credit} {self._currency}", amount=credit)

    async def _exchange(self) -> None:
        request = self._request
        placed: list[tuple[LineStatus, ExchangeReceipt]] = []
        for line in self._open_lines():
            if line.grade is None or not self._paid_back(line) or line.exchange_sku is None:
                continue
            with self._moving_money():
                receipt = await self._step(
                    f"exchange {line.line_id}",
                    ShopActivities.order_exchange,
                    ExchangeRequest(
                        return_id=request.return_id,
                        order_id=request.order_id,
                        customer_id=self._customer,
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
        if any(exchange.exchange_order_id for exchange in exchanges):
            self._event(EventType.exchanged)
        if exchanges and not out_of_stock:
            return await self._notify(NotificationKind.exchange_ordered, ", ".join(e.sku for e in exchanges))
        fallback_value = sum(line.unit_price * e.quantity for line, e in out_of_stock)
        if not fallback_value:
            return
        self._note("system", f"out of stock: {', '.join(e.sku for _, e in out_of_stock)}; falling back")
        if self._policy.exchange_out_of_stock is OutOfStockFallback.store_credit:
            await self._issue_store_credit(fallback_value, 0)
        else:
            self._resolution = self._resolution.model_copy(update={"amount": fallback_value})
            await self._refund_and_follow(fallback_value)
