"""MongoDB adapter on pymongo's asyncio API (``AsyncMongoClient``).

Uses only what MongoDB 7 and FerretDB 1.24 both do: CRUD, ``findAndModify``, unique indexes.
Datetimes come back timezone-aware (UTC).

FerretDB 1.24 runs ``findAndModify`` as a query followed by an unconditional write by ``_id``,
so concurrent calls lose updates (measured: 20 concurrent ``$inc`` counted 5, 9 of 20 claimants
won one job). On FerretDB, ``find_one_and_update`` therefore holds a per-document lock
(``DocumentLocks``) across processes; on MongoDB it is the server's atomic command.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pymongo import AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
)

from cdds_shared.adapters.mongo_locks import DocumentLocks
from cdds_shared.errors import (
    ConfigError,
    ConflictError,
    DependencyUnavailable,
    NotFoundError,
    TransientError,
)
from cdds_shared.ports.documents import Document, Filter, IndexSpec, SortSpec
from cdds_shared.settings import MongoSettings

__all__ = ["LOCKS_COLLECTION", "MongoCollection", "MongoDocumentStore"]

SETTING = "CDDS_MONGO__URL"
LOCKS_COLLECTION = "_cdds_locks"
_AUTH_CODES = {13: "not authorized", 18: "authentication failed"}


class _ErrorMap:
    """Turns pymongo errors into the CDDS taxonomy, never echoing the URL's password."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.hosts = parts.netloc.rpartition("@")[2] or "?"
        self._password = parts.password

    def reason(self, exc: BaseException) -> str:
        text = str(exc)
        # pymongo appends timeouts and a whole topology dump; the first clause is the cause.
        for marker in (" (configured timeouts", ", Timeout:"):
            text = text.split(marker, 1)[0]
        if self._password:
            text = text.replace(self._password, "***")
        return text[:300]

    @contextlib.contextmanager
    def __call__(self, where: str) -> Iterator[None]:
        try:
            yield
        except DuplicateKeyError as exc:
            fields = sorted((exc.details or {}).get("keyPattern", {}))
            on = f" on {', '.join(fields)}" if fields else ""
            raise ConflictError(f"{where}: duplicate key{on}") from None
        except ConnectionFailure as exc:
            reason = f"cannot reach MongoDB at {self.hosts}: {self.reason(exc)}"
            raise DependencyUnavailable(SETTING, reason) from None
        except OperationFailure as exc:
            if exc.code in _AUTH_CODES:
                reason = f"{_AUTH_CODES[exc.code]} at {self.hosts}: {self.reason(exc)}"
                raise DependencyUnavailable(SETTING, reason) from None
            raise


def _names_one_document(doc_id: Any) -> bool:
    """``{"_id": "run-1"}`` names one document; ``{"_id": {"$in": [...]}}`` does not."""
    return doc_id is not None and not (
        isinstance(doc_id, Mapping) and any(str(k).startswith("$") for k in doc_id)
    )


class MongoCollection:
    """One collection; implements ``cdds_shared.ports.DocumentCollection``."""

    def __init__(self, collection: AsyncCollection[Document], store: MongoDocumentStore) -> None:
        self._c = collection
        self._store = store
        self._errors = store._errors

    @property
    def name(self) -> str:
        return self._c.name

    async def insert(self, doc: Mapping[str, Any]) -> Any:
        with self._errors(self.name), self._store.writing():
            result = await self._c.insert_one(dict(doc))  # a copy: pymongo adds `_id` in place
        return result.inserted_id

    async def get(self, doc_id: Any) -> Document:
        found = await self.find_one({"_id": doc_id})
        if found is None:
            raise NotFoundError(f"{self.name}: {doc_id!r} not found")
        return found

    async def find_one(self, filter: Filter) -> Document | None:
        with self._errors(self.name):
            return await self._c.find_one(dict(filter))

    async def find(
        self,
        filter: Filter | None = None,
        *,
        sort: SortSpec | None = None,
        limit: int | None = None,
        skip: int = 0,
    ) -> AsyncGenerator[Document, None]:
        order = list(sort) if sort else None
        cursor = self._c.find(dict(filter or {}), sort=order, limit=limit or 0, skip=skip)
        try:
            with self._errors(self.name):
                async for doc in cursor:
                    yield doc
        finally:
            await cursor.close()

    async def count(self, filter: Filter | None = None) -> int:
        with self._errors(self.name):
            return await self._c.count_documents(dict(filter or {}))

    async def update(self, filter: Filter, set: Mapping[str, Any]) -> int:
        """``$set`` on every match. Not atomic with ``find_one_and_update`` on FerretDB."""
        with self._errors(self.name), self._store.writing():
            result = await self._c.update_many(dict(filter), {"$set": dict(set)})
        return result.matched_count

    async def find_one_and_update(
        self,
        filter: Filter,
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
        return_after: bool = True,
        sort: SortSpec | None = None,
    ) -> Document | None:
        order = list(sort) if sort else None
        with self._errors(self.name), self._store.writing():
            locks = await self._store.document_locks()
            if locks is None:
                return await self._modify(dict(filter), update, upsert, return_after, order)
            return await self._modify_locked(
                locks, dict(filter), update, upsert, return_after, order
            )

    async def _modify(
        self, filter: Document, update: Mapping[str, Any], upsert: bool, after: bool, sort: Any
    ) -> Document | None:
        returned = ReturnDocument.AFTER if after else ReturnDocument.BEFORE
        # Two concurrent upserts may both insert; the loser gets a duplicate key and a retry
        # then matches the winner's document (MongoDB's documented remedy).
        for attempt in (1, 2):
            try:
                return await self._c.find_one_and_update(
                    filter, dict(update), sort=sort, upsert=upsert, return_document=returned
                )
            except DuplicateKeyError:
                if not upsert or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _modify_locked(
        self,
        locks: DocumentLocks,
        filter: Document,
        update: Mapping[str, Any],
        upsert: bool,
        after: bool,
        sort: Any,
    ) -> Document | None:
        pinned = _names_one_document(filter.get("_id"))
        for _ in range(10):
            target = filter.get("_id") if pinned else None
            if not pinned:
                found = await self._c.find_one(filter, {"_id": True}, sort=sort)
                if found is None and not upsert:
                    return None
                target = None if found is None else found["_id"]
            narrowed = filter if pinned or target is None else {**filter, "_id": target}
            # An upsert that matched nothing locks the whole collection (rare: ids are known).
            key = f"{self.name}:{'*' if target is None else repr(target)}"
            may_insert = upsert and (pinned or target is None)
            async with locks.hold(key):
                result = await self._modify(narrowed, update, may_insert, after, sort)
            if result is not None or pinned or target is None:
                return result
            # The target stopped matching before we held it: look again.
        raise TransientError(f"{self.name}: the matching document kept changing")

    async def delete(self, filter: Filter) -> int:
        with self._errors(self.name), self._store.writing():
            result = await self._c.delete_many(dict(filter))
        return result.deleted_count

    async def ensure_indexes(self, specs: Sequence[IndexSpec]) -> None:
        if not specs:
            return
        models = []
        for spec in specs:
            options: dict[str, Any] = {"unique": True} if spec.unique else {}
            if spec.name:
                options["name"] = spec.name
            models.append(IndexModel(list(spec.keys), **options))
        # One index per command: FerretDB 1.24 (SQLite) panics and drops the connection when a
        # single createIndexes names several indexes that already exist.
        for model in models:
            with self._errors(self.name):
                await self._c.create_indexes([model])


