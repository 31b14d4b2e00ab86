"""*Choose a new password* (docs/web.md § Users): where a user signed in with a one-time
password lands, and stays until they chose one (every other page redirects here); any user may
come to change theirs. The rule and the check are the REST API's (``usecases/passwords.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cdds_gateway.deps import Deps
from cdds_gateway.security import client_address
from cdds_gateway.usecases.passwords import MIN_PASSWORD_LENGTH, change_password
from cdds_gateway.web.access import CHOOSE_PAGE, signed_in
from cdds_gateway.web.forms import Text, csrf
from cdds_gateway.web.render import page, redirect, sentence
from cdds_shared.errors import CddsError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
MISMATCH = "The two new passwords differ: type the same one twice."


@router.get(CHOOSE_PAGE)
async def password_page(request: Request) -> Response:
    principal = await signed_in(request)
    return page(request, "password.html", principal, min_length=MIN_PASSWORD_LENGTH)


@router.post(CHOOSE_PAGE)
async def choose_password(
    request: Request,
    deps: Deps,
    current_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
    csrf_token: Text = "",
) -> Response:
    principal = await signed_in(request)
    csrf(request, principal, csrf_token)
    try:
        if new_password != confirm_password:
            raise ValueError(MISMATCH)
        client = client_address(request)
        await change_password(deps, principal, current_password, new_password, client=client)
    except (CddsError, ValueError) as exc:
        return page(request, "password.html", principal, min_length=MIN_PASSWORD_LENGTH,
                    error=sentence(str(exc)), status_code=422)  # fmt: skip
    return redirect("/jobs", flash=("ok", "Password changed."))
