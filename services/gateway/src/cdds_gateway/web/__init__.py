"""Server-rendered web pages (DESIGN §1)."""

from fastapi import APIRouter

from cdds_gateway.web import pages

__all__ = ["ROUTERS", "install"]

ROUTERS: tuple[APIRouter, ...] = (pages.router,)
install = pages.install
