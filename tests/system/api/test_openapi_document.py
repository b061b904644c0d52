"""The committed OpenAPI document (docs/openapi.json) is the one the app serves, so it never drifts."""

from __future__ import annotations

import json
from pathlib import Path

from api.app import openapi_document

COMMITTED = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_the_committed_document_is_the_generated_one() -> None:
    assert json.loads(COMMITTED.read_text()) == openapi_document(), (
        "docs/openapi.json is stale: regenerate it with `returns-api --print-openapi > docs/openapi.json`"
    )


def test_every_operation_documents_its_errors_as_api_errors() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ApiError"}, f"{method} {path} {status}"
