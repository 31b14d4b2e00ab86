"""The testcontainers provider (``CDDS_TEST_INFRA=testcontainers``), for machines with a Docker
engine: the same real servers as images — RabbitMQ with management, MongoDB 7, MinIO, PostgreSQL 15.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.infra.provide import StackInfo

RABBIT_IMAGE = "rabbitmq:3.13-management"
MONGO_IMAGE = "mongo:7"
MINIO_IMAGE = "minio/minio:RELEASE.2025-04-22T22-12-26Z"
POSTGRES_IMAGE = "postgres:15"


@contextlib.contextmanager
def container_stack() -> Iterator[StackInfo]:
    try:
        from testcontainers.minio import MinioContainer
        from testcontainers.mongodb import MongoDbContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.rabbitmq import RabbitMqContainer
    except ImportError as exc:  # pragma: no cover - the dev dependency group installs them
        pytest.fail(f"testcontainers is not installed: {exc}", pytrace=False)

    with contextlib.ExitStack() as stack:
        try:
            rabbit = stack.enter_context(
                RabbitMqContainer(RABBIT_IMAGE).with_exposed_ports(5672, 15672)
            )
            mongo = stack.enter_context(MongoDbContainer(MONGO_IMAGE))
            minio = stack.enter_context(MinioContainer(MINIO_IMAGE))
            postgres = stack.enter_context(
                PostgresContainer(POSTGRES_IMAGE, username="cdds", password="cdds", dbname="ucs")
            )
        except Exception as exc:  # docker missing or refusing: fail, never skip
            pytest.fail(f"real server unavailable via testcontainers: {exc}", pytrace=False)
        r_host = rabbit.get_container_host_ip()
        minio_cfg = minio.get_config()
        pg_port = postgres.get_exposed_port(5432)
        from cdds_shared.ucs.migrate import migrate

        dsn = f"postgresql://cdds:cdds@{postgres.get_container_host_ip()}:{pg_port}/ucs"
        migrate(dsn)
        yield StackInfo(
            rabbit_url=(f"amqp://guest:guest@{r_host}:{rabbit.get_exposed_port(5672)}/"),
            rabbit_management_url=f"http://{r_host}:{rabbit.get_exposed_port(15672)}",
            mongo_url=mongo.get_connection_url(),
            minio_endpoint=minio_cfg["endpoint"],
            minio_access_key=minio_cfg["access_key"],
            minio_secret_key=minio_cfg["secret_key"],
            ucs_dsn=dsn,
        )
