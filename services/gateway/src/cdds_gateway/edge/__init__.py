"""The guarded HTTP edge: body limits and deadlines, security headers, the request id and the
access log (middleware installed by :func:`install`), and header limits and timeouts
(:mod:`.protocol`, given to uvicorn by :mod:`cdds_gateway.serve`). docs/operations.md, "The
HTTP edge" and "Logs", lists them."""

from __future__ import annotations

from fastapi import FastAPI

from cdds_gateway.edge.bodies import BodyLimits, BodyRule
from cdds_gateway.edge.headers import SecurityHeaders
from cdds_gateway.edge.request_id import RequestContext
from cdds_gateway.uploads import MULTIPART_OVERHEAD
from cdds_gateway.usecases.artifacts import MAX_ZIP_FILES
from cdds_shared.settings import Settings

__all__ = ["BULK_ID_BYTES", "body_rules", "install"]

BULK_ID_BYTES = 256
"""Room per id in a bulk action's body (ids are far shorter; JSON quoting and form encoding)."""


def body_rules(settings: Settings) -> list[BodyRule]:
    """The routes whose bodies differ from ``CDDS_GATEWAY__MAX_BODY_BYTES``."""
    # The certificate routes count their own bytes as they stream (413 ``too_large`` naming
    # the setting); this is only the backstop, one read (up to a few hundred KiB) beyond theirs.
    certificate = settings.gateway.certificate_max_bytes + MULTIPART_OVERHEAD + (1 << 20)
    bulk = MAX_ZIP_FILES * BULK_ID_BYTES + 4096  # a list of 100 ids, a CSRF token, an action
    return [
        BodyRule("PUT", r"/api/v1/me/certificate", certificate),
        BodyRule("POST", r"/preferences/certificate", certificate),
        BodyRule("POST", r"/api/v1/artifacts/(download|delete)", bulk),
        BodyRule("POST", r"/artifacts/bulk", bulk),
    ]


def install(app: FastAPI, settings: Settings, *, access_log: bool = True) -> None:
    """Add the edge's middleware; the security headers wrap the body limits, so even a 413
    carries them, and the request id wraps both: a 413's access line has it too."""
    app.add_middleware(
        BodyLimits,
        default=settings.gateway.max_body_bytes,
        rules=body_rules(settings),
        timeout=settings.gateway.body_timeout_seconds,
    )
    app.add_middleware(
        SecurityHeaders, https_everywhere=settings.gateway.url.lower().startswith("https:")
    )
    app.add_middleware(RequestContext, access_log=access_log)
