"""Messages, topology and the broker: everything RabbitMQ-shaped that the services share."""

from cdds_shared.messaging.broker import make_broker, publish
from cdds_shared.messaging.fate import FatePolicy, GiveUp
from cdds_shared.messaging.gate import DependencyGate
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
    topology_of,
)

__all__ = [
    "ALL_MESSAGES",
    "DEAD_LETTERS",
    "EVENTS",
    "WORK_QUEUES",
    "ArtifactDue",
    "ArtifactExpired",
    "DependencyGate",
    "ExportPartition",
    "FatePolicy",
    "GiveUp",
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
    "topology_of",
]
