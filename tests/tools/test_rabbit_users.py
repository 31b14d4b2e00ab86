"""The local stack's RabbitMQ users: the migration logic against a fake management API
(a fresh node, an existing one with ``guest`` still in use, a second ``make up``), and the users
as the running RabbitMQ has them (never restarted here: it is shared)."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aio_pika
import aiormq
import httpx
import pytest

from cdds_tools.devstack.rabbit_users import (
    GUEST,
    OPS_USER,
    SERVICE_PERMISSIONS,
    SERVICE_USER,
    BrokerUsers,
    ensure_users,
)
from tests.infra import StackInfo
from tests.infra.isolation import rabbit_management, temporary_vhost


class FakeManagement:
    """Users, permissions on ``/`` and connections of a node, behind its management API."""

    def __init__(self, guest_connections: int = 0) -> None:
        self.users: dict[str, dict[str, str]] = {
            "guest": {"password": "guest", "tags": "administrator"}
        }
        self.permissions: dict[str, dict[str, str]] = {"guest": {}}
        self.connections = [{"user": "guest"}] * guest_connections
        self.writes = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"].split()[1]
        name, _, password = base64.b64decode(auth).decode().partition(":")
        known = self.users.get(name)
        if known is None or known["password"] != password or "administrator" not in known["tags"]:
            return httpx.Response(401)
        path = unquote(request.url.path)
        if path == "/api/whoami":
            return httpx.Response(200, json={"name": name})
        if path == "/api/connections":
            return httpx.Response(200, json=self.connections)
        if path.startswith("/api/users/"):
            target = path.removeprefix("/api/users/")
            if request.method == "PUT":
                self.writes += 1
                self.users[target] = json.loads(request.content)
                return httpx.Response(204)
            if target not in self.users:
                return httpx.Response(404)
            if request.method == "DELETE":
                del self.users[target]
                self.permissions.pop(target, None)
            return httpx.Response(204 if request.method == "DELETE" else 200, json={})
        if path.startswith("/api/permissions/"):  # /api/permissions/%2F/<user>
            self.permissions[path.rsplit("/", 1)[1]] = json.loads(request.content)
            return httpx.Response(204)
        return httpx.Response(404)


def migrate(node: FakeManagement, users: BrokerUsers) -> list[str]:
    said: list[str] = []
    ensure_users("http://rabbit", users, said.append, transport=httpx.MockTransport(node.handle))
    return said


USERS = BrokerUsers(ops_password="ops-pw", service_password="svc-pw")


def test_a_fresh_node_gets_both_users_and_loses_guest() -> None:
    node = FakeManagement()
    said = migrate(node, USERS)
    assert node.users == {
        OPS_USER: {"password": "ops-pw", "tags": "administrator"},
        SERVICE_USER: {"password": "svc-pw", "tags": "management"},
    }
    assert node.permissions[SERVICE_USER] == SERVICE_PERMISSIONS
    assert node.permissions[OPS_USER] == {"configure": ".*", "write": ".*", "read": ".*"}
    assert said == [f"rabbitmq   users {OPS_USER}, {SERVICE_USER} ready; guest deleted"]


def test_guest_in_use_is_kept_until_its_connections_are_gone() -> None:
    # Given an existing node whose running services still connect as guest
    node = FakeManagement(guest_connections=3)
    # When make up migrates it: the users are made, guest stays
    assert migrate(node, USERS) == [
        "rabbitmq   guest kept: 3 connections still use it (restart them)"
    ]
    assert set(node.users) == {"guest", OPS_USER, SERVICE_USER}
    # And once they are gone, the next make up (now signing in as the operator) deletes it
    node.connections = []
    migrate(node, USERS)
    assert set(node.users) == {OPS_USER, SERVICE_USER}


def test_a_second_make_up_changes_nothing() -> None:
    node = FakeManagement()
    migrate(node, USERS)
    before = (json.dumps(node.users, sort_keys=True), json.dumps(node.permissions, sort_keys=True))
    assert migrate(node, USERS) == []
    assert (
        json.dumps(node.users, sort_keys=True),
        json.dumps(node.permissions, sort_keys=True),
    ) == before


def test_a_node_nobody_can_administer_is_named() -> None:
    node = FakeManagement()
    node.users = {OPS_USER: {"password": "another", "tags": "administrator"}}
    with pytest.raises(RuntimeError, match="none of cdds-ops, guest can sign in"):
        migrate(node, USERS)


def test_passwords_are_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "rabbitmq-users.json"
    made = BrokerUsers.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert BrokerUsers.load(path) == made
    assert made.ops_password != made.service_password and len(made.service_password) >= 24


# -- the running broker -------------------------------------------------------------------------


@pytest.mark.integration
def test_the_services_user_on_the_running_broker(stack: StackInfo) -> None:
    service = unquote(urlsplit(stack.rabbit_url).username or "")
    if stack.rabbit_operator is None:
        pytest.fail("this provider has no operator: the local stack has cdds-ops", pytrace=False)
    assert service == SERVICE_USER
    with rabbit_management(stack) as api:
        user = api.get(f"/api/users/{SERVICE_USER}").json()
        assert user["tags"] in (["management"], "management")
        assert api.get(f"/api/users/{OPS_USER}").json()["tags"] in (
            ["administrator"],
            "administrator",
        )
        permissions = api.get(f"/api/permissions/%2F/{SERVICE_USER}").json()
        assert {k: permissions[k] for k in SERVICE_PERMISSIONS} == SERVICE_PERMISSIONS
        guest = api.get(f"/api/users/{GUEST[0]}")
        if guest.status_code != 404:  # kept only while processes still use it
            connections = api.get("/api/connections", params={"columns": "user"}).json()
            assert any(c.get("user") == GUEST[0] for c in connections)
    # The services' user reads its virtual hosts' queues (the janitor's queue metrics) and
    # administers nothing
    password = unquote(urlsplit(stack.rabbit_url).password or "")
    api_url, auth = stack.rabbit_management_url, (service, password)
    assert httpx.get(f"{api_url}/api/queues/%2F", auth=auth).status_code == 200
    assert httpx.get(f"{api_url}/api/users", auth=auth).status_code in (401, 403)
    assert httpx.put(f"{api_url}/api/vhosts/cdds-not-allowed", auth=auth).status_code in (401, 403)


@pytest.mark.integration
async def test_the_services_user_may_touch_only_cdds_resources(stack: StackInfo) -> None:
    with temporary_vhost(stack, production=True) as url:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(f"cdds.test.{uuid.uuid4().hex[:6]}", auto_delete=True)
            other = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await other.declare_queue(f"other.{uuid.uuid4().hex[:6]}", auto_delete=True)
            # the default exchange (retention timers are parked by queue name)
            confirmed = await connection.channel(publisher_confirms=True)
            queue = await confirmed.declare_queue(
                f"cdds.test.{uuid.uuid4().hex[:6]}", auto_delete=True
            )
            await confirmed.default_exchange.publish(aio_pika.Message(b"x"), routing_key=queue.name)
            message = await queue.get(timeout=10, fail=False)
            assert message is not None and message.body == b"x"
            await message.ack()
