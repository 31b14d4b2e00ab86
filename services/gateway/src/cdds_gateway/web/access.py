"""Who may see a page, and where a refused request goes: to sign-in, to Access Denied, to
*Choose a new password* (signed in with a one-time password: no other page until it is
changed), or back to its page with the reason."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from cdds_gateway.errors import public_detail
from cdds_gateway.principal import Principal
from cdds_gateway.security import principal_or_none
from cdds_gateway.web.render import redirect
from cdds_shared.errors import CddsError, NotFoundError

__all__ = ["CHOOSE_PAGE", "Redirect", "admin", "back_with", "exporter", "signed_in"]

CHOOSE_PAGE = "/password"
"""*Choose a new password*."""


class Redirect(Exception):
    """Raised by a page's guard; ``pages.install`` answers it with ``response``."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def signed_in(request: Request) -> Principal:
    """The signed-in user, even one who must change their password; else to sign-in."""
    principal = await principal_or_none(request)
    if principal is None:
        raise Redirect(redirect("/login"))
    return principal


async def _password_changed(request: Request) -> Principal:
    principal = await signed_in(request)
    if principal.must_change_password:
        raise Redirect(redirect(CHOOSE_PAGE))
    return principal


async def exporter(request: Request) -> Principal:
    """The signed-in exporter, or a redirect to sign-in / the Access Denied page."""
    principal = await _password_changed(request)
    if not principal.has("exporter"):
        raise Redirect(redirect("/access-denied"))
    return principal


async def admin(request: Request) -> Principal:
    """The signed-in tenant administrator, or a redirect to sign-in / the Access Denied page."""
    principal = await _password_changed(request)
    if not principal.has("admin"):
        raise Redirect(redirect("/access-denied"))
    return principal


def back_with(exc: CddsError, url: str) -> Response:
    """A refused action goes back to its page with the reason; an unknown id stays a 404."""
    if isinstance(exc, NotFoundError):
        raise exc
    return redirect(url, flash=("error", public_detail(exc)))
