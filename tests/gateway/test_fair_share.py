"""Fair share at the gateway: a queued run shows its place in the tenant's queue, and
a start beyond the owner's backlog cap is refused with 429 and ``Retry-After`` — but never a
scheduled occurrence (docs/pipeline.md, "Fair share")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cdds_gateway.errors import ApiError
from cdds_gateway.usecases.audit import SCHEDULER
from cdds_gateway.usecases.backlog import check_backlog
from cdds_shared.runs import utcnow
from tests.gateway.jobs_fixtures import (
    World,
    jobs_gateway,
    jobs_vhost,
    make_run,
    take_requests,
    world,
)

pytestmark = pytest.mark.integration
__all__ = ["jobs_gateway", "jobs_vhost", "world"]


async def _run(world: World, run_id: str) -> dict[str, Any]:
    response = await world.api.get(f"/api/v1/runs/{run_id}", headers=world.alice.bearer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_queued_runs_show_their_place_and_a_full_backlog_is_refused(world: World) -> None:
    # Given: alice has one run going and the cap's worth (20) waiting behind it.
    cap = world.deps.settings.export.max_queued_runs_per_user
    base = utcnow() - timedelta(minutes=30)
    going = await make_run(world, world.alice, status="running", requested_at=base)
    waiting = [
        await make_run(
            world, world.alice, status="queued", requested_at=base + timedelta(seconds=i + 1)
        )
        for i in range(cap)
    ]

    # Then: each waiting run shows its place, in the run view and in History.
    assert (await _run(world, going.id))["queue_position"] is None
    assert (await _run(world, waiting[0].id))["queue_position"] == 1
    assert (await _run(world, waiting[-1].id))["queue_position"] == cap
    page = await world.api.get(
        "/api/v1/runs", params={"status": "queued", "limit": 5}, headers=world.alice.bearer
    )
    assert [r["queue_position"] for r in page.json()["items"]] == list(range(cap, cap - 5, -1))
    history = await world.api.get("/history?status=queued", headers=world.alice.cookie)
    assert history.status_code == 200
    assert f"· {cap} in queue" in history.text and "· 1 in queue" in history.text

    # When: alice starts one more.
    job = await world.api.post(
        "/api/v1/jobs", json={"title": "one more", "type": "contact"}, headers=world.alice.bearer
    )
    assert job.status_code == 201, job.text
    refused = await world.api.post(
        f"/api/v1/jobs/{job.json()['id']}/runs", headers=world.alice.bearer
    )

    # Then: refused with 429 and when to try again; nothing was started.
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"] == "too_many_runs"
    assert int(refused.headers["Retry-After"]) > 0
    assert await take_requests(world.vhost) == []

    # And: another user of the tenant still starts runs; they queue behind alice's.
    other = await world.api.post(
        "/api/v1/jobs",
        json={"title": "admin's", "type": "contact", "run_now": True},
        headers=world.admin.bearer,
    )
    assert other.status_code == 201, other.text
    run_id = other.json()["run_id"]
    assert [r.run_id for r in await take_requests(world.vhost)] == [run_id]
    view = await world.api.get(f"/api/v1/runs/{run_id}", headers=world.admin.bearer)
    assert view.json()["queue_position"] == cap + 1


async def test_the_scheduler_is_never_refused(world: World) -> None:
    # Given: carol (another tenant) with the cap's worth of queued runs.
    cap = world.deps.settings.export.max_queued_runs_per_user
    runs = [await make_run(world, world.carol, status="queued") for _ in range(cap)]
    one_more = runs[0].model_copy(update={"id": "x" * 24})

    # Then: a start by her is refused, a scheduled occurrence is not (it would be lost).
    with pytest.raises(ApiError) as refused:
        await check_backlog(world.deps, one_more, actor=None)
    assert refused.value.status == 429
    await check_backlog(world.deps, one_more, actor=SCHEDULER)
