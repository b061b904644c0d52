"""The codec endpoint on the API: the stock `temporal` CLI, given `--codec-endpoint` and the codec token,
shows a return's history decrypted; without the token it is refused; the history the server keeps holds
the encrypted form only. A browser (the Web UI) is answered only from the configured origin."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import httpx
import pytest
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

from devstack.checkout import SHOPPER
from integrations.payload_codec import ENCODING
from tests.system.ops.conftest import CODEC_TOKEN, UI_ORIGIN, OpsStack
from workflows.contract import workflow_id_for

pytestmark = pytest.mark.devserver


async def _temporal_show(ops: OpsStack, return_id: str, *codec_flags: str) -> tuple[int, str]:
    cli = os.environ.get("TEMPORAL_CLI_PATH")
    if not cli:
        pytest.skip("the temporal CLI is not installed (scripts/setup.sh)")
    process = await asyncio.create_subprocess_exec(
        cli,
        "workflow",
        "show",
        "--address",
        f"127.0.0.1:{ops.stack.ports.temporal}",
        "--workflow-id",
        workflow_id_for(return_id),
        "--output",
        "json",
        *codec_flags,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def test_the_server_keeps_the_history_encrypted(ops: OpsStack, completed_return: str) -> None:
    client = await ops.stack.client()
    raw = await client.temporal.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.temporal.namespace, execution={"workflow_id": workflow_id_for(completed_return)}
        )
    )
    stored = raw.history.SerializeToString()
    assert ENCODING in stored
    assert SHOPPER.street1.encode() not in stored and SHOPPER.name.encode() not in stored


async def test_the_temporal_cli_reads_the_history_through_the_codec_endpoint(
    ops: OpsStack, completed_return: str
) -> None:
    endpoint = f"{ops.stack.api_url}/codec"
    token = f"Bearer {CODEC_TOKEN}"
    code, shown = await _temporal_show(ops, completed_return, "--codec-endpoint", endpoint, "--codec-auth", token)
    assert code == 0, shown
    (start,) = _started_input(shown)
    assert base64.b64decode(start["metadata"]["encoding"]) == b"json/plain"
    assert SHOPPER.street1 in base64.b64decode(start["data"]).decode()  # the address, decrypted for the operator

    code, refused = await _temporal_show(ops, completed_return, "--codec-endpoint", endpoint)  # no token
    assert code != 0 or base64.b64decode(_started_input(refused)[0]["metadata"]["encoding"]) == ENCODING


def _started_input(shown: str) -> list[dict]:
    history = json.loads(shown[shown.index("{") :])
    return history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"]


async def test_the_endpoint_refuses_callers_without_the_token(ops: OpsStack) -> None:
    body = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IngiCg=="}]}
    async with httpx.AsyncClient(base_url=ops.stack.api_url, timeout=10) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "local-operator-key"}):
            answer = await http.post("/codec/decode", json=body, headers=headers)
            assert answer.status_code == 401, headers
        encoded = await http.post("/codec/encode", json=body, headers={"Authorization": f"Bearer {CODEC_TOKEN}"})
        (sealed,) = encoded.raise_for_status().json()["payloads"]
        assert sealed["metadata"]["encoding"] != body["payloads"][0]["metadata"]["encoding"]
        decoded = await http.post(
            "/codec/decode", json=encoded.json(), headers={"Authorization": f"Bearer {CODEC_TOKEN}"}
        )
        assert decoded.raise_for_status().json() == body


async def test_a_browser_on_the_web_ui_s_origin_may_call_it_with_its_session_cookie(ops: OpsStack) -> None:
    async with httpx.AsyncClient(base_url=ops.stack.api_url, timeout=10) as http:
        preflight = {"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST"}
        allowed = await http.options("/codec/decode", headers=preflight)
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "X-Namespace" in allowed.headers["access-control-allow-headers"]
        other = await http.options("/codec/decode", headers={**preflight, "Origin": "http://evil.example"})
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers

        assert (await http.post("/codec/session", data={"token": "wrong"})).status_code == 401
        opened = await http.post("/codec/session", data={"token": CODEC_TOKEN})
        assert opened.status_code == 200 and "httponly" in opened.headers["set-cookie"].lower()
        body = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "InkiCg=="}]}
        sealed = await http.post("/codec/encode", json=body, headers={"Origin": UI_ORIGIN})  # the cookie alone
        assert sealed.status_code == 200 and sealed.headers["access-control-allow-origin"] == UI_ORIGIN
        assert json.loads(sealed.text)["payloads"][0]["metadata"]["encoding"] != "anNvbi9wbGFpbg=="
