"""`python -m chaos fuzz`: bad input at scale. Invalid requests to every route and both webhooks,
from schemathesis (negative mode, from the committed OpenAPI document) and from a hand-written
hostile set (amounts beyond 64 bits, an order that does not exist, control characters, oversized and
deeply nested bodies, forged or missing signatures, wrong keys and methods).

Every one must be answered 4xx with a precise `ApiError` (a known code, a message, the offending
field for a 422), none 5xx, and none may start a workflow or change the return that exists (its
history length is the same before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import AuthContext, GenerationMode
from schemathesis.auths import AuthStorage
from schemathesis.specs.openapi.checks import negative_data_rejection

from api.errors import ApiError
from chaos.report import table, write_json
from chaos.vendors import Vendors
from devstack.checkout import checkout
from devstack.demo import role_headers
from devstack.polling import wait_for_stage
from devstack.stack import ROOT, LocalStack, Ports
from workflows.contract import workflow_id_for
from workflows.vocabulary import Stage

DOCUMENT = ROOT / "docs" / "openapi.json"
DEFAULT_OUTPUT = ROOT / ".run" / "chaos" / "fuzz.json"
# The codes an ApiError may carry (api/errors.py); anything else is not a precise answer.
KNOWN_CODES = frozenset(
    {
        "bad_request",
        "invalid_json",
        "unauthorized",
        "forbidden",
        "not_found",
        "method_not_allowed",
        "conflict",
        "invalid_state",
        "payload_too_large",
        "invalid_request",
        "invalid_signature",
    }
)
SHARE_HAND_WRITTEN = 0.1


@dataclass
class Verdicts:
    """What became of every request sent."""

    sent: int = 0
    invalid: int = 0  # judged invalid (a negative case that stayed invalid on the wire, or a hostile one)
    refused_precisely: int = 0
    by_route: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    by_source: Counter[str] = field(default_factory=Counter)
    became_valid: int = 0  # schemathesis's negation turned valid once serialised: not counted as invalid
    failures: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, source: str, route: str, status: int, problem: str | None, request: str) -> None:
        with self.lock:
            self.sent += 1
            self.invalid += 1
            self.by_source[source] += 1
            self.by_route[route][str(status)] += 1
            if problem is None:
                self.refused_precisely += 1
            elif len(self.failures) < 200:
                self.failures.append(
                    {"source": source, "route": route, "status": status, "problem": problem, "request": request}
                )


def imprecision(status: int, text: str) -> str | None:
    """Why an answer to an invalid request is not a precise refusal; None when it is one."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return f"accepted with {status}"
    try:
        error = ApiError.model_validate_json(text)
    except ValueError:
        return "the body is not an ApiError"
    if error.error not in KNOWN_CODES:
        return f"unknown error code {error.error!r}"
    if not error.message.strip() or "errors.pydantic.dev" in error.message or "Traceback" in error.message:
        return f"no precise message: {error.message[:200]!r}"
    if status == 422 and not all(problem.field is not None and problem.message for problem in error.fields):
        return "a 422 without the offending fields"
    if status == 422 and not error.fields:
        return "a 422 that names no field"
    return None


# --- Hand-written hostile requests -------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    name: str
    method: str
    path: str
    role: str | None  # the API key sent; None: none
    body: bytes | None = None
    content_type: str | None = "application/json"
    params: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    chunked: bool = False


CONTROL = ("\x00", "\x07", "\x1b[31m", "\u202e", "\x7f")
AMOUNTS = (2**63, 2**64, 2**70, 10**30, -(2**63), -1, 100_000_000)
# Not "null": a request may leave a line's price out (the order's price is the one paid back).
AMOUNT_TEXTS = ("1e400", "99999999.5", "1" * 5000, '"100"', "true")


