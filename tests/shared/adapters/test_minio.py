"""MinioObjectStore against the real MinIO server."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from pydantic import SecretStr

from cdds_shared.adapters import minio_store
from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.errors import DependencyUnavailable, NotFoundError
from cdds_shared.ports import MIN_PART_SIZE, RETENTION_RULE_ID, ExpiryRule, ObjectStore
from tests.infra import StackInfo
from tests.shared.adapters.conftest import minio_settings

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def test_adapter_satisfies_the_port(minio: MinioObjectStore) -> None:
    store: ObjectStore = minio  # checked by mypy; here it documents the intent
    assert store is minio


async def _collect(stream: AsyncGenerator[bytes, None]) -> bytes:
    async with contextlib.aclosing(stream) as chunks:
        return b"".join([c async for c in chunks])


async def test_put_and_read_back(minio: MinioObjectStore, unique: str) -> None:
    key = f"artifacts/{unique}/part-0001.p7m"
    data = os.urandom(100_000)

    stored = await minio.put_bytes(key, data, content_type="application/pkcs7-mime")

    assert stored.size == len(data)
    info = await minio.stat(key)
    assert (info.size, info.etag) == (len(data), stored.etag)
    assert info.content_type == "application/pkcs7-mime"
    assert await _collect(minio.open_stream(key)) == data


async def test_streaming_multipart_upload(minio: MinioObjectStore, unique: str) -> None:
    key = f"staging/{unique}/big.bin"
    block = os.urandom(MiB // 3)  # chunks that do not divide the part size
    total = 12 * MiB
    digest = hashlib.sha256()

    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            piece = block[: total - sent]
            digest.update(piece)
            sent += len(piece)
            yield piece

    stored = await minio.put_stream(key, chunks(), part_size=5 * MiB)

    assert stored.size == total
    assert stored.etag.endswith("-3")  # 5 + 5 + 2 MiB
    info = await minio.stat(key)
    assert info.size == total
    assert info.etag == stored.etag
    read_back = hashlib.sha256()
    async with contextlib.aclosing(minio.open_stream(key)) as stream:
        async for chunk in stream:
            read_back.update(chunk)
    assert read_back.hexdigest() == digest.hexdigest()


async def test_object_bytes_go_unsigned_and_other_bodies_stay_signed(
    minio: MinioObjectStore, unique: str
) -> None:
    trace = io.StringIO()
    minio._client.trace_on(trace)  # minio-py's request trace: each request's line and headers
    try:
        data = os.urandom(6 * MiB)
        await minio.put_stream(f"staging/{unique}/multi", _pieces(data), part_size=5 * MiB)
        await minio.put_bytes(f"staging/{unique}/single", data[:1000])
    finally:
        minio._client.trace_off()

    requests = [block.split("\n") for block in trace.getvalue().split("---------START-HTTP")]
    sent: dict[str, set[str]] = {}
    for lines in requests[1:]:
        method, target, _ = lines[1].split(" ")
        url = urlsplit(target)
        kind = f"{method} {url.path.rsplit('/', 1)[-1]}" + (
            " part" if "partNumber" in url.query else ""
        )
        content = [
            h.split(": ", 1)[1] for h in lines if h.lower().startswith("x-amz-content-sha256")
        ]
        sent.setdefault(kind, set()).update(content)
    assert sent.pop("PUT multi part") == {"UNSIGNED-PAYLOAD"}  # its two parts
    assert sent.pop("PUT single") == {"UNSIGNED-PAYLOAD"}
    create_and_complete = sent.pop("POST multi")  # an empty body, then XML: signed as before
    assert len(create_and_complete) == 2
    assert "UNSIGNED-PAYLOAD" not in create_and_complete
    assert not sent
    assert await _collect(minio.open_stream(f"staging/{unique}/multi")) == data
    assert await _collect(minio.open_stream(f"staging/{unique}/single")) == data[:1000]


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), MiB):
        yield data[start : start + MiB]


async def test_a_part_is_uploaded_while_the_next_is_produced(
    minio: MinioObjectStore, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked_for_more = threading.Event()
    real_upload = minio_store._MultipartUpload.upload

    def upload_once_the_producer_runs_on(self: minio_store._MultipartUpload, data: bytes) -> None:
        # A sequential put_stream would not ask the producer for more before this returns.
        if not asked_for_more.wait(timeout=30):
            raise AssertionError("the producer waited for the upload of the part before")
        real_upload(self, data)

    monkeypatch.setattr(minio_store._MultipartUpload, "upload", upload_once_the_producer_runs_on)
    data = os.urandom(11 * MiB)

    async def chunks() -> AsyncIterator[bytes]:
        yield data[: 5 * MiB]  # a whole part: its upload starts
        asked_for_more.set()
        yield data[5 * MiB :]

    stored = await minio.put_stream(f"staging/{unique}/overlap", chunks(), part_size=5 * MiB)

    assert stored.etag.endswith("-3")
    assert await _collect(minio.open_stream(f"staging/{unique}/overlap")) == data


async def test_short_stream_is_a_single_put(minio: MinioObjectStore, unique: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    stored = await minio.put_stream(f"small/{unique}", chunks(), part_size=MIN_PART_SIZE)
    assert stored.size == 11
    assert "-" not in stored.etag
    assert await _collect(minio.open_stream(f"small/{unique}")) == b"hello world"


async def test_failed_stream_leaves_no_object(minio: MinioObjectStore, unique: str) -> None:
    key = f"staging/{unique}/broken.bin"

    async def chunks() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MiB)  # one part uploaded, then the producer fails
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError, match="exporter crashed"):
        await minio.put_stream(key, chunks(), part_size=5 * MiB)
    with pytest.raises(NotFoundError):
        await minio.stat(key)


async def test_part_size_below_the_s3_minimum_is_refused(minio: MinioObjectStore) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(ValueError, match="part_size"):
        await minio.put_stream("never", chunks(), part_size=MiB)


async def test_ranged_reads(minio: MinioObjectStore, unique: str) -> None:
    key = f"ranges/{unique}"
    data = bytes(range(256)) * 40
    await minio.put_bytes(key, data)

    assert await _collect(minio.open_stream(key, offset=1000, length=300)) == data[1000:1300]
    assert await _collect(minio.open_stream(key, offset=len(data) - 7)) == data[-7:]
    assert await _collect(minio.open_stream(key, offset=5, length=0)) == b""


async def test_missing_objects(minio: MinioObjectStore, unique: str) -> None:
    with pytest.raises(NotFoundError):
        await minio.stat(f"missing/{unique}")
    with pytest.raises(NotFoundError):
        await _collect(minio.open_stream(f"missing/{unique}"))
    await minio.delete(f"missing/{unique}")  # idempotent


async def test_list_and_delete(minio: MinioObjectStore, unique: str) -> None:
    for name in ("b", "a", "c/d"):
        await minio.put_bytes(f"list/{unique}/{name}", name.encode())

    keys = [info.key async for info in minio.list(f"list/{unique}/")]
    assert keys == [f"list/{unique}/a", f"list/{unique}/b", f"list/{unique}/c/d"]

    await minio.delete(f"list/{unique}/a")
    await minio.delete(f"list/{unique}/a")
    remaining = [info.key async for info in minio.list(f"list/{unique}/")]
    assert remaining == [f"list/{unique}/b", f"list/{unique}/c/d"]


async def test_presigned_get(minio: MinioObjectStore, unique: str) -> None:
    key = f"download/{unique}/Email-run1.p7m"
    data = os.urandom(4096)
    await minio.put_bytes(key, data)

    url = await minio.presigned_get(key, timedelta(minutes=5), download_name="Email-run1.p7m")
    async with httpx.AsyncClient() as http:
        ok = await http.get(url)
        assert ok.status_code == 200
        assert ok.content == data
        assert 'filename="Email-run1.p7m"' in ok.headers["content-disposition"]

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        signature = query["X-Amz-Signature"]
        query["X-Amz-Signature"] = ("0" if signature[0] != "0" else "1") + signature[1:]
        tampered = urlunsplit(parts._replace(query=urlencode(query)))
        assert (await http.get(tampered)).status_code == 403


async def test_presigned_url_is_signed_for_the_public_endpoint(
    stack: StackInfo, unique: str
) -> None:
    settings = minio_settings(stack, "any-bucket", public_endpoint="files.example.com:443")
    store = MinioObjectStore(settings)  # signing needs no network: the region is configured
    try:
        url = await store.presigned_get(f"k/{unique}", timedelta(hours=1))
    finally:
        await store.close()
    assert url.startswith(f"http://files.example.com:443/any-bucket/k/{unique}?")
    assert "X-Amz-Signature=" in url


async def test_lifecycle_rule_is_idempotent_and_replaced(minio: MinioObjectStore) -> None:
    await minio.set_expiry_rule("", 31)
    await minio.set_expiry_rule("", 31)
    assert await minio.get_lifecycle() == (ExpiryRule(RETENTION_RULE_ID, "", 31),)

    await minio.set_expiry_rule("", 8)
    assert await minio.get_lifecycle() == (ExpiryRule(RETENTION_RULE_ID, "", 8),)

    await minio.set_expiry_rule("staging/", 2, rule_id="cdds-staging")
    rules = {rule.rule_id: rule for rule in await minio.get_lifecycle()}
    assert rules == {
        RETENTION_RULE_ID: ExpiryRule(RETENTION_RULE_ID, "", 8),
        "cdds-staging": ExpiryRule("cdds-staging", "staging/", 2),
    }


async def test_ensure_bucket_is_idempotent(minio: MinioObjectStore) -> None:
    await minio.ensure_bucket()
    await minio.ensure_bucket()


async def test_wrong_secret_key_names_the_setting(stack: StackInfo) -> None:
    settings = minio_settings(stack, "cdds-artifacts", secret_key=SecretStr("not-the-secret"))
    store = MinioObjectStore(settings)
    try:
        with pytest.raises(DependencyUnavailable) as caught:
            await store.ping()
    finally:
        await store.close()
    assert caught.value.setting == "CDDS_MINIO__SECRET_KEY"
    assert "not-the-secret" not in str(caught.value)


async def test_wrong_access_key_names_the_setting(stack: StackInfo) -> None:
    settings = minio_settings(stack, "cdds-artifacts", access_key="nobody")
    store = MinioObjectStore(settings)
    try:
        with pytest.raises(DependencyUnavailable) as caught:
            await store.ping()
    finally:
        await store.close()
    assert caught.value.setting == "CDDS_MINIO__ACCESS_KEY"


async def test_unreachable_endpoint_names_the_setting(stack: StackInfo) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = MinioObjectStore(minio_settings(stack, "cdds-artifacts", endpoint=f"127.0.0.1:{port}"))
    try:
        with pytest.raises(DependencyUnavailable) as caught:
            await store.ping()
    finally:
        await store.close()
    assert caught.value.setting == "CDDS_MINIO__ENDPOINT"
    assert f"127.0.0.1:{port}" in str(caught.value)
