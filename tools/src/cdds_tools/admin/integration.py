"""``cdds-admin integration``: identities of other contact-centre systems (create, list, revoke).

``create`` prints one JSON object with the REST token and the broker credentials: they are shown
once (MongoDB keeps the token's SHA-256, RabbitMQ the password). The broker user is made through
the management API of ``CDDS_RABBIT__MANAGEMENT_URL`` as the administrator named by
``RABBITMQ_OPERATOR=user:password``, on the virtual host of ``CDDS_RABBIT__URL``. The permissions:
``integration_broker.py`` and docs/operations.md, "Integrations".
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditEvent, AuditLog
from cdds_shared.certificates import CertificateRecord, CertificateStore, validate_certificate
from cdds_shared.errors import ValidationFailed
from cdds_shared.identity import IdentityStore
from cdds_shared.identity.integrations import Integration, IntegrationStore, routing_prefix
from cdds_shared.messaging.topology import INTEGRATION_EVENTS, INTEGRATION_REQUESTS
from cdds_shared.settings import load_settings
from cdds_tools.admin.integration_broker import (
    IntegrationBroker,
    connection_url,
    grant_of,
    operator_from_env,
    vhost_of,
)
from cdds_tools.admin.tenant import ACTOR, emit

__all__ = ["integration_json", "register"]

T = TypeVar("T")


def integration_json(integration: Integration) -> dict[str, Any]:
    return {
        "id": integration.id,
        "name": integration.name,
        "tenant": integration.tenant,
        "user_id": integration.user_id,
        "broker_username": integration.broker_username,
        "created_at": integration.created_at.isoformat(),
        "revoked_at": integration.revoked_at.isoformat() if integration.revoked_at else None,
    }


def _broker() -> IntegrationBroker:
    settings = load_settings()
    vhost = vhost_of(settings.rabbit.url.get_secret_value())
    return IntegrationBroker(settings.rabbit.management_url, vhost, operator_from_env())


def _with_integrations(work: Callable[[IntegrationStore, MongoDocumentStore], Awaitable[T]]) -> T:
    async def main() -> T:
        async with MongoDocumentStore(load_settings().mongo) as documents:
            identity = IdentityStore(documents)
            await identity.ensure_indexes()
            integrations = IntegrationStore(documents, identity)
            await integrations.ensure_indexes()
            return await work(integrations, documents)

    return asyncio.run(main())


async def _audit(documents: MongoDocumentStore, integration: Integration, action: str) -> None:
    detail = {"name": integration.name, "broker_username": integration.broker_username}
    event = AuditEvent(
        tenant=integration.tenant,
        actor=ACTOR,
        action=action,
        target=integration.user_id,
        detail=detail,
    )
    await AuditLog(documents).record(event)


def _certificate(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"--certificate {path}: {exc.strerror}") from None
    validate_certificate(data)  # refused before anything is made
    return data


def _create(args: argparse.Namespace) -> int:
    certificate = _certificate(args.certificate)
    settings = load_settings()
    password = secrets.token_urlsafe(32)

    async def work(store: IntegrationStore, documents: MongoDocumentStore) -> dict[str, Any]:
        with _broker() as broker:  # its settings are checked before anything is made
            integration, token = await store.create(args.name, args.tenant)
            try:
                if certificate is not None:
                    record = CertificateRecord.of(
                        integration.user_id, validate_certificate(certificate)
                    )
                    await CertificateStore(documents).put(record)
                grant = grant_of(integration.tenant, integration.name)
                broker.create_user(integration.broker_username, password, grant)
            except BaseException:  # nothing has used it yet: leave no half-made integration
                broker.delete_user(integration.broker_username)
                await CertificateStore(documents).delete(integration.user_id)
                await store.discard(integration)
                raise
            vhost = broker.vhost
        await _audit(documents, integration, "integration.create")
        base = args.amqp_url or settings.rabbit.url.get_secret_value()
        return {
            "id": integration.id,
            "name": integration.name,
            "tenant": integration.tenant,
            "token": token,
            "amqp": {
                "url": connection_url(base, vhost, integration.broker_username, password),
                "username": integration.broker_username,
                "password": password,
                "vhost": vhost,
                "requests_exchange": INTEGRATION_REQUESTS.name,
                "events_exchange": INTEGRATION_EVENTS.name,
                "routing_prefix": routing_prefix(integration.tenant),
            },
        }

    return emit(_with_integrations(work))


def _list(args: argparse.Namespace) -> int:
    async def work(store: IntegrationStore, _: MongoDocumentStore) -> list[Integration]:
        return await store.of_tenant(args.tenant)

    return emit({"integrations": [integration_json(i) for i in _with_integrations(work)]})


def _revoke(args: argparse.Namespace) -> int:
    async def work(store: IntegrationStore, documents: MongoDocumentStore) -> Integration:
        integration = await store.revoke(args.name, args.tenant)  # the token stops here
        await _audit(documents, integration, "integration.revoke")
        with _broker() as broker:
            broker.delete_user(integration.broker_username)  # and its connections here
        return integration

    return emit(integration_json(_with_integrations(work)))


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``integration`` group (create, list, revoke) to ``cdds-admin``."""
    group = subparsers.add_parser(
        "integration", help="identities of other systems (REST token, broker user)"
    )
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    tenant = argparse.ArgumentParser(add_help=False)
    tenant.add_argument("--tenant", required=True, metavar="TENANT", help="its tenant")
    named = argparse.ArgumentParser(add_help=False, parents=[tenant])
    named.add_argument("name", metavar="NAME", help="letters, digits, '_', '-'")

    cmd = commands.add_parser(
        "create", parents=[named], help="create one; prints its secrets once, as JSON"
    )
    cmd.add_argument(
        "--certificate", type=Path, metavar="FILE", help="PEM or DER: its files are sealed to it"
    )
    cmd.add_argument(
        "--amqp-url",
        metavar="URL",
        help="scheme, host and port integrators connect to (default: those of CDDS_RABBIT__URL)",
    )
    cmd.set_defaults(handler=_create)

    cmd = commands.add_parser("list", parents=[tenant], help="a tenant's integrations, as JSON")
    cmd.set_defaults(handler=_list)

    cmd = commands.add_parser(
        "revoke",
        parents=[named],
        help="revoke one: its token stops, its broker user and connections are closed",
    )
    cmd.set_defaults(handler=_revoke)
