"""Rendering server-side pages: one Jinja environment, the signed-in principal and flash messages
in every template's context."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from cdds_gateway.principal import Principal

__all__ = ["STATIC", "TEMPLATES", "flash", "page", "redirect", "sentence"]

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
FLASH_COOKIE = "cdds_flash"


def sentence(message: str) -> str:
    """An error message as a page shows it: capitalised, with a full stop."""
    if not message:
        return message
    text = message[0].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def page(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    flashes = []
    raw = request.cookies.get(FLASH_COOKIE)
    if raw and ":" in unquote(raw):
        kind, _, text = unquote(raw).partition(":")
        flashes.append((kind, text))
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {"principal": principal, "flashes": flashes, **context},
        status_code=status_code,
    )
    if raw:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(url: str, *, flash: tuple[str, str] | None = None) -> RedirectResponse:
    """303 See Other (after a form post), optionally with a one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash is not None:
        # Cookie values are Latin-1 on the wire: percent-encode the message.
        value = quote(f"{flash[0]}:{flash[1]}"[:400], safe="")
        response.set_cookie(FLASH_COOKIE, value, path="/", httponly=True, samesite="lax")
    return response


def flash(kind: str, text: str) -> tuple[str, str]:
    return kind, text
