"""The production topology, up for real: Temporal on PostgreSQL with 4 history shards, the namespace with
its retention and the return's search attributes, the Web UI, and the app from its wheel (two workers,
two API processes behind one port) carrying a return from request to refund."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetClusterInfoRequest
from temporalio.common import SearchAttributeKey

from deploy import Topology
from deploy.config import ROOT
from deploy.temporal import register_search_attributes
from devstack.checkout import SHOPPER_EMAIL, checkout
from devstack.demo import run_demo
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from workflows.vocabulary import Stage

pytestmark = pytest.mark.production


async def test_cluster_serves_four_history_shards_on_postgresql(topology: Topology) -> None:
    client = await topology.temporal_client()
    assert await client.service_client.check_health()
    info = await client.workflow_service.get_cluster_info(GetClusterInfoRequest())
    assert info.history_shard_count == 4
    assert (info.persistence_store, info.visibility_store) == ("postgres12", "postgres12")
    assert info.server_version == "1.29.1"


async def test_namespace_keeps_closed_returns_thirty_days(topology: Topology) -> None:
    client = await topology.temporal_client()
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=30)


async def test_return_search_attributes_are_registered_with_their_types(topology: Topology) -> None:
    client = await topology.temporal_client()
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    for key in SEARCH_ATTRIBUTES:
        kind = listed.custom_attributes[key.name]
        assert kind == int(key.indexed_value_type), (key.name, IndexedValueType.Name(kind))


async def test_a_datetime_attribute_registers_the_same_way(topology: Topology) -> None:
    """The next attribute the issue asks for ("stage since") is a Datetime; SQL visibility offers a few."""
    client = await topology.temporal_client()
    stage_since = SearchAttributeKey.for_datetime("ProdTierStageSince")
    await register_search_attributes(client, "default", [stage_since])
    await register_search_attributes(client, "default", [stage_since])  # present: nothing to do
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    assert listed.custom_attributes["ProdTierStageSince"] == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME


def test_app_runs_from_its_wheel_outside_the_repo_two_workers_two_api_processes(topology: Topology) -> None:
    status = topology.status()
    assert status.all_running, status
    app_processes = [name for name in status.processes if name.startswith(("worker-", "api-"))]
    assert sorted(app_processes) == ["api-0", "api-1", "worker-0", "worker-1"]
    for name in app_processes:
        pid = status.processes[name]
        program = Path((Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1]).decode())
        venv = program.parent.parent
        assert (venv / ".installed").read_text().startswith("returns_on_temporal-"), program
        assert not program.resolve().is_relative_to(ROOT)
        assert not Path(f"/proc/{pid}/cwd").resolve().is_relative_to(ROOT)
    # Installed, not linked back to the work tree (an editable install would leave a path file).
    site_packages = next((venv / "lib").glob("python3*/site-packages"))
    assert (site_packages / "workflows" / "return_workflow.py").exists()
    assert not [p for p in site_packages.glob("*.pth") if str(ROOT) in p.read_text()]


async def test_web_ui_shows_the_namespace(topology: Topology) -> None:
    async with httpx.AsyncClient(base_url=topology.ui_url, timeout=10) as ui:
        assert (await ui.get("/")).status_code == 200
        namespaces = (await ui.get("/api/v1/namespaces")).raise_for_status().json()["namespaces"]
    assert "default" in {namespace["namespaceInfo"]["name"] for namespace in namespaces}


async def test_a_return_goes_from_request_to_refund_through_the_api(topology: Topology) -> None:
    status = await run_demo(topology.settings, topology.api_url, return_id="PROD-DEMO-1")
    assert status.stage is Stage.completed
    assert status.refund is not None and status.refund.amount > 0
    # The return's search attributes, as operators query them (visibility on PostgreSQL lags a moment).
    client = await topology.temporal_client()
    query = "ReturnStage = 'completed' AND ReturnOrderId = 'ORD-PROD-DEMO-1'"
    for _ in range(50):
        if found := [workflow.id async for workflow in client.list_workflows(query)]:
            break
        await asyncio.sleep(0.2)
    assert len(found) == 1


async def test_a_shopper_s_portal_session_holds_across_both_api_processes(topology: Topology) -> None:
    """The balancer hands each new connection to the next API process: a session (and its CSRF token)
    started on one must be read by the other, so both sign with the topology's one portal secret."""
    request = await checkout(topology.settings, "PROD-PORTAL-1")
    one_connection_per_request = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=topology.api_url, timeout=10, limits=one_connection_per_request) as browser:
        form = (await browser.get("/portal")).raise_for_status().text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, form
        found = await browser.post(
            "/portal/lookup",
            data={"csrf_token": token.group(1), "order_number": request.order_id, "contact": SHOPPER_EMAIL},
        )
        assert found.status_code == 303, found.text
        for _ in range(4):  # both processes, twice each
            items = await browser.get("/portal/items")
            assert items.status_code == 200 and request.order_id in items.text, items.text


