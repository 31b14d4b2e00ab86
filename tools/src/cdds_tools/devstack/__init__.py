"""The real stack as local processes: RabbitMQ, PostgreSQL, FerretDB, MinIO and the
four CDDS services, under ``.local/`` of the checkout, on loopback ports, idempotently."""

from cdds_tools.devstack.config import StackConfig
from cdds_tools.devstack.stack import Stack, StackError

__all__ = ["Stack", "StackConfig", "StackError"]