def hostile_requests(valid_start: dict[str, Any], return_id: str, rng: random.Random) -> Iterator[Hostile]:
    """Each kind of hostile request, across the routes it applies to (a few hundred in all)."""
    posts = {
        "/v1/eligibility": ("storefront", valid_start),
        "/v1/returns": ("storefront", valid_start),
        f"/v1/returns/{return_id}/cancel": ("storefront", {"reason": "changed my mind"}),
        f"/v1/returns/{return_id}/receipts": (
            "warehouse",
            {"receipt_id": "P-9", "lines": [{"line_id": "L1", "quantity": 1}]},
        ),
        f"/v1/returns/{return_id}/inspection": ("warehouse", {"lines": [{"line_id": "L1", "grade": "A"}]}),
        f"/v1/returns/{return_id}/disposition-confirmations": ("warehouse", {"line_id": "L2"}),
        f"/v1/returns/{return_id}/approve": ("operator", {"reason": "fine"}),
        f"/v1/returns/{return_id}/reject": ("operator", {"reason": "no"}),
        f"/v1/returns/{return_id}/retry": ("operator", {"reason": "again"}),
        f"/v1/returns/{return_id}/disposition-overrides": (
            "operator",
            {"line_id": "L1", "disposition": "recycle", "reason": "x"},
        ),
        f"/v1/returns/{return_id}/deadline-extensions": ("operator", {"deadline": "ship_by", "days": 1, "reason": "x"}),
    }
    for path, (role, body) in posts.items():
        route = _route(path, return_id)
        yield Hostile(f"{route}: not JSON", "POST", path, role, b"this is not json")
        yield Hostile(f"{route}: truncated JSON", "POST", path, role, json.dumps(body).encode()[:-3])
        yield Hostile(f"{route}: JSON nested 100,000 deep", "POST", path, role, b"[" * 100_000 + b"]" * 100_000)
        yield Hostile(f"{route}: JSON array", "POST", path, role, b"[1, 2, 3]")
        yield Hostile(f"{route}: not sent as JSON", "POST", path, role, json.dumps(body).encode(), "text/plain")
        yield Hostile(f"{route}: oversized", "POST", path, role, json.dumps({**body, "x": "a" * 300_000}).encode())
        yield Hostile(
            f"{route}: oversized, chunked", "POST", path, role, b" " * 300_000 + json.dumps(body).encode(), chunked=True
        )
        yield Hostile(f"{route}: unknown field", "POST", path, role, json.dumps({**body, "surprise": 1}).encode())
        yield Hostile(f"{route}: empty object", "POST", path, role, b"{}")
        yield Hostile(f"{route}: every value null", "POST", path, role, json.dumps(dict.fromkeys(body)).encode())
        yield Hostile(f"{route}: no key", "POST", path, None, json.dumps(body).encode())
        yield Hostile(
            f"{route}: wrong key", "POST", path, None, json.dumps(body).encode(), headers={"X-API-Key": "guess"}
        )
        other = "warehouse" if role != "warehouse" else "storefront"
        yield Hostile(f"{route}: another role's key", "POST", path, other, json.dumps(body).encode())
        for text_field in [k for k, v in body.items() if isinstance(v, str)]:
            for char in CONTROL:
                dirty = {**body, text_field: f"a{char}b"}
                yield Hostile(
                    f"{route}: control character in {text_field}", "POST", path, role, json.dumps(dirty).encode()
                )
            yield Hostile(
                f"{route}: 100,000 characters in {text_field}",
                "POST",
                path,
                role,
                json.dumps({**body, text_field: "x" * 100_000}).encode(),
            )
        if "/v1/returns/" in path:  # the actions name who acts; starts and eligibility don't
            actor = rng.choice(["a" * 200, "bad actor!", "../root", "a\tb", "-dash"])
            headers = {"X-Actor": actor}
            yield Hostile(f"{route}: malformed X-Actor", "POST", path, role, json.dumps(body).encode(), headers=headers)
        if path != "/v1/returns":  # GET /v1/returns lists them
            yield Hostile(f"{route}: GET where only POST is", "GET", path, role)
    yield from _hostile_starts(valid_start)
    for bad_id in ("%00", "a" * 200, "..%2F..%2Fetc", "%F0%9F%99%82", "%20", "-starts-with-dash"):
        for suffix in ("", "/timeline"):
            yield Hostile(
                f"GET /v1/returns/{{id}}{suffix}: malformed id", "GET", f"/v1/returns/{bad_id}{suffix}", "operator"
            )
    for name, value in [
        ("page_size", "0"),
        ("page_size", "100000000000000000000"),
        ("page_size", "ten"),
        ("page_token", "not base64 !"),
        ("page_token", "bm90LWEtdG9rZW4="),
        ("older_than_days", "-1"),
        ("stage", "nowhere"),
        ("needs_attention", "perhaps"),
        ("customer_id", "a\x00b"),
        ("order_id", "x" * 500),
    ]:
        yield Hostile(f"GET /v1/returns: {name}={value[:20]!r}", "GET", "/v1/returns", "operator", params={name: value})
    yield Hostile("DELETE /v1/returns: no such method", "DELETE", "/v1/returns", "operator")
    yield Hostile("GET /v1/nowhere: no such route", "GET", "/v1/nowhere", "operator")
    yield from _hostile_webhooks()


