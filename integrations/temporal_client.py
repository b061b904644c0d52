"""The one way every process connects to Temporal: same address, namespace, converter, security, telemetry.

The data converter is the one the workers and every door share: pydantic models as JSON, encrypted by
the payload codec when PAYLOAD_KEYS is set (failures' messages and stack traces too, since a vendor's
error can quote an address).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import structlog
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from integrations import telemetry
from integrations.payload_codec import EncryptionCodec, PayloadKeys
from integrations.settings import Settings
from workflows.search_attributes import ALL as RETURN_SEARCH_ATTRIBUTES

log = structlog.get_logger(__name__)


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


# One JSON converter per process. The SDK builds a payload converter per workflow instance, and the
# pydantic converter caches its TypeAdapters per converter: each cached return built its own adapters for
# the types it decodes (about 17 KiB of memory each, and the CPU to build them). The types are the same
# objects in every return (the sandbox passes our models through) and an adapter never changes once
# built, so every return shares one thread-safe LRU cache of them.
_PYDANTIC_JSON = PydanticJSONPlainPayloadConverter()


class ReturnsPayloadConverter(CompositePayloadConverter):
    """Temporal's default payload converters with JSON done by pydantic (our models, dates, enums)."""

    def __init__(self) -> None:
        super().__init__(
            *(
                _PYDANTIC_JSON if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


RETURNS_DATA_CONVERTER = DataConverter(payload_converter_class=ReturnsPayloadConverter)


def data_converter(settings: Settings) -> DataConverter:
    codec = payload_codec(settings)
    if codec is None:
        return RETURNS_DATA_CONVERTER
    return dataclasses.replace(
        RETURNS_DATA_CONVERTER,
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
