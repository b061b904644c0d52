"""Schema-driven fuzzing (schemathesis) of the API from its own OpenAPI document.

Every operation gets generated requests, valid and invalid, authenticated with the key of
a role it admits, against the real dev server and worker. The server must never answer
5xx, every answer must match the document (status, content type, schema), invalid
requests must be refused with a 4xx, and no invalid request may start a workflow: each
one's return id is looked up right after (strongly consistent), and the workflows are
counted through visibility before and after each operation's run.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import AuthContext, GenerationMode
from schemathesis.auths import AuthStorage
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from devstack.demo import role_headers
from devstack.stack import LocalStack
from starter.client import ReturnsClient

pytestmark = pytest.mark.devserver

# The committed document, which test_openapi_document keeps equal to the one the app serves.
DOCUMENT = json.loads((Path(__file__).parents[3] / "docs" / "openapi.json").read_text())
EXAMPLES_PER_OPERATION = 25


def operations(*, with_input: bool = False) -> list[APIOperation]:
    found = [result.ok() for result in schemathesis.openapi.from_dict(DOCUMENT).get_all_operations()]
    if with_input:  # only these can be sent invalid input
        found = [op for op in found if len(op.body) or len(op.query) or len(op.path_parameters) or len(op.headers)]
    return found


def role_keys(stack: LocalStack) -> AuthStorage:
    """Authenticates each case with the key of the first role its operation admits (`x-roles`)."""
    storage: AuthStorage = AuthStorage()

    @storage.auth(refresh_interval=None)
    class RoleKey:
        def get(self, case: schemathesis.Case, context: AuthContext) -> str | None:
            roles = context.operation.definition.raw.get("x-roles")
            return role_headers(stack.settings, roles[0], "fuzzer")["X-API-Key"] if roles else None

        def set(self, case: schemathesis.Case, key: str | None, context: AuthContext) -> None:
            if key is not None:
                case.headers = {**(case.headers or {}), "X-API-Key": key}

    return storage


def fuzz(operation: APIOperation, mode: GenerationMode, stack: LocalStack) -> None:
    """Sends generated requests to one operation; hypothesis reports the smallest failing one."""
    operator = role_headers(stack.settings, "operator", "fuzzer")

    @given(case=operation.as_strategy(generation_mode=mode, auth_storage=role_keys(stack)))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        # Schema-valid is not enough to be accepted: an unknown order or return is a 422 or 404.
        # Invalid input must get a 4xx: schemathesis's own check judges that, because it knows
        # when a mutation became valid again on the wire (a number 0 sent as the text "0").
        case.call_and_validate(
            base_url=stack.api_url,
            additional_checks=[negative_data_rejection],
            excluded_checks=[positive_data_acceptance],
            timeout=30,
        )
        if mode is GenerationMode.POSITIVE:
            return
        return_id = case.body.get("return_id") if isinstance(case.body, dict) else None
        if isinstance(return_id, str) and return_id:  # an empty id can't name a return (nor a path)
            path = f"/v1/returns/{quote(return_id, safe='')}"
            lookup = httpx.get(f"{stack.api_url}{path}", headers=operator, timeout=30)
            assert lookup.status_code in (404, 422), f"invalid input started return {return_id!r}"

    check()


@pytest.mark.parametrize("operation", operations(with_input=True), ids=lambda operation: operation.label)
async def test_invalid_requests_are_refused_and_start_nothing(
    stack: LocalStack, returns: ReturnsClient, operation: APIOperation
) -> None:
    before = await returns.temporal.count_workflows()
    await asyncio.to_thread(fuzz, operation, GenerationMode.NEGATIVE, stack)
    assert (await returns.temporal.count_workflows()).count == before.count


@pytest.mark.parametrize("operation", operations(), ids=lambda operation: operation.label)
async def test_valid_requests_never_meet_a_server_error(stack: LocalStack, operation: APIOperation) -> None:
    await asyncio.to_thread(fuzz, operation, GenerationMode.POSITIVE, stack)