def _hostile_starts(valid: dict[str, Any]) -> Iterator[Hostile]:
    for path in ("/v1/returns", "/v1/eligibility"):
        route = f"POST {path}"

        def start(name: str, body: dict[str, Any] | bytes, route: str = route, path: str = path) -> Hostile:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            return Hostile(f"{route}: {name}", "POST", path, "storefront", content)

        line = valid["lines"][0]
        for amount in AMOUNTS:
            yield start(f"unit_price {amount}", {**valid, "lines": [{**line, "unit_price": amount}]})
        raw = json.dumps(valid)
        for text in AMOUNT_TEXTS:
            yield start(
                f"unit_price {text[:12]}",
                raw.replace(f'"unit_price": {line["unit_price"]}', f'"unit_price": {text}', 1).encode(),
            )
        yield start("quantity 0", {**valid, "lines": [{**line, "quantity": 0}]})
        yield start("quantity 1001", {**valid, "lines": [{**line, "quantity": 1001}]})
        yield start("101 lines", {**valid, "lines": [{**line, "line_id": f"L{n}"} for n in range(101)]})
        yield start("the same line twice", {**valid, "lines": [line, line]})
        yield start("no lines", {**valid, "lines": []})
        yield start("exchange without exchange_sku", {**valid, "resolution": "exchange"})
        yield start("currency usd", {**valid, "currency": "usd"})
        yield start("a payment that is no payment intent", {**valid, "payment_intent_id": "ch_123"})
        yield start("return_id with a slash", {**valid, "return_id": "R/../1"})
        yield start("return_id of 65 characters", {**valid, "return_id": "R" * 65})
        yield start(
            "country of three letters", {**valid, "customer_address": {**valid["customer_address"], "country": "USA"}}
        )
        yield start("parcel of 1,000 kg", {**valid, "parcel": {"weight_kg": 1000}})
        yield start("method teleport", {**valid, "method": "teleport"})
        if path == "/v1/returns":
            yield start("an order that does not exist", {**valid, "order_id": "ORD-does-not-exist"})
            yield start(
                "an order that does not exist, another id",
                {**valid, "order_id": "ORD-nowhere-2", "return_id": "R-NOWHERE-2"},
            )


