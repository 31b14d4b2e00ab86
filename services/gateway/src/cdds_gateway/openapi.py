"""The OpenAPI document as the contract: errors in the shape they are sent, named operations.

FastAPI documents a 422 in its own ``HTTPValidationError`` shape, but the gateway answers every
error as ``{error, detail, …}`` (``errors.py``); :func:`install` rewrites the generated document
once, so that every 4xx and 5xx of every operation is the one ``Error`` schema, and adds what
the edge answers for any request body (400 not JSON text, 413 too large). ``operationId``s are
the route functions' names in camelCase (``list_runs`` → ``listRuns``). docs/api.md lists them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from cdds_gateway.errors import Error, error_response

__all__ = ["install", "operation_id"]

ERROR_REF = "#/components/schemas/Error"
FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError")
BODY_STATUSES = (400, 413, 422)
"""What the edge may answer to any request with a body, before the route runs."""


def operation_id(route: APIRoute) -> str:
    """``list_runs`` → ``listRuns`` (the app's ``generate_unique_id_function``)."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` answer the rewritten document (built once, then cached)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            errors_as_sent(build())  # ``build`` caches the document; it is amended in place
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def errors_as_sent(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in FASTAPI_SCHEMAS:
        schemas.pop(name, None)
    schemas.setdefault("Error", Error.model_json_schema())
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses: dict[str, dict[str, Any]] = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for status in BODY_STATUSES:
                    responses.setdefault(str(status), _error(status))
            for code, response in responses.items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {"application/json": {"schema": {"$ref": ERROR_REF}}}
                    if code == "422":
                        response["description"] = _error(422)["description"]


def _error(status: int) -> dict[str, Any]:
    return {"description": error_response(status)["description"]}
