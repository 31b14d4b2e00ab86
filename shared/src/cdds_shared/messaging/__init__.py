"""Messages, topology and the broker: everything RabbitMQ-shaped that the services share."""

from cdds_shared.messaging.broker import ErrorPolicyMiddleware, make_broker, publish
from cdds_shared.messaging.messages import (
    ALL_MESSAGES,
    ArtifactDue,
    ArtifactExpired,
    ExportPartition,
    Message,
    PartSealed,
    PartStaged,
    RunCompleted,
    RunFailed,
    RunRequested,
    Timeframe,
)
from cdds_shared.messaging.probe import ping_rabbit
from cdds_shared.messaging.topology import (
    DEAD_LETTERS,
    EVENTS,
    WORK_QUEUES,
    Topology,
    WorkQueue,
    declare_topology,
)

__all__ = [
    "ALL_MESSAGES",
    "DEAD_LETTERS",
    "EVENTS",
    "WORK_QUEUES",
    "ArtifactDue",
    "ArtifactExpired",
    "ErrorPolicyMiddleware",
    "ExportPartition",
    "Message",
    "PartSealed",
    "PartStaged",
    "RunCompleted",
    "RunFailed",
    "RunRequested",
    "Timeframe",
    "Topology",
    "WorkQueue",
    "declare_topology",
    "make_broker",
    "ping_rabbit",
    "publish",
]