class MongoDocumentStore:
    """A MongoDB database; implements ``cdds_shared.ports.DocumentStore``.

    Args:
        settings: URL and database name.
        timeout: seconds to find a server before an operation fails as unavailable.
        lock_documents: serialize ``find_one_and_update`` with ``DocumentLocks``; ``None`` means
            only on servers whose ``findAndModify`` is not atomic (FerretDB).
        lock_lease: seconds after which a lock is presumed abandoned by a crashed holder.
    """

    def __init__(
        self,
        settings: MongoSettings,
        *,
        timeout: float = 5.0,
        lock_documents: bool | None = None,
        lock_lease: float = 30.0,
    ) -> None:
        self._url = settings.url.get_secret_value()
        self._database = settings.database
        self._timeout_ms = max(1, int(timeout * 1000))
        self._lock_documents = lock_documents
        self._lock_lease = lock_lease
        self._locks: DocumentLocks | None = None
        self._errors = _ErrorMap(self._url)
        self._client: AsyncMongoClient[Document] | None = None
        self._writes = 0

    async def connect(self) -> None:
        """Create the client (no network round trip: call ``ping`` to check the server)."""
        if self._client is not None:
            return
        try:
            self._client = AsyncMongoClient(
                self._url,
                serverSelectionTimeoutMS=self._timeout_ms,
                connectTimeoutMS=self._timeout_ms,
                tz_aware=True,
                appname="cdds",
            )
        except ConfigurationError as exc:
            raise ConfigError(f"{SETTING}: {self._errors.reason(exc)}") from None

    async def close(self) -> None:
        if self._client is not None:
            client, self._client, self._locks = self._client, None, None
            await client.close()

    async def __aenter__(self) -> MongoDocumentStore:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _client_or_fail(self) -> AsyncMongoClient[Document]:
        if self._client is None:
            raise RuntimeError("MongoDocumentStore: call connect() first")
        return self._client

    async def ping(self) -> None:
        """Raise ``DependencyUnavailable("CDDS_MONGO__URL", reason)`` unless the server answers."""
        client = self._client_or_fail()
        with self._errors("ping"):
            await client[self._database].command("ping")

    async def document_locks(self) -> DocumentLocks | None:
        """The lock ``find_one_and_update`` needs on this server, if any."""
        db = self._client_or_fail()[self._database]
        if self._lock_documents is None:
            info = await db.command("buildInfo")
            self._lock_documents = "ferretdbVersion" in info
        if self._lock_documents and self._locks is None:
            lease = self._lock_lease
            self._locks = DocumentLocks(db[LOCKS_COLLECTION], lease=lease, wait=2 * lease)
        return self._locks if self._lock_documents else None

    @property
    def writes(self) -> int:
        """How many writes this process has finished (or given up on) through the store: a read
        that starts after a write sees a higher count (``cdds_gateway.usecases.coalesce``)."""
        return self._writes

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Count the write it wraps once it is over, whether it succeeded or not (a failed one
        may still have been applied)."""
        try:
            yield
        finally:
            self._writes += 1

    def collection(self, name: str) -> MongoCollection:
        return MongoCollection(self._client_or_fail()[self._database][name], self)

    async def drop_database(self) -> None:
        """Drop the whole database (tests and admin tooling only)."""
        with self._errors("drop_database"):
            await self._client_or_fail().drop_database(self._database)