def _hostile_webhooks() -> Iterator[Hostile]:
    track = {
        "event": "track_updated",
        "test": True,
        "data": {"tracking_number": "9400", "tracking_status": {"status": "TRANSIT"}},
    }
    body = json.dumps(track).encode()
    yield Hostile("shippo: no token", "POST", "/v1/webhooks/shippo", None, body)
    yield Hostile("shippo: wrong token", "POST", "/v1/webhooks/shippo", None, body, params={"token": "guess"})
    yield Hostile("shippo: token, no signature", "POST", "/v1/webhooks/shippo", "shippo-token-only", body)
    yield Hostile("shippo: stale signature", "POST", "/v1/webhooks/shippo", "shippo-stale", body)
    for name, content in _bad_bodies(track):
        yield Hostile(f"shippo: signed, {name}", "POST", "/v1/webhooks/shippo", "shippo", content)
    event = {"id": "evt_1", "object": "event", "type": "refund.updated", "data": {"object": {"id": "re_1"}}}
    body = json.dumps(event).encode()
    yield Hostile("stripe: no signature", "POST", "/v1/webhooks/stripe", None, body)
    yield Hostile(
        "stripe: garbage signature",
        "POST",
        "/v1/webhooks/stripe",
        None,
        body,
        headers={"Stripe-Signature": "t=1,v1=00"},
    )
    for name, content in _bad_bodies(event):
        yield Hostile(f"stripe: signed, {name}", "POST", "/v1/webhooks/stripe", "stripe", content)
    incomplete = {
        "id": "evt_2",
        "object": "event",
        "type": "refund.updated",
        "data": {"object": {"object": "refund", "id": "re_2"}},
    }
    yield Hostile(
        "stripe: signed, a refund without amount or status",
        "POST",
        "/v1/webhooks/stripe",
        "stripe",
        json.dumps(incomplete).encode(),
    )
    no_data = {"id": "evt_3", "object": "event", "type": "refund.updated"}
    yield Hostile(
        "stripe: signed, an event without data", "POST", "/v1/webhooks/stripe", "stripe", json.dumps(no_data).encode()
    )


def _bad_bodies(good: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [
        ("not JSON", b"not json at all"),
        ("JSON nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
        ("a JSON array", b"[]"),
        ("data of the wrong type", json.dumps({**good, "data": "a string"}).encode()),
        ("oversized", json.dumps({**good, "padding": "a" * 300_000}).encode()),
    ]


def _route(path: str, return_id: str) -> str:
    return "POST " + path.replace(return_id, "{id}")


# --- Sending ----------------------------------------------------------------------------------------


class Fuzzer:
    def __init__(self, stack: LocalStack, verdicts: Verdicts):
        self.stack = stack
        self.verdicts = verdicts
        self.settings = stack.settings

    def headers_for(self, hostile: Hostile, body: bytes | None) -> tuple[dict[str, str], dict[str, str]]:
        headers: dict[str, str] = {}
        params = dict(hostile.params or {})
        if hostile.content_type and body is not None:
            headers["Content-Type"] = hostile.content_type
        if hostile.role in ("storefront", "warehouse", "operator"):
            headers.update(role_headers(self.settings, hostile.role, "fuzzer"))
        elif hostile.role and hostile.role.startswith("shippo"):
            params["token"] = self.settings.shippo_webhook_token.get_secret_value()
            secret = self.settings.shippo_webhook_hmac_secret.get_secret_value()
            from devstack.demo import shippo_signature

            if hostile.role == "shippo":
                headers["Shippo-Auth-Signature"] = shippo_signature(body or b"", secret)
            elif hostile.role == "shippo-stale":
                headers["Shippo-Auth-Signature"] = shippo_signature(body or b"", secret, timestamp=1)
        elif hostile.role == "stripe":
            import stripe

            secret = self.settings.stripe_webhook_secret.get_secret_value()
            headers["Stripe-Signature"] = stripe.WebhookSignature.generate_signature_header(
                (body or b"").decode(errors="replace"), secret
            )
        headers.update(hostile.headers or {})
        return headers, params

    def send_hostile(self, http: httpx.Client, hostile: Hostile) -> None:
        headers, params = self.headers_for(hostile, hostile.body)
        content: bytes | Iterator[bytes] | None = hostile.body
        if hostile.chunked and hostile.body is not None:
            content = iter([hostile.body[i : i + 65_536] for i in range(0, len(hostile.body), 65_536)])
        try:
            response = http.request(hostile.method, hostile.path, content=content, headers=headers, params=params)
        except httpx.TransportError as error:  # the server dropped the request: as bad as a 5xx
            self.verdicts.record("hand-written", hostile.name, 599, f"no answer: {error!r}", hostile.name)
            return
        status = response.status_code
        self.verdicts.record("hand-written", hostile.name, status, imprecision(status, response.text), hostile.name)

    def send_generated(self, operation: Any, count: int, auth: AuthStorage) -> None:
        """`count` negative cases for one operation, each sent and judged (no shrinking: every case counts)."""
        verdicts = self.verdicts
        base_url = self.stack.api_url

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, auth_storage=auth))
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def send(case: schemathesis.Case) -> None:
            request = f"{case.method} {case.formatted_path} {str(case.body)[:300]!r}"
            try:
                response = case.call(base_url=base_url, timeout=30)
            except requests.RequestException as error:  # the server dropped the request: as bad as a 5xx
                verdicts.record("schemathesis", operation.label, 599, f"no answer: {error!r}", request)
                return
            status = response.status_code
            if status < 400:
                try:  # schemathesis knows when its negation became valid once serialised
                    case.validate_response(response, checks=[negative_data_rejection])
                except Exception:
                    pass
                else:
                    with verdicts.lock:
                        verdicts.sent += 1
                        verdicts.became_valid += 1
                    return
            verdicts.record("schemathesis", operation.label, status, imprecision(status, response.text), request)

        send()


