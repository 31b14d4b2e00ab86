"""The local-process provider: the project's own stack (``cdds-stack``), started if not running.

It is left running afterwards, so the next test session starts in a second; ``make down`` stops it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from cdds_tools.devstack import Stack, StackConfig, StackError
from cdds_tools.devstack.config import find_root
from cdds_tools.devstack.stack import INFRA
from tests.infra.provide import StackInfo


@contextlib.contextmanager
def local_stack() -> Iterator[StackInfo]:
    config = StackConfig(root=find_root())
    stack = Stack(config)

    def stop(name: str) -> None:
        stack.processes[name].stop()

    def start(name: str) -> None:
        stack.up((name,), log=lambda line: None)

    def restart(name: str) -> None:
        stop(name)
        start(name)

    try:
        stack.up(INFRA, log=lambda line: None)
    except StackError as exc:
        pytest.fail(f"real server unavailable: {exc}", pytrace=False)
    env = config.env()
    yield StackInfo(
        rabbit_url=env["CDDS_RABBIT__URL"],
        rabbit_management_url=env["CDDS_RABBIT__MANAGEMENT_URL"],
        mongo_url=env["CDDS_MONGO__URL"],
        minio_endpoint=env["CDDS_MINIO__ENDPOINT"],
        minio_access_key=env["CDDS_MINIO__ACCESS_KEY"],
        minio_secret_key=env["CDDS_MINIO__SECRET_KEY"],
        ucs_dsn=env["CDDS_UCS__DSN"],
        rabbit_operator=config.rabbit_users().ops,
        restart_server=restart,
        stop_server=stop,
        start_server=start,
    )
