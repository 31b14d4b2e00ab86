"""Adapters under test, each on a throwaway database or bucket of the real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.settings import MinioSettings, MongoSettings
from tests.infra import StackInfo


@pytest.fixture(scope="module")
def module_unique() -> str:
    """A random suffix shared by one test module (``unique`` is per test)."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def mongo_settings(stack: StackInfo, module_unique: str) -> MongoSettings:
    """The test stack's MongoDB with a database of this module's own."""
    return MongoSettings(url=SecretStr(stack.mongo_url), database=f"cdds_test_{module_unique}")


@pytest.fixture(scope="module")
async def mongo(mongo_settings: MongoSettings) -> AsyncIterator[MongoDocumentStore]:
    async with MongoDocumentStore(mongo_settings) as store:
        await store.ping()
        yield store
        await store.drop_database()


def minio_settings(stack: StackInfo, bucket: str, **changes: object) -> MinioSettings:
    """Settings for the test stack's MinIO, with ``changes`` applied."""
    base = MinioSettings(
        endpoint=stack.minio_endpoint,
        access_key=stack.minio_access_key,
        secret_key=SecretStr(stack.minio_secret_key),
        bucket=bucket,
    )
    return base.model_copy(update=changes)


@pytest.fixture(scope="module")
async def minio(stack: StackInfo, module_unique: str) -> AsyncIterator[MinioObjectStore]:
    store = MinioObjectStore(minio_settings(stack, f"cdds-test-{module_unique}"))
    try:
        await store.ping()
        await store.ensure_bucket()
        yield store
        await store.remove_bucket()
    finally:
        await store.close()
