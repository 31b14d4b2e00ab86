"""`/api/v1` — artifacts (issue #4)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["artifacts"])