async def test_an_order_s_lookups_are_counted_once_for_both_api_processes(topology: Topology) -> None:
    """The lookup limit (10 per order in 10 minutes) holds behind the balancer: counted in the topology's
    Redis, not once in each API process (which would allow 20)."""
    one_connection_per_request = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=topology.api_url, timeout=10, limits=one_connection_per_request) as browser:
        form = (await browser.get("/portal")).raise_for_status().text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, form
        guess = {"csrf_token": token.group(1), "order_number": "PROD-GUESSED-1", "contact": "someone@example.com"}
        answers = [(await browser.post("/portal/lookup", data=guess)).status_code for _ in range(11)]
    assert answers == [404] * 10 + [429], answers


def _deploy_key(topology: Topology, *command: str) -> str:
    """`python -m deploy key ...` on the topology's state, as a person at its machine runs it; its output."""
    argv = [sys.executable, "-m", "deploy", "key", *command, "--state-dir", str(topology.config.state_dir)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


async def test_a_person_s_key_added_while_running_signs_in_to_the_console_and_its_revocation_ends_it(
    topology: Topology,
) -> None:
    """Per-person keys on the production topology: added with the deploy command, taken by both API
    processes without a restart; revoked, the session ends at its next request on either."""
    added = _deploy_key(topology, "add", "operator", "kim-prod")
    key = added.rsplit(": ", 1)[1].strip()
    assert key not in topology.people_keys.path.read_text() and "kim-prod" in _deploy_key(topology, "list")
    one_connection_per_request = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=topology.api_url, timeout=10, limits=one_connection_per_request) as browser:
        form = (await browser.get("/console/sign-in")).raise_for_status().text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None, form
        signed_in = await browser.post("/console/sign-in", data={"csrf_token": token.group(1), "api_key": key})
        assert signed_in.status_code == 303, signed_in.text
        for _ in range(4):  # both API processes, twice each
            queues = await browser.get("/console/queues")
            assert queues.status_code == 200 and "kim-prod" in queues.text, queues.text

        assert "revoked 1 key(s) of kim-prod" in _deploy_key(topology, "revoke", "kim-prod")
        for _ in range(2):
            ended = await browser.get("/console/queues")
            assert (ended.status_code, ended.headers["location"]) == (303, "/console/sign-in")
        refused = await browser.get("/v1/returns", headers={"X-API-Key": key})
        assert refused.status_code == 401


async def test_down_stops_everything_and_up_comes_back_with_the_same_data(topology: Topology) -> None:
    await run_demo(topology.settings, topology.api_url, return_id="PROD-DEMO-2")
    await topology.down()
    stopped = topology.status()
    assert not stopped.postgres and set(stopped.processes.values()) == {None}

    await topology.up()
    assert topology.status().all_running
    async with httpx.AsyncClient(base_url=topology.api_url, timeout=10) as api:
        key = topology.settings.api_key_storefront
        assert key is not None
        response = await api.get("/v1/returns/PROD-DEMO-2", headers={"X-API-Key": key.get_secret_value()})
    assert response.raise_for_status().json()["stage"] == "completed"
