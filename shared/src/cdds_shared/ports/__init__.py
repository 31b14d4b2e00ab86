"""Ports: the Protocols services depend on; adapters implement them, fakes may too."""

from cdds_shared.ports.documents import (
    ASCENDING,
    DESCENDING,
    Document,
    DocumentCollection,
    DocumentStore,
    Filter,
    IndexSpec,
    SortSpec,
)
from cdds_shared.ports.objects import (
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    RETENTION_RULE_ID,
    ExpiryRule,
    ObjectInfo,
    ObjectStore,
)
from cdds_shared.ports.ucs import KeyedRecord, UcsQuery, UcsSource

__all__ = [
    "ASCENDING",
    "DEFAULT_PART_SIZE",
    "DESCENDING",
    "MIN_PART_SIZE",
    "RETENTION_RULE_ID",
    "Document",
    "DocumentCollection",
    "DocumentStore",
    "ExpiryRule",
    "Filter",
    "IndexSpec",
    "KeyedRecord",
    "ObjectInfo",
    "ObjectStore",
    "SortSpec",
    "UcsQuery",
    "UcsSource",
]
