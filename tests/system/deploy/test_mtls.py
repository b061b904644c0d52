"""The topology with the Temporal frontend on mTLS: certificates from the launcher's own CA, the app's
processes, Temporal's system worker and the Web UI connecting with theirs, everyone else refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import TLSConfig

from deploy import Topology
from deploy.tls import ensure_certificates
from devstack.demo import run_demo
from integrations.temporal_client import connect
from workflows.vocabulary import Stage

pytestmark = pytest.mark.production


async def test_a_client_without_a_certificate_is_refused(secured: Topology) -> None:
    tls = secured.tls
    assert tls is not None
    server_trusted_only = TLSConfig(server_root_ca_cert=tls.ca.read_bytes(), domain=tls.server_name)
    for attempt in (False, server_trusted_only):
        with pytest.raises(RuntimeError, match="connect"):
            await Client.connect(secured.temporal_address, tls=attempt)


async def test_a_certificate_from_another_ca_is_refused(secured: Topology, tmp_path: Path) -> None:
    stranger = ensure_certificates(tmp_path, secured.config.tls_server_name)
    tls = secured.tls
    assert tls is not None
    pair = stranger.client("returns-app")
    forged = TLSConfig(
        server_root_ca_cert=tls.ca.read_bytes(),
        domain=tls.server_name,
        client_cert=pair.cert.read_bytes(),
        client_private_key=pair.key.read_bytes(),
    )
    with pytest.raises(RuntimeError, match="connect"):
        await Client.connect(secured.temporal_address, tls=forged)


async def test_the_app_connects_with_its_certificate_and_carries_a_return(secured: Topology) -> None:
    client = await connect(secured.settings)  # the app's own way in: integrations/temporal_client.py
    assert await client.service_client.check_health()
    status = await run_demo(secured.settings, secured.api_url, return_id="PROD-MTLS-1")
    assert status.stage is Stage.completed


async def test_web_ui_reaches_the_frontend_with_its_certificate(secured: Topology) -> None:
    async with httpx.AsyncClient(base_url=secured.ui_url, timeout=10) as ui:
        namespaces = (await ui.get("/api/v1/namespaces")).raise_for_status().json()["namespaces"]
    assert "default" in {namespace["namespaceInfo"]["name"] for namespace in namespaces}
