"""Checks Shippo API traffic against Shippo's published OpenAPI description (API 2018-02-08).

Reusable wherever traffic can be observed: the sandbox's tests (does the stand-in answer
like Shippo?) and the project's tests (are the requests we send what Shippo documents?).

    contract = shippo_contract()
    contract.validate_request("POST", url, headers, body)
    contract.validate_response("POST", url, status, headers, body)

Traffic may be sent to any host (the sandbox, a recording, Shippo itself): only the path
and query are matched against the spec, whose one server is https://api.goshippo.com.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict

DEFAULT_SPEC_PATH = Path(__file__).resolve().parent / "specs" / "shippo-public-api.yaml"

Body = bytes | str | None


class ContractViolation(Exception):
    """Traffic that does not match the Shippo OpenAPI description."""


@dataclass
class _Request:
    """An HTTP request in the shape openapi-core reads (its `Request` protocol)."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters


@dataclass
class _Response:
    """An HTTP response in the shape openapi-core reads (its `Response` protocol)."""

    status_code: int
    headers: Headers
    data: bytes | None
    content_type: str


class ShippoContract:
    def __init__(self, spec_path: str | Path = DEFAULT_SPEC_PATH) -> None:
        self._openapi = OpenAPI.from_file_path(str(spec_path))
        self._server = (self._openapi.spec / "servers" / 0 / "url").read_str().rstrip("/")

    def validate_request(self, method: str, url: str, headers: Mapping[str, str], body: Body = None) -> None:
        """Raises ContractViolation unless the request is one the spec documents."""
        request = self._request(method, url, Headers(dict(headers)), body)
        try:
            self._openapi.validate_request(request)
        except OpenAPIError as exc:
            message = f"{method.upper()} {request.path}: request breaks the Shippo spec: {_explain(exc)}"
            raise ContractViolation(message) from exc

    def validate_response(self, method: str, url: str, status: int, headers: Mapping[str, str], body: Body) -> None:
        """Raises ContractViolation unless the spec documents this answer to `method url`."""
        # Only the method and URL of the request matter here: they pick the operation.
        request = self._request(method, url, Headers(), None)
        response_headers = Headers(dict(headers))
        response = _Response(status, response_headers, _bytes(body), response_headers.get("Content-Type", ""))
        try:
            self._openapi.validate_response(request, response)
        except OpenAPIError as exc:
            message = f"{method.upper()} {request.path} -> {status}: response breaks the Shippo spec: {_explain(exc)}"
            raise ContractViolation(message) from exc

    def _request(self, method: str, url: str, headers: Headers, body: Body) -> _Request:
        parts = urlsplit(url)
        parameters = RequestParameters(query=ImmutableMultiDict(parse_qs(parts.query)), header=headers)
        content_type = headers.get("Content-Type", "application/json" if body else "")
        return _Request(self._server, parts.path, method.lower(), _bytes(body), content_type, parameters)


@functools.cache
def shippo_contract(spec_path: str | Path = DEFAULT_SPEC_PATH) -> ShippoContract:
    """The contract for `spec_path`, loaded (and checked, which takes seconds) once per process."""
    return ShippoContract(spec_path)


def _bytes(body: Body) -> bytes | None:
    return body.encode() if isinstance(body, str) else body


def _explain(exc: OpenAPIError) -> str:
    """The gist of an openapi-core error: its innermost cause, or the schema errors it wraps."""
    chain = [exc, *_causes(exc)]
    schema_errors = [error for cause in chain for error in getattr(cause, "schema_errors", ())]
    if not schema_errors:
        return f"{type(chain[-1]).__name__}: {chain[-1]}"
    parameter = getattr(exc, "name", None)  # set when a path, query or header parameter is invalid
    lines = [f"{type(exc).__name__}" + (f" ({parameter})" if parameter else "") + ":"]
    for error in schema_errors:
        where = "/".join(str(part) for part in getattr(error, "absolute_path", ())) or "(top level)"
        lines.append(f"  at {where}: {getattr(error, 'message', error)}")
    return "\n".join(lines)


def _causes(exc: BaseException) -> list[BaseException]:
    causes = []
    while exc.__cause__ is not None:
        exc = exc.__cause__
        causes.append(exc)
    return causes
