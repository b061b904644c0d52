"""The one way every process connects to Temporal: same address, namespace, converter, security."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from integrations.settings import Settings


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