def role_keys(settings: Any) -> AuthStorage:
    """Each generated case carries a key of a role its operation admits (`x-roles`)."""
    storage: AuthStorage = AuthStorage()

    @storage.auth(refresh_interval=None)
    class RoleKey:
        def get(self, case: schemathesis.Case, context: AuthContext) -> str | None:
            roles = context.operation.definition.raw.get("x-roles")
            return role_headers(settings, roles[0], "fuzzer")["X-API-Key"] if roles else None

        def set(self, case: schemathesis.Case, key: str | None, context: AuthContext) -> None:
            if key is not None:
                case.headers = {**(case.headers or {}), "X-API-Key": key}

    return storage


async def run(requests: int, seed: int = 7) -> dict[str, Any]:
    began = time.monotonic()
    verdicts = Verdicts()
    out_dir = DEFAULT_OUTPUT.parent
    async with LocalStack(ports=Ports.free(), ui=False, log_dir=out_dir / "fuzz-logs") as stack:
        client = await stack.client()
        vendors = Vendors(stack.settings)
        # A return that exists, waiting for its parcel: the routes under /v1/returns/{id} meet a real one.
        request = await checkout(stack.settings, f"FUZZ-{seed}")
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
            started = await api.post(
                "/v1/returns",
                json=request.model_dump(mode="json"),
                headers=role_headers(stack.settings, "storefront", "fuzzer"),
            )
            started.raise_for_status()
        await wait_for_stage(client, request.return_id, Stage.label_issued)
        history_before = await _quiet_history_length(client, request.return_id)
        workflows_before = (await client.temporal.count_workflows()).count
        fuzzer = Fuzzer(stack, verdicts)
        rng = random.Random(seed)
        valid_start = (await checkout(stack.settings, f"FUZZ-{seed}-B")).model_dump(mode="json")
        hostile = list(hostile_requests(valid_start, request.return_id, rng))
        hand_written_target = max(len(hostile), int(requests * SHARE_HAND_WRITTEN))
        await asyncio.to_thread(_send_hostile, fuzzer, hostile, hand_written_target, stack.api_url)
        operations = [
            result.ok()
            for result in schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text())).get_all_operations()
        ]
        operations = [op for op in operations if len(op.body) or len(op.query) or len(op.path_parameters)]
        await asyncio.to_thread(_send_generated, fuzzer, operations, requests, stack.settings)
        history_after = await _history_length(client, request.return_id)
        workflows_after = (await client.temporal.count_workflows()).count
        await vendors.aclose()
        await client.aclose()
    return {
        "requests": verdicts.invalid,
        "sent": verdicts.sent,
        "became_valid_on_the_wire": verdicts.became_valid,
        "refused_precisely": verdicts.refused_precisely,
        "answered_5xx": sum(n for route in verdicts.by_route.values() for s, n in route.items() if s.startswith("5")),
        "answered_2xx": sum(n for route in verdicts.by_route.values() for s, n in route.items() if s.startswith("2")),
        "workflows_started": workflows_after - workflows_before,
        "existing_return_history_events_added": history_after - history_before,
        "by_source": dict(verdicts.by_source),
        "by_route": {route: dict(sorted(c.items())) for route, c in sorted(verdicts.by_route.items())},
        "failures": verdicts.failures,
        "wall_s": round(time.monotonic() - began, 1),
    }


