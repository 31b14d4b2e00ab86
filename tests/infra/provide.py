"""Providers of the real stack for tests: local processes, already-running, or testcontainers."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest


@dataclass(frozen=True)
class StackInfo:
    """Connection settings of the real servers, under the names the services read."""

    rabbit_url: str
    rabbit_management_url: str
    mongo_url: str
    minio_endpoint: str
    minio_access_key: str
    minio_secret_key: str
    ucs_dsn: str
    rabbit_operator: tuple[str, str] | None = field(default=None, repr=False)
    """An administrator of RabbitMQ (management API, virtual hosts), where the services' user of
    ``rabbit_url`` is not one (the local stack's ``cdds-ops``); None: that user is one."""
    restart_server: Callable[[str], None] | None = field(default=None, compare=False)
    """Stop and start one server (``rabbitmq``, ``ferretdb``, ``minio``, ``postgres``) where the
    provider can (the local stack); fault tests fail loudly where it cannot."""
    stop_server: Callable[[str], None] | None = field(default=None, compare=False)
    """Stop one server and leave it down (same names, same providers as ``restart_server``)."""
    start_server: Callable[[str], None] | None = field(default=None, compare=False)
    """Start a server stopped by ``stop_server`` and wait until it is healthy."""

    def env(self) -> dict[str, str]:
        """The ``CDDS_*`` variables a service process needs to reach this stack."""
        return {
            "CDDS_RABBIT__URL": self.rabbit_url,
            "CDDS_RABBIT__MANAGEMENT_URL": self.rabbit_management_url,
            "CDDS_MONGO__URL": self.mongo_url,
            "CDDS_MINIO__ENDPOINT": self.minio_endpoint,
            "CDDS_MINIO__ACCESS_KEY": self.minio_access_key,
            "CDDS_MINIO__SECRET_KEY": self.minio_secret_key,
            "CDDS_UCS__DSN": self.ucs_dsn,
        }


def _from_env() -> StackInfo:
    from cdds_shared.settings import load_settings

    s = load_settings()
    return StackInfo(
        rabbit_url=s.rabbit.url.get_secret_value(),
        rabbit_management_url=s.rabbit.management_url,
        mongo_url=s.mongo.url.get_secret_value(),
        minio_endpoint=s.minio.endpoint,
        minio_access_key=s.minio.access_key,
        minio_secret_key=s.minio.secret_key.get_secret_value(),
        ucs_dsn=s.ucs.dsn.get_secret_value(),
        rabbit_operator=_operator_from_env(),
    )


def _operator_from_env() -> tuple[str, str] | None:
    """``CDDS_TEST_RABBIT_OPERATOR=user:password`` names an administrator of an external broker."""
    value = os.environ.get("CDDS_TEST_RABBIT_OPERATOR")
    if not value:
        return None
    user, _, password = value.partition(":")
    return user, password


@contextlib.contextmanager
def provide_stack(mode: str) -> Iterator[StackInfo]:
    if mode == "external":
        yield _from_env()
    elif mode == "local":
        from tests.infra.local import local_stack

        with local_stack() as info:
            yield info
    elif mode == "testcontainers":
        from tests.infra.containers import container_stack

        with container_stack() as info:
            yield info
    else:
        pytest.fail(f"CDDS_TEST_INFRA={mode!r}: expected local, external or testcontainers")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
