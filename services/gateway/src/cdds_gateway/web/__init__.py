"""Server-rendered web pages (docs/web.md)."""

from fastapi import APIRouter

from cdds_gateway.web import pages

__all__ = ["ROUTERS", "install"]

ROUTERS: tuple[APIRouter, ...] = (pages.router,)
install = pages.install