def _send_hostile(fuzzer: Fuzzer, hostile: list[Hostile], target: int, base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as http:
        sent = 0
        while sent < target:
            for case in hostile:
                fuzzer.send_hostile(http, case)
                sent += 1
                if sent >= target:
                    return


def _send_generated(fuzzer: Fuzzer, operations: list[Any], target: int, settings: Any) -> None:
    """Round after round over the operations until `target` invalid requests in all have been judged."""
    auth = role_keys(settings)
    while fuzzer.verdicts.invalid < target:
        before = fuzzer.verdicts.invalid
        share = max(10, (target - before) // len(operations) + 1)
        for operation in operations:
            fuzzer.send_generated(operation, share, auth)
            if fuzzer.verdicts.invalid >= target:
                return
        if fuzzer.verdicts.invalid == before:
            return  # nothing left to generate


async def _quiet_history_length(client: Any, return_id: str) -> int:
    """Its history's length once nothing has happened for a few seconds (the label notice goes out last)."""
    length = await _history_length(client, return_id)
    while True:
        await asyncio.sleep(3)
        now = await _history_length(client, return_id)
        if now == length:
            return length
        length = now


async def _history_length(client: Any, return_id: str) -> int:
    handle = client.temporal.get_workflow_handle(workflow_id_for(return_id))
    return len((await handle.fetch_history()).events)


def passed(results: dict[str, Any]) -> bool:
    return (
        results["refused_precisely"] == results["requests"]
        and results["answered_5xx"] == 0
        and results["workflows_started"] == 0
        and results["existing_return_history_events_added"] == 0
    )


def render(results: dict[str, Any]) -> str:
    rows = [
        [route, sum(statuses.values()), " ".join(f"{s}:{n}" for s, n in statuses.items())]
        for route, statuses in results["by_route"].items()
    ]
    lines = [
        f"Bad input: {results['requests']} invalid requests in {results['wall_s']:.0f} s ({results['by_source']});"
        f" {results['became_valid_on_the_wire']} generated cases turned valid on the wire and are not counted",
        f"refused precisely (4xx ApiError): {results['refused_precisely']}, answered 5xx: {results['answered_5xx']},"
        f" answered 2xx: {results['answered_2xx']}, workflows started: {results['workflows_started']},"
        f" events added to the existing return: {results['existing_return_history_events_added']}",
        "",
        table(["route or case", "requests", "statuses"], rows[:80] if len(rows) > 80 else rows),
    ]
    for failure in results["failures"][:30]:
        lines.append(
            f"NOT PRECISE: {failure['route']} -> {failure['status']}: {failure['problem']} ({failure['request'][:160]})"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    requests = args.requests or (600 if args.quick else 10_000)
    output: Path = args.output or DEFAULT_OUTPUT
    results = asyncio.run(run(requests))
    write_json(results, output)
    print(f"{render(results)}\n\nresults: {output}")
    return 0 if passed(results) else 1
