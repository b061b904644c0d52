"""The one way every process connects to Temporal: same address, namespace, converter, security, telemetry.

The data converter is the one the workers and every door share: pydantic models as JSON, encrypted by
the payload codec when PAYLOAD_KEYS is set (failures' messages and stack traces too, since a vendor's
error can quote an address).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig

from integrations import telemetry
from integrations.payload_codec import EncryptionCodec, PayloadKeys
from integrations.settings import Settings


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """`lazy`: connect at the first call, so a process can start (and say it is not ready) while Temporal
    is down; workers need a connected client."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        runtime=telemetry.sdk_runtime(settings),
        interceptors=telemetry.client_interceptors(settings),
        lazy=lazy,
    )


def data_converter(settings: Settings) -> DataConverter:
    codec = payload_codec(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def payload_codec(settings: Settings) -> EncryptionCodec | None:
    if settings.payload_keys is None or not settings.payload_keys.get_secret_value():
        return None
    return EncryptionCodec(PayloadKeys.parse(settings.payload_keys.get_secret_value()))


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
