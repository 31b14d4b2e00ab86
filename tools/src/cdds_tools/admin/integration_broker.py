"""An integration's RabbitMQ user, through the management API (docs/operations.md,
"Integrations").

What the broker checks (RabbitMQ's access control): a ``queue.declare`` needs *configure* on the
queue; a ``queue.bind`` *write* on the queue, *read* on the exchange and the topic permission
*read* on the binding key; ``basic.consume`` / ``basic.get`` *read* on the queue; a
``basic.publish`` *write* on the exchange, the topic permission *write* on the routing key, and a
``user_id`` property, when set, equal to the connection's user. So an integration user may:

- publish only to ``cdds.integration.requests``, with routing keys ``<tenant>.…``;
- bind only to ``cdds.integration.events``, with binding keys ``<tenant>.…``;
- declare, bind, consume and delete only its queues ``cdds.int.<tenant>.<name>.…``;

and nothing else: no internal exchange or queue, no exchange of its own, no management access.
Names cannot contain regular-expression characters (tenant and integration names are letters,
digits, ``_`` and ``-``), so they are written into the expressions as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from cdds_shared.errors import ConfigError, DependencyUnavailable
from cdds_shared.identity.integrations import queue_prefix, routing_prefix
from cdds_shared.messaging.topology import INTEGRATION_EVENTS, INTEGRATION_REQUESTS

__all__ = [
    "OPERATOR_VARIABLE",
    "BrokerGrant",
    "IntegrationBroker",
    "connection_url",
    "grant_of",
    "operator_from_env",
    "vhost_of",
]

OPERATOR_VARIABLE = "RABBITMQ_OPERATOR"
"""``user:password`` of a RabbitMQ administrator (the local stack's ``cdds-ops``): only
``cdds-admin integration`` reads it, no service."""

NOTHING = "^$"


@dataclass(frozen=True)
class BrokerGrant:
    """The permissions of one integration user on its virtual host."""

    configure: str
    write: str
    read: str
    topics: dict[str, dict[str, str]]
    """Per exchange: the topic permissions ``{"write": …, "read": …}``."""

    def permissions(self) -> dict[str, str]:
        return {"configure": self.configure, "write": self.write, "read": self.read}


def grant_of(tenant: str, name: str) -> BrokerGrant:
    own = queue_prefix(tenant, name).replace(".", r"\.") + ".+"
    keys = "^" + routing_prefix(tenant).replace(".", r"\.")
    requests, events = (
        x.name.replace(".", r"\.") for x in (INTEGRATION_REQUESTS, INTEGRATION_EVENTS)
    )
    return BrokerGrant(
        configure=f"^{own}$",
        write=f"^({requests}|{own})$",
        read=f"^({events}|{own})$",
        topics={
            INTEGRATION_REQUESTS.name: {"write": keys, "read": NOTHING},
            INTEGRATION_EVENTS.name: {"write": NOTHING, "read": keys},
        },
    )


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names (``/`` when it names none)."""
    return unquote(urlsplit(amqp_url).path.removeprefix("/")) or "/"


def connection_url(base: str, vhost: str, username: str, password: str) -> str:
    """``base``'s scheme, host and port with these credentials and virtual host."""
    parts = urlsplit(base)
    host = parts.hostname or "localhost"
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    path = "/" if vhost == "/" else "/" + quote(vhost, safe="")
    return urlunsplit((parts.scheme or "amqp", netloc, path, "", ""))


def operator_from_env() -> tuple[str, str]:
    value = os.environ.get(OPERATOR_VARIABLE, "")
    user, _, password = value.partition(":")
    if not user or not password:
        raise ConfigError(
            f"{OPERATOR_VARIABLE}: set it to user:password of a RabbitMQ administrator "
            "(the local stack's cdds-ops: docs/operations.md, Broker users)"
        )
    return user, password


class IntegrationBroker:
    """Integration users on one virtual host, made and deleted as an administrator."""

    def __init__(
        self,
        management_url: str,
        vhost: str,
        operator: tuple[str, str],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.vhost = vhost
        self._api = httpx.Client(
            base_url=management_url, auth=operator, timeout=10, transport=transport
        )

    def __enter__(self) -> IntegrationBroker:
        return self

    def __exit__(self, *_: object) -> None:
        self._api.close()

    def _call(
        self, method: str, path: str, json: object = None, *, allow: tuple[int, ...] = ()
    ) -> httpx.Response:
        try:
            response = self._api.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("CDDS_RABBIT__MANAGEMENT_URL", str(exc)) from exc
        if response.status_code in (401, 403):
            raise ConfigError(f"{OPERATOR_VARIABLE}: not an administrator of RabbitMQ")
        if response.status_code >= 400 and response.status_code not in allow:
            raise ConfigError(
                f"RabbitMQ refused {method} {path}: {response.status_code} {response.text[:200]}"
            )
        return response

    def create_user(self, username: str, password: str, grant: BrokerGrant) -> None:
        """The user (no tags: no management access) and its permissions on the vhost."""
        vhost, user = quote(self.vhost, safe=""), quote(username, safe="")
        self._call("PUT", f"/api/users/{user}", {"password": password, "tags": ""})
        self._call("PUT", f"/api/permissions/{vhost}/{user}", grant.permissions())
        for exchange, topic in grant.topics.items():
            body = {"exchange": exchange, **topic}
            self._call("PUT", f"/api/topic-permissions/{vhost}/{user}", body)

    def delete_user(self, username: str) -> bool:
        """Delete the user; RabbitMQ closes its connections. False when it did not exist."""
        response = self._call("DELETE", f"/api/users/{quote(username, safe='')}", allow=(404,))
        return response.status_code != 404
