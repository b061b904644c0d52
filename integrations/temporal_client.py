"""The one way every process connects to Temporal: same address, namespace, converter, security."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from integrations.settings import Settings
from workflows.search_attributes import ALL as RETURN_SEARCH_ATTRIBUTES

log = structlog.get_logger(__name__)


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS when any TLS setting or an API key is set (Temporal Cloud takes keys over TLS only); mTLS with a
    client certificate. Half a client identity is refused rather than silently connecting without it."""
    if bool(settings.temporal_tls_cert) != bool(settings.temporal_tls_key):
        raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither")
    files = (settings.temporal_tls_cert, settings.temporal_tls_key, settings.temporal_tls_ca)
    if not any(files) and not settings.temporal_tls_server_name and not settings.temporal_api_key:
        return False
    cert, key, ca = (Path(path).read_bytes() if path else None for path in files)
    return TLSConfig(
        server_root_ca_cert=ca, client_cert=cert, client_private_key=key, domain=settings.temporal_tls_server_name
    )


async def register_search_attributes(
    client: Client, namespace: str | None = None, keys: Iterable[SearchAttributeKey] = RETURN_SEARCH_ATTRIBUTES
) -> None:
    """Adds the return's search attributes a namespace lacks, each with its own type (a state file
    from an older version lacks those added since). One of another type is an error a person
    must resolve."""
    namespace = namespace or client.namespace
    wanted = {key.name: int(key.indexed_value_type) for key in keys}  # the SDK's enum mirrors the API's
    try:
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        known = dict(listed.custom_attributes)
    except RPCError as error:
        if error.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = {}  # the time-skipping test server lists none: add them all
    conflicting = {
        name: IndexedValueType.Name(known[name])
        for name, kind in wanted.items()
        if name in known and known[name] != kind
    }
    if conflicting:
        raise RuntimeError(f"search attributes registered with another type: {conflicting}")
    missing = {name: kind for name, kind in wanted.items() if name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("search attributes registered", namespace=namespace, names=sorted(missing))
