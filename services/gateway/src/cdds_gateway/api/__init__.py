"""The REST API under ``/api/v1``: one router per resource."""

from fastapi import APIRouter

from cdds_gateway.api import artifacts, audit, jobs, me, runs, session, users

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    session.router,
    me.router,
    jobs.router,
    runs.router,
    artifacts.router,
    audit.router,
    users.router,
)
