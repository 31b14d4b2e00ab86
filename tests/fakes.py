"""In-memory fakes of the ports, for unit tests that run without any server in milliseconds.

- ``FakeDocumentStore`` / ``FakeCollection``: ``DocumentStore`` with the subset of MongoDB the
  code uses — filters of equality (``None`` matches a missing field, a list field matches an
  element), ``$in``, ``$nin``, ``$gt``/``$gte``/``$lt``/``$lte``, ``$or``; sort, limit, skip,
  count; ``find_one_and_update`` with ``$set``/``$inc``/``$setOnInsert`` and upsert; unique
  indexes. Stored values behave as BSON: datetimes keep milliseconds and come back in UTC,
  tuples come back as lists, every read is a copy.
- ``FakeObjectStore``: ``ObjectStore`` in a dict; a stream that fails stores nothing (the real
  adapter aborts its multipart upload).
- ``FakeUcsSource``: ``UcsSource`` over ``UcsRecord`` rows, honouring every ``UcsQuery`` filter.
- ``RecordingPublisher`` (``publish``) and ``RecordingTimer`` (``ExpiryTimer.schedule``).

``tests/shared/adapters/test_fake_contracts.py`` runs the same checks on these fakes and on the
real adapters, so a fake that drifts from its adapter fails there.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cdds_shared.errors import ConflictError, NotFoundError
from cdds_shared.messaging.messages import Message
from cdds_shared.ports.documents import Document, Filter, IndexSpec, SortSpec
from cdds_shared.ports.objects import DEFAULT_PART_SIZE, RETENTION_RULE_ID, ExpiryRule, ObjectInfo
from cdds_shared.ports.ucs import KeyedRecord, UcsQuery
from cdds_shared.runs.model import Artifact

__all__ = [
    "FakeCollection",
    "FakeDocumentStore",
    "FakeObjectStore",
    "FakeUcsSource",
    "RecordingPublisher",
    "RecordingTimer",
    "UcsRecord",
]

_MISSING = object()
_COMPARE = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def _bson(value: Any) -> Any:
    """What a value reads back as after a round trip through BSON."""
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    if isinstance(value, Mapping):
        return {str(k): _bson(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_bson(v) for v in value]
    return copy.copy(value)


def _get(doc: Mapping[str, Any], path: str) -> Any:
    value: Any = doc
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return _MISSING
        value = value[name]
    return value


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        doc = doc.setdefault(name, {})
    doc[last] = _bson(value)


def _equal(value: Any, wanted: Any) -> bool:
    if wanted is None:
        return value is _MISSING or value is None
    if isinstance(value, list) and not isinstance(wanted, list):
        return wanted in value
    return value is not _MISSING and value == _bson(wanted)


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers)) or type(a) is type(b)


def _matches_condition(value: Any, condition: Any) -> bool:
    if not (isinstance(condition, Mapping) and condition and all(k[0] == "$" for k in condition)):
        return _equal(value, condition)
    for op, operand in condition.items():
        if op == "$in":
            ok = any(_equal(value, v) for v in operand)
        elif op == "$nin":
            ok = not any(_equal(value, v) for v in operand)
        elif op in _COMPARE:
            # MongoDB compares within a type only: a missing field or null is never "less".
            wanted = _bson(operand)
            ok = _comparable(value, wanted) and bool(_COMPARE[op](value, wanted))
        else:
            raise NotImplementedError(f"FakeCollection: operator {op} (add it to the fake)")
        if not ok:
            return False
    return True


def matches(doc: Mapping[str, Any], filter: Filter | None) -> bool:
    """Whether ``doc`` matches the MongoDB filter (the subset the code uses)."""
    for key, condition in (filter or {}).items():
        if key == "$or":
            if not any(matches(doc, branch) for branch in condition):
                return False
        elif key.startswith("$"):
            raise NotImplementedError(f"FakeCollection: operator {key} (add it to the fake)")
        elif not _matches_condition(_get(doc, key), condition):
            return False
    return True


def _sort_key(doc: Mapping[str, Any], field_name: str) -> tuple[int, Any]:
    # BSON order puts missing and null first; the code sorts fields of one type only.
    value = _get(doc, field_name)
    return (0, 0) if value is _MISSING or value is None else (1, value)


def _sorted(docs: list[Document], sort: SortSpec | None) -> list[Document]:
    for field_name, direction in reversed(list(sort or ())):
        docs.sort(key=lambda d, f=field_name: _sort_key(d, f), reverse=direction < 0)
    return docs


class FakeCollection:
    """One collection in memory; implements ``cdds_shared.ports.DocumentCollection``."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.docs: dict[Any, Document] = {}
        self._unique: list[tuple[str, ...]] = []
        self.writes = 0

    @property
    def name(self) -> str:
        return self._name

    def _check_unique(self, doc: Document) -> None:
        for fields in self._unique:
            key = tuple(_get(doc, f) for f in fields)
            for other in self.docs.values():
                if other["_id"] != doc["_id"] and tuple(_get(other, f) for f in fields) == key:
                    raise ConflictError(f"{self._name}: duplicate key on {', '.join(fields)}")

    def _store(self, doc: Document) -> None:
        self._check_unique(doc)
        self.docs[doc["_id"]] = doc

    async def insert(self, doc: Mapping[str, Any]) -> Any:
        self.writes += 1
        stored = _bson(doc)
        stored.setdefault("_id", uuid.uuid4().hex)
        if stored["_id"] in self.docs:
            raise ConflictError(f"{self._name}: duplicate key on _id")
        self._store(stored)
        return stored["_id"]

    async def get(self, doc_id: Any) -> Document:
        found = await self.find_one({"_id": doc_id})
        if found is None:
            raise NotFoundError(f"{self._name}: {doc_id!r} not found")
        return found

    async def find_one(self, filter: Filter) -> Document | None:
        async for doc in self.find(filter, limit=1):
            return doc
        return None

    def _matching(self, filter: Filter | None, sort: SortSpec | None = None) -> list[Document]:
        return _sorted([d for d in self.docs.values() if matches(d, filter)], sort)

    async def find(
        self,
        filter: Filter | None = None,
        *,
        sort: SortSpec | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> AsyncGenerator[Document, None]:
        found = self._matching(filter, sort)[skip:]
        for doc in found[:limit] if limit else found:
            yield copy.deepcopy(doc)

    async def count(self, filter: Filter | None = None) -> int:
        return len(self._matching(filter))

    async def update(self, filter: Filter, set: Mapping[str, Any]) -> int:
        self.writes += 1
        found = self._matching(filter)
        for doc in found:
            await self.find_one_and_update({"_id": doc["_id"]}, {"$set": set})
        return len(found)

    async def find_one_and_update(
        self,
        filter: Filter,
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
        return_after: bool = True,
        sort: SortSpec | None = None,
    ) -> Document | None:
        self.writes += 1
        unknown = set(update) - {"$set", "$inc", "$setOnInsert"}
        if unknown:
            raise NotImplementedError(f"FakeCollection: update {sorted(unknown)}")
        found = self._matching(filter, sort)
        inserting = not found
        if inserting and not upsert:
            return None
        before = copy.deepcopy(found[0]) if found else None
        doc = copy.deepcopy(found[0]) if found else self._seed(filter)
        for path, value in update.get("$set", {}).items():
            _set(doc, path, value)
        for path, step in update.get("$inc", {}).items():
            current = _get(doc, path)
            _set(doc, path, (0 if current is _MISSING else current) + step)
        if inserting:
            for path, value in update.get("$setOnInsert", {}).items():
                _set(doc, path, value)
            doc.setdefault("_id", uuid.uuid4().hex)
        self._store(doc)
        if return_after:
            return copy.deepcopy(doc)
        return before

    @staticmethod
    def _seed(filter: Filter) -> Document:
        """An upsert's new document: the filter's plain equalities (as MongoDB does)."""
        doc: Document = {}
        for key, condition in filter.items():
            plain = not (isinstance(condition, Mapping) and any(k[0] == "$" for k in condition))
            if not key.startswith("$") and plain:
                _set(doc, key, condition)
        return doc

    async def delete(self, filter: Filter) -> int:
        self.writes += 1
        found = self._matching(filter)
        for doc in found:
            del self.docs[doc["_id"]]
        return len(found)

    async def ensure_indexes(self, specs: Sequence[IndexSpec]) -> None:
        for spec in specs:
            fields = tuple(name for name, _ in spec.keys)
            if spec.unique and fields not in self._unique:
                for a, b in itertools.combinations(self.docs.values(), 2):
                    if all(_get(a, f) == _get(b, f) for f in fields):
                        raise ConflictError(f"{self._name}: duplicate key on {fields}")
                self._unique.append(fields)


class FakeDocumentStore:
    """A database of ``FakeCollection``s; implements ``cdds_shared.ports.DocumentStore``."""

    def __init__(self) -> None:
        self.collections: dict[str, FakeCollection] = {}
        self.connected = False

    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def ping(self) -> None:
        return None

    @property
    def writes(self) -> int:
        return sum(c.writes for c in self.collections.values())

    def collection(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection(name))


@dataclass
class _Object:
    data: bytes
    etag: str
    content_type: str
    last_modified: datetime


class FakeObjectStore:
    """One bucket in a dict; implements ``cdds_shared.ports.ObjectStore``."""

    def __init__(self) -> None:
        self.objects: dict[str, _Object] = {}
        self.rules: dict[str, ExpiryRule] = {}
        self.deleted: list[str] = []
        """Every key ``delete`` was called with, in order (whether or not it existed)."""

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ensure_bucket(self) -> None:
        return None

    def _info(self, key: str, obj: _Object) -> ObjectInfo:
        return ObjectInfo(key, len(obj.data), obj.etag, obj.last_modified, obj.content_type)

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> ObjectInfo:
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()  # S3's single-PUT ETag
        self.objects[key] = _Object(bytes(data), etag, content_type, datetime.now(UTC))
        return self._info(key, self.objects[key])

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        part_size: int = DEFAULT_PART_SIZE,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        data = bytearray()
        async for chunk in chunks:  # a failing stream raises here and stores nothing
            data += chunk
        return await self.put_bytes(key, bytes(data), content_type=content_type)

    async def open_stream(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        data = self._get(key).data
        end = len(data) if length is None else offset + length
        for start in range(offset, end, 64 * 1024):
            yield data[start : min(end, start + 64 * 1024)]

    def _get(self, key: str) -> _Object:
        if key not in self.objects:
            raise NotFoundError(f"object {key} not found")
        return self.objects[key]

    async def stat(self, key: str) -> ObjectInfo:
        return self._info(key, self._get(key))

    async def delete(self, key: str) -> None:
        self.deleted.append(key)
        self.objects.pop(key, None)

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            yield self._info(key, self.objects[key])

    async def presigned_get(
        self,
        key: str,
        expires: timedelta,
        *,
        public_endpoint: str | None = None,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        return f"{public_endpoint or 'http://fake'}/{key}?expires={int(expires.total_seconds())}"

    async def set_expiry_rule(
        self, prefix: str, days: int, *, rule_id: str = RETENTION_RULE_ID
    ) -> None:
        self.rules[rule_id] = ExpiryRule(rule_id, prefix, days)

    async def get_lifecycle(self) -> tuple[ExpiryRule, ...]:
        return tuple(self.rules.values())


@dataclass(frozen=True)
class UcsRecord:
    """One UCS row: its id, tenant, type, the moment filtered on (``start_date`` or
    ``created_date``), media type (interactions), JSON and attachment lines (each JSON)."""

    id: str
    tenant_id: int
    at: datetime
    record_type: str = "interaction"
    media_type: str | None = "email"
    json: bytes = b"{}"
    attachments: tuple[bytes, ...] = ()


@dataclass
class FakeUcsSource:
    """``UcsSource`` over ``records``; ids in byte order, as PostgreSQL's ``COLLATE "C"``."""

    records: list[UcsRecord] = field(default_factory=list)
    batch_size: int = 100
    closed: bool = False

    def _select(self, q: UcsQuery) -> list[UcsRecord]:
        def wanted(r: UcsRecord) -> bool:
            return (
                r.tenant_id == q.tenant_id
                and r.record_type == q.record_type
                and (q.media_types is None or r.media_type in q.media_types)
                and (q.start is None or r.at >= q.start)
                and (q.end is None or r.at < q.end)
                and (q.after_id is None or r.id.encode() > q.after_id.encode())
                and (q.until_id is None or r.id.encode() <= q.until_id.encode())
            )

        return sorted(filter(wanted, self.records), key=lambda r: r.id.encode())

    async def ping(self) -> None:
        return None

    async def count(self, query: UcsQuery) -> int:
        return len(self._select(query))

    async def counts(self, tenant_id: int) -> dict[str, Any]:
        mine = [r for r in self.records if r.tenant_id == tenant_id]
        media: dict[str, int] = {}
        for r in mine:
            if r.record_type == "interaction":
                media[str(r.media_type)] = media.get(str(r.media_type), 0) + 1
        return {
            "tenantId": tenant_id,
            "contacts": sum(r.record_type == "contact" for r in mine),
            "interactions": sum(media.values()),
            "attachments": sum(len(r.attachments) for r in mine),
            "interactionsByMediaType": dict(sorted(media.items())),
        }

    async def split_keys(self, query: UcsQuery, parts: int) -> list[str]:
        ids = [r.id for r in self._select(query)]
        if parts < 2 or not ids:
            return []
        cuts = {ids[len(ids) * i // parts - 1] for i in range(1, parts) if len(ids) * i >= parts}
        return sorted((k for k in cuts if k != ids[-1]), key=str.encode)

    async def stream(self, query: UcsQuery) -> AsyncIterator[bytes]:
        for r in self._select(query):
            yield r.json

    async def stream_attachments(self, query: UcsQuery) -> AsyncIterator[bytes]:
        for r in self._select(query):
            for line in r.attachments:
                yield line

    async def stream_batches(
        self, query: UcsQuery, *, attachment_sizes: bool = False
    ) -> AsyncIterator[list[KeyedRecord]]:
        rows = [
            (r.id, r.json, sum(len(a) + 1 for a in r.attachments) if attachment_sizes else 0)
            for r in self._select(query)
        ]
        for start in range(0, len(rows), self.batch_size):
            yield rows[start : start + self.batch_size]

    async def close(self) -> None:
        self.closed = True


@dataclass
class RecordingPublisher:
    """A ``publish`` that keeps every message, in order; ``fail`` makes it raise instead."""

    messages: list[Message] = field(default_factory=list)
    fail: BaseException | None = None

    async def __call__(self, message: Message) -> None:
        if self.fail is not None:
            raise self.fail
        self.messages.append(message)

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]


@dataclass
class RecordingTimer:
    """Stands in for ``ExpiryTimer``: the artifacts whose retention timer was scheduled."""

    scheduled: list[Artifact] = field(default_factory=list)

    async def declare(self) -> None:
        return None

    async def schedule(self, artifact: Artifact) -> None:
        self.scheduled.append(artifact)
