"""Reading a ``RequestRun`` body: the request, or the rejection the integrator is answered with.

Pure: the intake calls :func:`read_request` on the raw body and, on :class:`RequestRefused`,
answers ``run.rejected`` with :meth:`RequestRefused.event` and dead-letters the message with the
same reason (docs/integration.md § Error reasons). Checks that need the identity (its tenant, its
certificate) are the intake's; this module only decides what the body alone can.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from cdds_shared.messaging.public import (
    REQUEST_ID,
    PublicRequestRun,
    PublicRunRejected,
    RejectionCode,
)

__all__ = ["RequestRefused", "read_request"]


class RequestRefused(Exception):
    """A request that never runs: a reason code, a detail for a person, and the request id when
    the body had a readable one."""

    def __init__(self, code: RejectionCode, detail: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: RejectionCode = code
        self.detail = detail
        self.request_id = request_id

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"

    def event(self, tenant: str) -> PublicRunRejected:
        """The ``run.rejected`` answer, on the identity's tenant (never the body's)."""
        return PublicRunRejected(
            tenant=tenant, request_id=self.request_id, code=self.code, reason=self.reason
        )


def _problem(error: Any) -> str:
    """``timeframe.end: must be after timeframe.start``: where, then what."""
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


def read_request(body: bytes | str) -> PublicRequestRun:
    """The validated request, or :class:`RequestRefused`: ``malformed`` (not a JSON object),
    ``unsupported_schema_version`` (anything but 1), ``invalid: <field>: <what>`` otherwise."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestRefused("malformed", f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise RequestRefused("malformed", "the body is not a JSON object")
    request_id = raw.get("request_id")
    readable = isinstance(request_id, str) and re.fullmatch(REQUEST_ID, request_id)
    readable_id = request_id if readable else None
    version = raw.get("schema_version")
    if version != PublicRequestRun.SCHEMA_VERSION or isinstance(version, bool):
        detail = f"schema_version {json.dumps(version)} (this broker speaks 1)"
        raise RequestRefused("unsupported_schema_version", detail, readable_id)
    try:
        return PublicRequestRun.model_validate_json(body)
    except ValidationError as error:
        detail = "; ".join(_problem(e) for e in error.errors(include_url=False))
        raise RequestRefused("invalid", detail, readable_id) from None
