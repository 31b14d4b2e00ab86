"""Who may see a page, and where a refused request goes: to sign-in, to Access Denied, or back to
its page with the reason."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from cdds_gateway.errors import public_detail
from cdds_gateway.principal import Principal
from cdds_gateway.security import principal_or_none
from cdds_gateway.web.render import redirect
from cdds_shared.errors import CddsError, NotFoundError

__all__ = ["Redirect", "back_with", "exporter"]


class Redirect(Exception):
    """Raised by a page's guard; ``pages.install`` answers it with ``response``."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def exporter(request: Request) -> Principal:
    """The signed-in exporter, or a redirect to sign-in / the Access Denied page."""
    principal = await principal_or_none(request)
    if principal is None:
        raise Redirect(redirect("/login"))
    if not principal.has("exporter"):
        raise Redirect(redirect("/access-denied"))
    return principal


def back_with(exc: CddsError, url: str) -> Response:
    """A refused action goes back to its page with the reason; an unknown id stays a 404."""
    if isinstance(exc, NotFoundError):
        raise exc
    return redirect(url, flash=("error", public_detail(exc)))
