"""A stateful local stand-in for the Stripe API: payment intents and refunds.

It is the embedded default when no real STRIPE_API_KEY is configured. The official
`stripe` SDK talks to it unchanged (only the base URL differs), so it speaks Stripe's
wire format: form-encoded request bodies with nested keys (`metadata[return_id]=x`),
`Authorization: Bearer sk_test_...`, JSON objects shaped like Stripe's, Stripe's error
bodies (which the SDK turns into `InvalidRequestError`, `IdempotencyError`, ...), and
Stripe's idempotency semantics on every POST.

Refunds keep a ledger per payment: a payment cannot be refunded beyond what is left,
and a refund that fails or is canceled gives its amount back.

Admin routes (no auth) let tests and the demo steer and inspect it:

    POST /_sandbox/refund_outcomes  {"status": "failed", "times": 1}   next refunds' status
                                    (+ "payment_intent": "pi_..."    only that payment's)
    POST /_sandbox/refunds/{id}/transition  {"status": "failed"}       move a refund later
    GET  /_sandbox/refunds, GET /_sandbox/payment_intents               everything stored
    GET  /_sandbox/refunds?payment_intent=pi_...                        one payment's refunds
    POST /_sandbox/reset                                                forget everything
    POST/DELETE /_sandbox/faults                                        see faults.py
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sandboxes.faults import ADMIN_PREFIX, install_faults

RefundStatus = Literal["pending", "requires_action", "succeeded", "failed", "canceled"]
FailureReason = Literal[
    "lost_or_stolen_card",
    "expired_or_canceled_card",
    "charge_for_pending_refund_disputed",
    "insufficient_funds",
    "declined",
    "merchant_request",
    "unknown",
]
Params = dict[str, Any]

# Refunds in these states hold money; failed and canceled ones give it back to the payment.
HOLDS_FUNDS: frozenset[str] = frozenset({"pending", "requires_action", "succeeded"})
CANCELABLE: frozenset[str] = frozenset({"pending", "requires_action"})
# Later moves the admin API allows; a card refund can still fail after it succeeded.
TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"succeeded", "failed", "canceled"}),
    "requires_action": frozenset({"succeeded", "failed", "canceled"}),
    "succeeded": frozenset({"failed"}),
}
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# Only used to format amounts in error messages the way Stripe does.
ZERO_DECIMAL_CURRENCIES = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)

PAYMENT_INTENT_PARAMS = frozenset(
    {
        "amount",
        "currency",
        "payment_method",
        "confirm",  # accepted for compatibility: the sandbox always confirms
        "metadata",
        "description",
        "customer",
        "receipt_email",
        "automatic_payment_methods",
        "payment_method_types",
        "return_url",
    }
)
REFUND_PARAMS = frozenset({"payment_intent", "charge", "amount", "reason", "metadata", "instructions_email"})
REFUND_LIST_PARAMS = frozenset({"payment_intent", "charge", "limit", "starting_after"})


class StripeError(Exception):
    """An error answered in Stripe's shape; the SDK picks its exception class from it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


class ParamError(StripeError):
    """Malformed parameters. Stripe stores no idempotent result for these, so neither do we."""

    def __init__(self, message: str, *, param: str, code: str | None = None) -> None:
        super().__init__(400, message, code=code, param=param)


