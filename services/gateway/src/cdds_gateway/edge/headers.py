"""Security headers on every response (OWASP Secure Headers; docs/operations.md § The HTTP edge).

- ``Content-Security-Policy``: scripts, styles, images and form targets from the gateway itself
  only, no framing (the pages carry no inline script or style: ``web/static/cdds.js`` and
  ``cdds.css`` hold them). The development-only ``/docs`` and ``/redoc`` load their viewers
  from a CDN with inline boot scripts, so they get a policy that allows exactly that.
- ``X-Frame-Options: DENY`` (browsers without ``frame-ancestors``), ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: same-origin``.
- ``Strict-Transport-Security`` only when the request came over TLS, or the public URL is
  ``https`` (a TLS-terminating proxy in front): over plain HTTP it would be meaningless.
- ``Cache-Control: no-store`` unless the application chose its own (downloads revalidate
  with their ETag) and except ``/static``: pages and API answers carry user data.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "DOCS_CSP", "SecurityHeaders"]

CSP = (
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self' 'unsafe-inline' {_CDN}; "
    f"style-src 'self' 'unsafe-inline' {_CDN}; img-src 'self' data: https://fastapi.tiangolo.com; "
    "worker-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
HSTS = b"max-age=31536000"


class SecurityHeaders:
    """The ASGI middleware; ``https_everywhere``: the public URL is ``https``."""

    def __init__(self, app: ASGIApp, *, https_everywhere: bool) -> None:
        self.app, self.https_everywhere = app, https_everywhere

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        csp = DOCS_CSP if path in DOCS_PATHS else CSP
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        if self.https_everywhere or scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS))
        cacheable = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in extra if n not in present]
                if not cacheable and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
