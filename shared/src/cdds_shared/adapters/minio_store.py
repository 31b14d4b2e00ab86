"""MinIO (S3) adapter on minio-py, whose blocking calls run in a bounded thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import certifi
import structlog
import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.credentials.credentials import Credentials
from minio.datatypes import Part
from minio.error import InvalidResponseError, S3Error, ServerError
from minio.helpers import DictType
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from cdds_shared.errors import DependencyUnavailable, NotFoundError, PermanentError
from cdds_shared.ports.objects import (
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    RETENTION_RULE_ID,
    ExpiryRule,
    ObjectInfo,
)
from cdds_shared.settings import MinioSettings

__all__ = ["MinioObjectStore"]

P = ParamSpec("P")
T = TypeVar("T")

ENDPOINT = "CDDS_MINIO__ENDPOINT"
_CREDENTIALS = {
    "InvalidAccessKeyId": "CDDS_MINIO__ACCESS_KEY",
    "AccessDenied": "CDDS_MINIO__ACCESS_KEY",
    "SignatureDoesNotMatch": "CDDS_MINIO__SECRET_KEY",
}
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchUpload", "ResourceNotFound"}
_PING_PREFIX = ".cdds-ping/"  # listing a prefix that holds nothing is cheap and needs a GET
_log = structlog.get_logger(__name__)


class _MultipartUpload:
    """One S3 multipart upload, driven part by part.

    minio-py's public ``put_object`` only reads a blocking file object, so these are its private
    ``_create/_upload_part/_complete/_abort_multipart_upload`` calls; they stay in this class.
    """

    def __init__(self, client: Minio, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._parts: list[Part] = []
        self._upload_id = ""

    def start(self, content_type: str) -> None:
        headers: DictType = {"Content-Type": content_type}
        self._upload_id = self._client._create_multipart_upload(self._bucket, self._key, headers)

    def upload(self, data: bytes) -> None:
        number = len(self._parts) + 1
        etag = self._client._upload_part(
            self._bucket, self._key, data, None, self._upload_id, number
        )
        self._parts.append(Part(number, etag))

    def complete(self) -> str:
        result = self._client._complete_multipart_upload(
            self._bucket, self._key, self._upload_id, self._parts
        )
        return str(result.etag)

    def abort(self) -> None:
        self._client._abort_multipart_upload(self._bucket, self._key, self._upload_id)


class _Minio(Minio):
    """minio-py, sending an object's bytes (PutObject, UploadPart) as ``UNSIGNED-PAYLOAD``.

    minio-py signs a body's SHA-256 on plain HTTP and sends its MD5 over TLS; both cost a pass
    over every byte, on this side and again on MinIO's. The bytes CDDS stores carry their own
    integrity: a staged part is AES-GCM with its run, partition and part as associated data, a
    sealed file is CMS AuthEnvelopedData (AES-GCM) whose SHA-256 the encryptor records. A body
    altered on the way fails those checks. The request itself (method, key, headers) stays
    signed, and bodies of the other calls (XML with a Content-MD5) are unchanged.
    """

    _object_data = threading.local()  # set around _put_object, in the pool thread that runs it

    def _put_object(self, *args: Any, **kwargs: Any) -> Any:
        self._object_data.active = True
        try:
            return super()._put_object(*args, **kwargs)
        finally:
            self._object_data.active = False

    def _build_headers(
        self,
        host: str,
        headers: DictType | None = None,
        body: bytes | None = None,
        creds: Credentials | None = None,
    ) -> tuple[DictType, datetime]:
        if body is None or creds is None or not getattr(self._object_data, "active", False):
            return super()._build_headers(host, headers, body, creds)
        built, date = super()._build_headers(host, headers, None, creds)
        built["Content-Length"] = str(len(body))
        built["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        return built, date


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


def _take(items: Iterator[Any], n: int) -> list[Any]:
    return [item for _, item in zip(range(n), items, strict=False)]


def _rule_of(rule: Rule) -> ExpiryRule:
    prefix = rule.rule_filter.prefix if rule.rule_filter else None
    days = rule.expiration.days if rule.expiration else None
    return ExpiryRule(str(rule.rule_id), prefix, days, rule.status == ENABLED)


class MinioObjectStore:
    """The artifacts bucket; implements ``cdds_shared.ports.ObjectStore``.

    Args:
        settings: endpoint, credentials, region and bucket.
        max_workers: threads (and pooled connections) for blocking minio-py calls.
        timeout: seconds to connect; ``ping`` also waits at most this long for an answer.
        read_chunk_size: bytes per chunk yielded by ``open_stream``.
    """

    def __init__(
        self,
        settings: MinioSettings,
        *,
        max_workers: int = 8,
        timeout: float = 5.0,
        read_chunk_size: int = 1024 * 1024,
    ) -> None:
        self._settings = settings
        self._bucket = settings.bucket
        self._chunk = read_chunk_size
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="minio")
        self._http = self._pool_manager(max_workers, timeout, 300.0, retries=3)
        self._probe_http = self._pool_manager(1, timeout, timeout, retries=0)
        self._client = self._minio(settings.endpoint, self._http)
        self._signers: dict[str, Minio] = {}

    def _pool_manager(
        self, size: int, connect: float, read: float, retries: int
    ) -> urllib3.PoolManager:
        return urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect, read=read),
            maxsize=size,
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            retries=urllib3.Retry(
                total=retries, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )

    def _minio(self, endpoint: str, http: urllib3.PoolManager) -> Minio:
        # A fixed region means no GetBucketLocation round trip, so signing needs no network.
        s = self._settings
        return _Minio(
            endpoint,
            access_key=s.access_key,
            secret_key=s.secret_key.get_secret_value(),
            secure=s.secure,
            region=s.region,
            http_client=http,
        )

    def _error(self, exc: Exception) -> Exception:
        endpoint = self._settings.endpoint
        if isinstance(exc, S3Error):
            code = exc.code or "S3Error"
            if code in _MISSING:
                return NotFoundError(f"{self._bucket}/{exc.object_name or ''}: {code}")
            if code in _CREDENTIALS:
                reason = f"MinIO at {endpoint} refused the credentials: {code}"
                return DependencyUnavailable(_CREDENTIALS[code], reason)
            if exc.response.status >= 500:
                return DependencyUnavailable(ENDPOINT, f"MinIO at {endpoint} failed: {code}")
            return PermanentError(f"MinIO {code}: {exc.message}")
        if isinstance(exc, ServerError):
            reason = f"MinIO at {endpoint} answered HTTP {exc.status_code}"
            return DependencyUnavailable(ENDPOINT, reason)
        if isinstance(exc, InvalidResponseError):
            return DependencyUnavailable(ENDPOINT, f"{endpoint} does not answer like S3")
        cause = str(getattr(exc, "reason", None) or exc).rpartition(">: ")[2]
        return DependencyUnavailable(ENDPOINT, f"cannot reach MinIO at {endpoint}: {cause}")

    async def _run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError) as exc:
            raise self._error(exc) from exc

    async def ping(self) -> None:
        """Raise ``DependencyUnavailable`` naming the setting to fix unless MinIO answers."""
        probe = self._minio(self._settings.endpoint, self._probe_http)
        # A missing bucket still proves reachability and credentials; ensure_bucket creates it.
        with contextlib.suppress(NotFoundError):
            await self._run(_take, probe.list_objects(self._bucket, prefix=_PING_PREFIX), 1)

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.clear()
        self._probe_http.clear()

    async def ensure_bucket(self) -> None:
        if not await self._run(self._client.bucket_exists, self._bucket):
            try:
                await self._run(self._client.make_bucket, self._bucket, self._settings.region)
            except PermanentError as exc:
                if "BucketAlreadyOwnedByYou" not in str(exc):  # a concurrent creator won
                    raise

    async def put_bytes(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> ObjectInfo:
        body = io.BytesIO(data)
        put = self._client.put_object
        result = await self._run(put, self._bucket, key, body, len(data), content_type)
        return ObjectInfo(key, len(data), str(result.etag), content_type=content_type)

    async def put_stream(
        self,
        key: str,
        chunks: AsyncIterable[bytes],
        *,
        part_size: int = DEFAULT_PART_SIZE,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        """Upload a stream of unknown length as a multipart upload, two parts in memory at most:
        one on its way to the store while the next fills, so the producer (deflate, sealing)
        does not wait for each upload.

        A stream shorter than one part is stored with a single PUT. On any failure (including
        cancellation) the multipart upload is aborted so no orphan parts remain.
        """
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        buf, size = bytearray(), 0
        upload: _MultipartUpload | None = None
        sending: asyncio.Task[None] | None = None  # the part on its way (numbered in order)
        try:
            async for chunk in chunks:
                view, size = memoryview(chunk), size + len(chunk)
                while view:
                    room = part_size - len(buf)
                    buf += view[:room]
                    view = view[room:]
                    if len(buf) == part_size:
                        if upload is None:
                            upload = _MultipartUpload(self._client, self._bucket, key)
                            await self._run(upload.start, content_type)
                        if sending is not None:
                            await sending
                        sending = asyncio.ensure_future(self._run(upload.upload, bytes(buf)))
                        buf = bytearray()
            if sending is not None:
                await sending
                sending = None
            if upload is None:
                return await self.put_bytes(key, bytes(buf), content_type=content_type)
            if buf:
                await self._run(upload.upload, bytes(buf))
            etag = await self._run(upload.complete)
        except BaseException:
            if sending is not None:  # let the part on its way end first, or it may outlive
                with contextlib.suppress(Exception):  # the abort and leave a part behind
                    await sending
            if upload is not None:
                await self._abort(upload, key)
            raise
        return ObjectInfo(key, size, etag, content_type=content_type)

    async def _abort(self, upload: _MultipartUpload, key: str) -> None:
        try:
            await self._run(upload.abort)
        except Exception as exc:
            # The lifecycle backstop and MinIO's stale-upload cleanup remove it eventually.
            _log.warning("multipart_abort_failed", bucket=self._bucket, key=key, error=str(exc))

    async def open_stream(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Yield the object's bytes; the HTTP response is released when the iterator closes."""
        if length == 0:
            return
        get = self._client.get_object
        response = await self._run(get, self._bucket, key, offset=offset, length=length or 0)
        try:
            chunks = response.stream(self._chunk, decode_content=False)
            while (chunk := await self._run(_next_chunk, chunks)) is not None:
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def stat(self, key: str) -> ObjectInfo:
        o = await self._run(self._client.stat_object, self._bucket, key)
        return ObjectInfo(key, int(o.size or 0), str(o.etag), o.last_modified, o.content_type)

    async def delete(self, key: str) -> None:
        await self._run(self._client.remove_object, self._bucket, key)  # S3: missing is fine

    async def list(self, prefix: str = "") -> AsyncGenerator[ObjectInfo, None]:
        objects = self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
        while batch := await self._run(_take, objects, 1000):
            for o in batch:
                yield ObjectInfo(o.object_name, int(o.size or 0), str(o.etag), o.last_modified)

    async def presigned_get(
        self,
        key: str,
        expires: timedelta,
        *,
        public_endpoint: str | None = None,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """Sign a GET for the host browsers use (a presigned URL is bound to its host)."""
        endpoint = public_endpoint or self._settings.public_endpoint or self._settings.endpoint
        signer = self._signers.get(endpoint)
        if signer is None:
            signer = self._signers[endpoint] = self._minio(endpoint, self._http)
        headers: DictType = {}
        if download_name is not None:
            safe = "".join(
                c if c.isascii() and c.isprintable() and c != '"' else "_" for c in download_name
            )
            headers["response-content-disposition"] = f'attachment; filename="{safe}"'
        if content_type is not None:
            headers["response-content-type"] = content_type
        sign = signer.presigned_get_object
        return await self._run(sign, self._bucket, key, expires, response_headers=headers or None)

    async def set_expiry_rule(
        self, prefix: str, days: int, *, rule_id: str = RETENTION_RULE_ID
    ) -> None:
        """Keep exactly one rule ``rule_id`` (replaced when it differs), other rules untouched."""
        wanted = Rule(
            ENABLED,
            rule_filter=Filter(prefix=prefix),
            rule_id=rule_id,
            expiration=Expiration(days=days),
        )
        config = await self._run(self._client.get_bucket_lifecycle, self._bucket)
        rules = list(config.rules) if config else []
        others = [r for r in rules if r.rule_id != rule_id]
        if [_rule_of(r) for r in rules if r.rule_id == rule_id] == [_rule_of(wanted)]:
            return
        new = LifecycleConfig([*others, wanted])
        await self._run(self._client.set_bucket_lifecycle, self._bucket, new)

    async def get_lifecycle(self) -> tuple[ExpiryRule, ...]:
        config = await self._run(self._client.get_bucket_lifecycle, self._bucket)
        return tuple(_rule_of(r) for r in config.rules) if config else ()

    async def remove_bucket(self) -> None:
        """Delete every object, then the bucket (tests and admin tooling only)."""
        async for info in self.list():
            await self.delete(info.key)
        await self._run(self._client.remove_bucket, self._bucket)
