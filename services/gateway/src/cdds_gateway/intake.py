"""The intake's subscriber: integrations' ``RequestRun`` from ``cdds.integration.requests``
(queue ``cdds.gateway.integration-requests``), handed to ``usecases/intake.py``; its answer
announced on ``cdds.integration.events``; a refused request dead-lettered with its reason.

Who sent a request is the AMQP ``user_id`` RabbitMQ vouched for — on its first delivery only.
A transient failure sends the message through the fate policy's delay queues, republished from
the gateway's own connection, which cannot carry an integration's ``user_id``: the identity then
travels in ``IDENTITY_HEADER``, which this module sets itself and trusts only on a message that
came back through the default exchange (a delay queue, or an operator's replay). Integrators may
not publish to the default exchange, and whatever they put in that header on their own publish is
overwritten.
"""

from __future__ import annotations

from typing import Any

from faststream.message import StreamMessage
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.usecases.intake import take_request
from cdds_shared.errors import RequestRejected
from cdds_shared.messaging import WORK_QUEUES
from cdds_shared.messaging.broker import publish_public
from cdds_shared.messaging.public import REQUESTS_EXCHANGE
from cdds_shared.messaging.topology import INTEGRATION_REQUESTS, Topology

__all__ = ["IDENTITY_HEADER", "install", "sender"]

IDENTITY_HEADER = "cdds-integration-user"


def sender(exchange: str | None, user_id: str | None, headers: dict[str, Any]) -> str | None:
    """The broker user a request is from, and ``headers`` made to carry it through retries."""
    if exchange == REQUESTS_EXCHANGE:  # first delivery: RabbitMQ checked user_id
        if user_id:
            headers[IDENTITY_HEADER] = user_id
        else:
            headers.pop(IDENTITY_HEADER, None)
        return user_id or None
    if exchange == "":  # back from a delay queue, or replayed by an operator
        kept = headers.get(IDENTITY_HEADER)
        return kept if isinstance(kept, str) and kept else None
    return None


async def _undecoded(message: StreamMessage[Any]) -> bytes:
    """The body as it came: reading it is the use case's (a malformed one is answered)."""
    return message.body


def install(broker: RabbitBroker, deps: GatewayDeps, topology: Topology) -> None:
    queue = topology.queue(WORK_QUEUES["gateway-intake"])

    @broker.subscriber(queue, INTEGRATION_REQUESTS, decoder=_undecoded)
    async def on_request_run(message: RabbitMessage) -> None:
        """Start the requested run or refuse it; answer either way."""
        raw = message.raw_message
        message.headers = dict(message.headers or {})
        who = sender(raw.exchange, raw.user_id, message.headers)
        taken = await take_request(deps, message.body, who)
        if taken.answer is not None:
            await publish_public(broker, taken.answer)
        if taken.dead_letter is not None:
            raise RequestRejected(taken.dead_letter)