def stripe_error_body(status: int) -> dict[str, Any]:
    """Body for an injected fault, shaped like the error Stripe sends with that status."""
    if status == 429:
        error = StripeError(
            status,
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    elif status >= 500:
        error = StripeError(status, f"Sandbox fault: simulated Stripe API error (HTTP {status}).", type="api_error")
    elif status == 402:
        error = StripeError(status, "Your card was declined.", type="card_error", code="card_declined")
    else:
        error = StripeError(status, f"Sandbox fault: simulated Stripe error (HTTP {status}).")
    return error.body()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def decode_form(pairs: Iterable[tuple[str, str]]) -> Params:
    """Rebuilds the nested params the SDK flattened: `metadata[a]=x` -> {"metadata": {"a": "x"}}.

    Arrays arrive as `key[0]=...` and stay dicts keyed by index; nothing here needs lists.
    """
    params: Params = {}
    for raw_key, value in pairs:
        head, bracket, rest = raw_key.partition("[")
        path = [head, *rest[:-1].split("][")] if bracket and rest.endswith("]") else [raw_key]
        node = params
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamError("Invalid object", param=head)
        node[path[-1]] = value
    return params


def _reject_unknown(params: Params, allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise ParamError(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def _string(params: Params, name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise ParamError(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return None
    if not isinstance(value, str):
        raise ParamError(f"Invalid string: {value}", param=name)
    return value


def _positive_int(params: Params, name: str, *, required: bool = False) -> int | None:
    raw = _string(params, name, required=required)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ParamError(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer") from None
    if value < 1:
        raise ParamError("This value must be greater than or equal to 1.", param=name, code="parameter_invalid_integer")
    return value


# Stripe takes at most eight digits for an amount in most currencies (99999999: $999,999.99).
MAX_AMOUNT = 99_999_999


def _amount(params: Params, currency: str, *, required: bool = False) -> int | None:
    amount = _positive_int(params, "amount", required=required)
    if amount is not None and amount > MAX_AMOUNT:
        raise ParamError(
            f"Amount must be no more than {_format_amount(MAX_AMOUNT, currency)}",
            param="amount",
            code="amount_too_large",
        )
    return amount


def _metadata(params: Params) -> dict[str, str]:
    value = params.get("metadata", {})
    if value == "":  # Stripe reads `metadata=` as "no metadata"
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ParamError("Invalid object", param="metadata")
    return dict(value)


def _format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{amount} {currency.upper()}"
    if currency == "usd":
        return f"${amount / 100:.2f}"
    return f"{amount / 100:.2f} {currency.upper()}"


@dataclass
class _StoredResponse:
    """What an idempotency key answered the first time, and for which request."""

    request: tuple[str, Params]
    status: int
    body: dict[str, Any]


@dataclass
class _Outcome:
    status: RefundStatus
    times: int
    failure_reason: FailureReason
    payment_intent: str | None  # None: any payment's next refunds


class StripeState:
    """Everything the sandbox knows, guarded by one lock.

    Public methods take the lock and return deep copies, so callers (the HTTP layer, the
    uvicorn thread, a test poking at `app.state.stripe`) never share mutable state.
    """

    def __init__(self) -> None:
        # Re-entrant: `execute` holds it while a handler calls other public methods.
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.payment_intents: dict[str, dict[str, Any]] = {}
            self.charges: dict[str, str] = {}  # charge id -> payment intent id
            self.refunds: dict[str, dict[str, Any]] = {}  # in creation order
            self._outcomes: deque[_Outcome] = deque()
            self._idempotency: dict[tuple[str, str], _StoredResponse] = {}

    # -- idempotency ---------------------------------------------------------------

    def execute(
        self,
        api_key: str,
        idempotency_key: str | None,
        endpoint: str,
        params: Params,
        handler: Callable[[Params], dict[str, Any]],
    ) -> tuple[int, dict[str, Any], bool]:
        """Runs a POST handler the way Stripe does: once per idempotency key.

        Returns (status, body, replayed). The lock is held throughout, so two concurrent
        requests with one key cannot both run the handler.
        """
        with self.lock:
            if idempotency_key is None:
                return *self._attempt(handler, params), False
            scope = (api_key, idempotency_key)  # keys are per account, like Stripe's
            stored = self._idempotency.get(scope)
            if stored is not None:
                if stored.request != (endpoint, params):
                    raise StripeError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{idempotency_key}' if you meant to "
                        "execute a different request.",
                        type="idempotency_error",
                    )
                return stored.status, copy.deepcopy(stored.body), True
            status, body = self._attempt(handler, params)
            self._idempotency[scope] = _StoredResponse((endpoint, copy.deepcopy(params)), status, copy.deepcopy(body))
            return status, body, False

    @staticmethod
    def _attempt(handler: Callable[[Params], dict[str, Any]], params: Params) -> tuple[int, dict[str, Any]]:
        # Errors raised once the endpoint runs are results to replay; ParamError is not.
        try:
            return 200, handler(params)
        except ParamError:
            raise
        except StripeError as error:
            return error.status, error.body()

    # -- payment intents -----------------------------------------------------------

    def create_payment_intent(self, params: Params) -> dict[str, Any]:
        _reject_unknown(params, PAYMENT_INTENT_PARAMS)
        currency = (_string(params, "currency", required=True) or "").lower()
        if len(currency) != 3 or not currency.isalpha():
            raise ParamError(f"Invalid currency: {currency}", param="currency")
        amount = _amount(params, currency, required=True)
        metadata = _metadata(params)
        automatic = params.get("automatic_payment_methods")
        method_types = params.get("payment_method_types")
        intent_id = new_id("pi")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": amount,
            "automatic_payment_methods": (
                {
                    "enabled": automatic.get("enabled") == "true",
                    "allow_redirects": automatic.get("allow_redirects", "always"),
                }
                if isinstance(automatic, dict)
                else None
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": currency,
            "customer": _string(params, "customer"),
            "description": _string(params, "description"),
            "last_payment_error": None,
            "latest_charge": new_id("ch"),
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "payment_method": _string(params, "payment_method") or new_id("pm"),
            "payment_method_types": list(method_types.values()) if isinstance(method_types, dict) else ["card"],
            "receipt_email": _string(params, "receipt_email"),
            # The sandbox stands for the shopper's completed payment, so it succeeds at once.
            "status": "succeeded",
        }
        with self.lock:
            self.payment_intents[intent_id] = intent
            self.charges[intent["latest_charge"]] = intent_id
            return copy.deepcopy(intent)

    def payment_intent(self, intent_id: str) -> dict[str, Any]:
        with self.lock:
            intent = self.payment_intents.get(intent_id)
            if intent is None:
                raise StripeError(
                    404, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent"
                )
            return copy.deepcopy(intent)

    # -- refunds -------------------------------------------------------------------

    def create_refund(self, params: Params) -> dict[str, Any]:
        _reject_unknown(params, REFUND_PARAMS)
        intent_id = _string(params, "payment_intent")
        charge_id = _string(params, "charge")
        amount = _positive_int(params, "amount")  # at most what the payment has left, itself at most MAX_AMOUNT
        reason = _string(params, "reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise ParamError(f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}", param="reason")
        metadata = _metadata(params)
        instructions_email = _string(params, "instructions_email")
        if intent_id is None and charge_id is None:
            raise ParamError(
                "One of the following params should be provided for this request: payment_intent or charge.",
                param="payment_intent",
                code="parameter_missing",
            )
        with self.lock:
            intent = self._refundable_intent(intent_id, charge_id)
            remaining = self._remaining(intent)
            if remaining == 0:
                raise StripeError(
                    400, f"Charge {intent['latest_charge']} has already been refunded.", code="charge_already_refunded"
                )
            amount = remaining if amount is None else amount
            if amount > remaining:
                raise StripeError(
                    400,
                    f"Refund amount ({_format_amount(amount, intent['currency'])}) is greater than unrefunded "
                    f"amount on charge ({_format_amount(remaining, intent['currency'])})",
                    code="amount_too_large",
                    param="amount",
                )
            outcome = self._next_outcome(intent["id"])
            refund: dict[str, Any] = {
                "id": new_id("re"),
                "object": "refund",
                "amount": amount,
                "balance_transaction": new_id("txn"),
                "charge": intent["latest_charge"],
                "created": int(time.time()),
                "currency": intent["currency"],
                "customer": intent["customer"],
                "customer_account": None,
                "description": None,
                "destination_details": {"type": "card", "card": {"type": "refund"}},
                "failure_balance_transaction": None,
                "failure_reason": None,
                "instructions_email": instructions_email,
                "metadata": metadata,
                "next_action": None,
                "payment_intent": intent["id"],
                "payment_method": intent["payment_method"],
                "pending_reason": None,
                "reason": reason,
                "receipt_number": None,
                "source_transfer_reversal": None,
                "status": "succeeded",
                "transfer_reversal": None,
            }
            if outcome is not None:
                _set_refund_status(refund, outcome.status, outcome.failure_reason)
            self.refunds[refund["id"]] = refund
            return copy.deepcopy(refund)

    def refund(self, refund_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._refund(refund_id))

    def list_refunds(self, params: Params) -> dict[str, Any]:
        _reject_unknown(params, REFUND_LIST_PARAMS)
        intent_id = _string(params, "payment_intent")
        charge_id = _string(params, "charge")
        limit = _positive_int(params, "limit") or 10
        if limit > 100:
            raise ParamError("This value must be less than or equal to 100.", param="limit")
        starting_after = _string(params, "starting_after")
        with self.lock:
            newest_first = [
                refund
                for refund in reversed(self.refunds.values())
                if intent_id in (None, refund["payment_intent"]) and charge_id in (None, refund["charge"])
            ]
            if starting_after is not None:
                ids = [refund["id"] for refund in newest_first]
                if starting_after not in ids:
                    raise StripeError(
                        400, f"No such refund: '{starting_after}'", code="resource_missing", param="starting_after"
                    )
                newest_first = newest_first[ids.index(starting_after) + 1 :]
            return {
                "object": "list",
                "data": copy.deepcopy(newest_first[:limit]),
                "has_more": len(newest_first) > limit,
                "url": "/v1/refunds",
            }

    def cancel_refund(self, refund_id: str, params: Params) -> dict[str, Any]:
        _reject_unknown(params, frozenset())
        with self.lock:
            refund = self._refund(refund_id)
            if refund["status"] not in CANCELABLE:
                raise StripeError(
                    400,
                    f"Refund {refund_id} cannot be canceled because its status is {refund['status']}; "
                    "only pending or requires_action refunds can be canceled.",
                )
            _set_refund_status(refund, "canceled")
            return copy.deepcopy(refund)

    # -- admin -----------------------------------------------------------------------

    def queue_outcome(
        self, status: RefundStatus, times: int, failure_reason: FailureReason, payment_intent: str | None = None
    ) -> None:
        with self.lock:
            self._outcomes.append(_Outcome(status, times, failure_reason, payment_intent))

    def transition_refund(self, refund_id: str, status: RefundStatus, failure_reason: FailureReason) -> dict[str, Any]:
        """Moves a refund as Stripe would later (webhook-worthy changes); KeyError/ValueError when not allowed."""
        with self.lock:
            refund = self.refunds[refund_id]
            if status not in TRANSITIONS.get(refund["status"], frozenset()):
                raise ValueError(f"refund {refund_id} cannot go from {refund['status']} to {status}")
            _set_refund_status(refund, status, failure_reason)
            return copy.deepcopy(refund)

    def all_refunds(self, payment_intent: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(
                [refund for refund in self.refunds.values() if payment_intent in (None, refund["payment_intent"])]
            )

    def all_payment_intents(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.payment_intents.values()))

    # -- internals (lock held) -------------------------------------------------------

    def _refundable_intent(self, intent_id: str | None, charge_id: str | None) -> dict[str, Any]:
        if charge_id is not None:
            charge_intent = self.charges.get(charge_id)
            if charge_intent is None:
                raise StripeError(400, f"No such charge: '{charge_id}'", code="resource_missing", param="charge")
            if intent_id is not None and intent_id != charge_intent:
                raise ParamError(f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.", param="charge")
            intent_id = charge_intent
        assert intent_id is not None
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise StripeError(
                400, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="payment_intent"
            )
        return intent

    def _remaining(self, intent: dict[str, Any]) -> int:
        held = sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == intent["id"] and refund["status"] in HOLDS_FUNDS
        )
        return intent["amount"] - held

    def _next_outcome(self, intent_id: str) -> _Outcome | None:
        outcome = next((o for o in self._outcomes if o.payment_intent in (None, intent_id)), None)
        if outcome is None:
            return None
        outcome.times -= 1
        if outcome.times == 0:
            self._outcomes.remove(outcome)
        return outcome

    def _refund(self, refund_id: str) -> dict[str, Any]:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise StripeError(404, f"No such refund: '{refund_id}'", code="resource_missing", param="id")
        return refund


def _set_refund_status(
    refund: dict[str, Any], status: RefundStatus, failure_reason: FailureReason = "expired_or_canceled_card"
) -> None:
    """Sets a refund's status and the fields Stripe derives from it."""
    refund["status"] = status
    refund["pending_reason"] = "processing" if status == "pending" else None
    refund["next_action"] = (
        {
            "type": "display_details",
            "display_details": {
                "email_sent": {"email_sent_at": int(time.time()), "email_sent_to": refund["instructions_email"]},
                "expires_at": int(time.time()) + 30 * 24 * 3600,
            },
        }
        if status == "requires_action"
        else None
    )
    if status == "failed":
        refund["failure_reason"] = failure_reason
        # Stripe books a second balance transaction that reverses the refund's.
        refund["failure_balance_transaction"] = new_id("txn")


class RefundOutcome(BaseModel):
    status: Literal["pending", "failed", "requires_action"]
    times: int = Field(default=1, ge=1)
    failure_reason: FailureReason = "expired_or_canceled_card"
    payment_intent: str | None = Field(default=None, description="only this payment's refunds; none: any")


class RefundTransition(BaseModel):
    status: Literal["succeeded", "failed", "canceled"]
    failure_reason: FailureReason = "expired_or_canceled_card"


def _redact(key: str) -> str:
    return key if len(key) <= 12 else f"{key[:8]}{'*' * (len(key) - 12)}{key[-4:]}"


def _api_key(request: Request) -> str:
    """The caller's secret key; like Stripe, test-mode secret keys (`sk_test_`) only."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        )
    if not key.startswith("sk_test_"):
        raise StripeError(401, f"Invalid API Key provided: {_redact(key)}")
    return key


def create_app() -> FastAPI:
    app = FastAPI(title="Stripe sandbox", docs_url=None, redoc_url=None)
    state = StripeState()
    app.state.stripe = state
    faults = install_faults(app, stripe_error_body)

    @app.exception_handler(StripeError)
    async def stripe_error(_: Request, error: StripeError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # Outermost, so injected faults carry a Request-Id too; the SDK reports it on errors.
        response = await call_next(request)
        response.headers["Request-Id"] = new_id("req")
        if "stripe-version" in request.headers:
            response.headers["Stripe-Version"] = request.headers["stripe-version"]
        return response

    api = APIRouter(prefix="/v1")

    async def post(request: Request, api_key: str, handler: Callable[[Params], dict[str, Any]]) -> JSONResponse:
        params = decode_form(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        idempotency_key = request.headers.get("idempotency-key")
        status, body, replayed = state.execute(api_key, idempotency_key, request.url.path, params, handler)
        response = JSONResponse(body, status_code=status)
        if idempotency_key is not None:
            response.headers["Idempotency-Key"] = idempotency_key
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response

    def query(request: Request) -> Params:
        return decode_form(request.query_params.multi_items())

    @api.post("/payment_intents")
    async def create_payment_intent(request: Request, api_key: str = Depends(_api_key)) -> JSONResponse:
        return await post(request, api_key, state.create_payment_intent)

    @api.get("/payment_intents/{intent_id}", dependencies=[Depends(_api_key)])
    def retrieve_payment_intent(intent_id: str) -> dict[str, Any]:
        return state.payment_intent(intent_id)

    @api.post("/refunds")
    async def create_refund(request: Request, api_key: str = Depends(_api_key)) -> JSONResponse:
        return await post(request, api_key, state.create_refund)

    @api.get("/refunds", dependencies=[Depends(_api_key)])
    def list_refunds(request: Request) -> dict[str, Any]:
        return state.list_refunds(query(request))

    @api.get("/refunds/{refund_id}", dependencies=[Depends(_api_key)])
    def retrieve_refund(refund_id: str) -> dict[str, Any]:
        return state.refund(refund_id)

    @api.post("/refunds/{refund_id}/cancel")
    async def cancel_refund(refund_id: str, request: Request, api_key: str = Depends(_api_key)) -> JSONResponse:
        return await post(request, api_key, lambda params: state.cancel_refund(refund_id, params))

    # Registered last: anything else under /v1 gets Stripe's answer instead of FastAPI's.
    @api.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
    def unrecognized(request: Request) -> None:
        raise StripeError(404, f"Unrecognized request URL ({request.method}: {request.url.path}).")

    app.include_router(api)

    admin = APIRouter(prefix=ADMIN_PREFIX, tags=["sandbox admin"])

    @admin.post("/refund_outcomes", status_code=204)
    def queue_refund_outcome(outcome: RefundOutcome) -> None:
        state.queue_outcome(outcome.status, outcome.times, outcome.failure_reason, outcome.payment_intent)

    @admin.post("/refunds/{refund_id}/transition")
    def transition_refund(refund_id: str, transition: RefundTransition) -> dict[str, Any]:
        try:
            return state.transition_refund(refund_id, transition.status, transition.failure_reason)
        except KeyError:
            raise HTTPException(404, f"no refund {refund_id}") from None
        except ValueError as error:
            raise HTTPException(409, str(error)) from None

    @admin.get("/refunds")
    def all_refunds(payment_intent: str | None = None) -> list[dict[str, Any]]:
        return state.all_refunds(payment_intent)

    @admin.get("/payment_intents")
    def all_payment_intents() -> list[dict[str, Any]]:
        return state.all_payment_intents()

    @admin.post("/reset", status_code=204)
    def reset() -> None:
        state.reset()
        faults.clear()

    app.include_router(admin)
    return app
