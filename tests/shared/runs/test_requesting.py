"""``request_run`` on the real document store: the run the gateway creates, its ``RunRequested``,
and the run removed again when RabbitMQ does not confirm."""

from __future__ import annotations

import pytest

from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.messaging.messages import Message, RunRequested
from cdds_shared.runs import RunStore, utcnow
from cdds_shared.runs.model import GATEWAY
from cdds_shared.runs.requesting import RequestNotConfirmed, request_run
from tests.shared.runs.conftest import run_of

pytestmark = pytest.mark.integration


async def test_the_run_is_stored_as_the_gateways_then_requested(runs: RunStore) -> None:
    sent: list[Message] = []

    async def publish(message: Message) -> None:
        assert (await runs.get(message.correlation_id)).status == "queued"  # the run came first
        sent.append(message)

    run = await request_run(runs, publish, run_of(created_by=None, media_types=["chat"]))

    stored = await runs.get(run.id)
    assert stored.created_by == GATEWAY and stored == run
    [request] = sent
    assert isinstance(request, RunRequested)
    ids = {"message_id"}  # each request gets its own
    assert request.model_dump(exclude=ids) == stored.request().model_dump(exclude=ids)
    assert (request.run_id, request.media_types) == (run.id, ["chat"])


async def test_an_unconfirmed_request_leaves_no_run(runs: RunStore) -> None:
    async def refused(message: Message) -> None:
        raise ConnectionError("broker gone")

    run = run_of()
    with pytest.raises(RequestNotConfirmed, match="ConnectionError: broker gone"):
        await request_run(runs, refused, run)
    with pytest.raises(NotFoundError):
        await runs.get(run.id)


async def test_a_confirm_lost_after_an_exporter_took_the_run_counts_as_started(
    runs: RunStore,
) -> None:
    async def taken_then_lost(message: Message) -> None:
        await runs.transition(message.correlation_id, ("queued",), "running", started_at=utcnow())
        raise ConnectionError("connection lost before the confirm")

    run = await request_run(runs, taken_then_lost, run_of())
    assert (await runs.get(run.id)).status == "running"


async def test_a_second_run_of_the_same_id_is_refused_before_any_request(runs: RunStore) -> None:
    sent: list[Message] = []

    async def publish(message: Message) -> None:
        sent.append(message)

    run = await request_run(runs, publish, run_of())
    with pytest.raises(ConflictError):
        await request_run(runs, publish, run_of(run.id))
    assert len(sent) == 1
