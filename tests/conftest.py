"""Session fixtures: the real servers every integration test talks to.

``CDDS_TEST_INFRA`` chooses how they are provided:

- ``local`` (default): the project's local processes (``make up`` infrastructure), started if
  they are not running. See ``cdds_tools.devstack``.
- ``external``: servers already running, read from the ``CDDS_*`` environment (e.g. after
  ``source .local/stack.env``).
- ``testcontainers``: RabbitMQ, MongoDB 7, MinIO and PostgreSQL 15 containers (needs Docker).

A server that cannot be provided fails the session: tests never skip for a missing server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.settings import MongoSettings
from tests.infra import StackInfo, provide_stack


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``pytest -m unit`` (``make unit``) imports only the test modules that mark unit tests: the
    others import servers' clients, schemathesis, Selenium…, and collecting them took most of
    the time of a unit run."""
    if config.getoption("markexpr") != "unit" or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    return "mark.unit" not in collection_path.read_text("utf-8")


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    mode = os.environ.get("CDDS_TEST_INFRA", "local")
    with provide_stack(mode) as info:
        yield info


@pytest.fixture
def unique() -> str:
    """A short random suffix for names that must not collide between tests or runs."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
async def documents(
    stack: StackInfo, request: pytest.FixtureRequest
) -> AsyncIterator[MongoDocumentStore]:
    """A MongoDB database of the test module's own on the stack's server, dropped afterwards."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:20]
    settings = MongoSettings(
        url=SecretStr(stack.mongo_url), database=f"cdds_test_{module}_{uuid.uuid4().hex[:10]}"
    )
    async with MongoDocumentStore(settings) as store:
        await store.ping()
        try:
            yield store
        finally:
            await store.drop_database()
