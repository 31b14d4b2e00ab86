"""One file's download in both modes (``CDDS_GATEWAY__DOWNLOAD_MODE``), on the in-memory fakes
(unit: no server). The same against MinIO, the API and the ``cdds`` client: test_artifacts.py
and tests/client/test_cli_redirect.py."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from typing import Literal

import pytest

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.artifacts import open_download
from cdds_gateway.usecases.scope import scope
from cdds_shared.errors import Gone, NotFoundError
from cdds_shared.runs import Artifact, MemberCount, artifact_id, utcnow
from cdds_shared.runs.pages import RUNS
from cdds_shared.settings import Settings
from tests.fakes import FakeDocumentStore, FakeObjectStore, RecordingPublisher

pytestmark = pytest.mark.unit

ALICE = Principal("u-alice", "alice", "acme", 7001, ("exporter",))
CAROL = Principal("u-carol", "carol", "other", 7002, ("exporter",))
Mode = Literal["proxy", "redirect"]


def deps_in(mode: Mode) -> GatewayDeps:
    settings = Settings(gateway={"download_mode": mode})  # type: ignore[arg-type]
    return GatewayDeps.of(settings, FakeDocumentStore(), FakeObjectStore(), RecordingPublisher())


async def alices_file(
    deps: GatewayDeps, *, size: int = 1000, expires_in: timedelta = timedelta(days=30)
) -> tuple[Artifact, bytes]:
    data = os.urandom(size)
    run_id = os.urandom(6).hex()
    key = f"artifacts/acme/{run_id}/0.p7m"
    await deps.objects.put_bytes(key, data)
    created = utcnow()
    artifact = Artifact(
        id=artifact_id(run_id, 0, 0),
        run_id=run_id,
        tenant=ALICE.tenant,
        owner=ALICE.user_id,
        record_type="interaction",
        partition=0,
        part=0,
        last_in_partition=True,
        name=f"Interaction-{run_id}-000-000.zip.p7m",
        object_key=key,
        size=size,
        sha256=hashlib.sha256(data).hexdigest(),
        members=[MemberCount(name=f"Interaction-{run_id}.jsonl", records=1)],
        seal="cms-authenveloped-aes256gcm-rsaoaep-sha256",
        certificate_sha256="1" * 64,
        created_at=created,
        expires_at=created + expires_in,
    )
    assert await deps.runs.add_artifact(artifact)
    return artifact, data


async def downloads_of(deps: GatewayDeps, artifact: Artifact) -> list[dict[str, object]]:
    events = await deps.audit.find(action="artifact.download", target=artifact.id)
    return [e.detail for e in events]


async def test_proxy_is_the_default_and_streams_the_bytes() -> None:
    assert Settings().gateway.download_mode == "proxy"
    deps = deps_in("proxy")
    artifact, data = await alices_file(deps)
    found = await open_download(deps, ALICE, artifact.id)
    assert found.status == 200 and found.body is not None
    assert b"".join([chunk async for chunk in found.body]) == data
    assert await downloads_of(deps, artifact) == [{"bytes": 1000, "name": artifact.name}]


async def test_redirect_is_a_307_to_a_presigned_url_after_the_audit() -> None:
    deps = deps_in("redirect")
    artifact, _ = await alices_file(deps)
    found = await open_download(deps, ALICE, artifact.id, client="10.0.0.9")
    assert found.status == 307 and found.body is None
    # The fake signs as ``<endpoint>/<key>?expires=<seconds>``: the object, for a minute.
    assert found.headers == {
        "Location": f"http://fake/{artifact.object_key}?expires=60",
        "Cache-Control": "no-store",
    }
    assert await downloads_of(deps, artifact) == [
        {"bytes": 1000, "name": artifact.name, "via": "redirect"}
    ]


@pytest.mark.parametrize(
    ("range_", "audited"),
    [
        ("bytes=100-", "bytes 100-999/1000"),
        ("bytes=0-9", "bytes 0-9/1000"),
        ("bytes=-10", "bytes 990-999/1000"),
        ("bytes=990-5000", "bytes 990-999/1000"),
    ],
)
async def test_a_range_is_redirected_and_audited(range_: str, audited: str) -> None:
    deps = deps_in("redirect")
    artifact, _ = await alices_file(deps)
    etag = f'"{artifact.sha256}"'
    found = await open_download(deps, ALICE, artifact.id, range_header=range_, if_range=etag)
    assert found.status == 307
    [detail] = await downloads_of(deps, artifact)
    assert detail["range"] == audited and detail["via"] == "redirect"


@pytest.mark.parametrize(
    ("range_", "if_range", "status", "part"),
    [
        ("bytes=0-1,5-6", None, 200, slice(None)),  # several ranges: the whole file
        ("bytes=9-3", None, 200, slice(None)),  # invalid: ignored
        ("items=0-1", None, 200, slice(None)),
        ("bytes=0-9", '"another-file"', 200, slice(None)),  # If-Range no longer matches
        ("bytes= 0-9", None, 206, slice(0, 10)),  # the gateway reads it, the store would not
    ],
)
async def test_what_the_store_would_answer_otherwise_is_streamed(
    range_: str, if_range: str | None, status: int, part: slice
) -> None:
    deps = deps_in("redirect")
    artifact, data = await alices_file(deps)
    found = await open_download(deps, ALICE, artifact.id, range_header=range_, if_range=if_range)
    assert found.status == status and found.body is not None
    assert b"".join([chunk async for chunk in found.body]) == data[part]
    [detail] = await downloads_of(deps, artifact)
    assert "via" not in detail


async def test_redirect_mode_answers_304_and_416_itself() -> None:
    deps = deps_in("redirect")
    artifact, _ = await alices_file(deps)
    etag = f'"{artifact.sha256}"'
    assert (await open_download(deps, ALICE, artifact.id, if_none_match=etag)).status == 304
    beyond = await open_download(deps, ALICE, artifact.id, range_header="bytes=1000-")
    assert beyond.status == 416 and beyond.headers["Content-Range"] == "bytes */1000"
    assert await downloads_of(deps, artifact) == []


async def test_redirect_mode_refuses_what_it_refuses_when_streaming() -> None:
    deps = deps_in("redirect")
    expired, _ = await alices_file(deps, expires_in=timedelta(seconds=-1))
    with pytest.raises(Gone, match="expired"):
        await open_download(deps, ALICE, expired.id)
    vanished, _ = await alices_file(deps)
    await deps.objects.delete(vanished.object_key)
    with pytest.raises(Gone, match="no longer stored"):
        await open_download(deps, ALICE, vanished.id)
    mine, _ = await alices_file(deps)
    with pytest.raises(NotFoundError):
        await open_download(deps, CAROL, mine.id)
    for artifact in (expired, vanished, mine):
        assert await downloads_of(deps, artifact) == []


@pytest.mark.parametrize("mode", ["proxy", "redirect"])
async def test_a_file_of_a_run_deleted_while_going_is_gone_in_both_modes(mode: Mode) -> None:
    """A file sealed just before its run was cancelled and deleted, recorded after that deletion
    removed the others: asked for at the same time as the object store, the run's deletion
    still answers 410, finishes the deletion (object and document) and audits no download."""
    documents = FakeDocumentStore()
    deps = GatewayDeps.of(
        Settings(gateway={"download_mode": mode}),  # type: ignore[arg-type]
        documents,
        FakeObjectStore(),
        RecordingPublisher(),
    )
    for how in ("whole", "range", "cached"):
        artifact, _ = await alices_file(deps)
        headers = {
            "whole": {},
            "range": {"range_header": "bytes=0-9"},
            "cached": {"if_none_match": f'"{artifact.sha256}"'},
        }[how]
        await documents.collection(RUNS).insert(
            {"_id": artifact.run_id, "status": "cancelled", "deleted_at": utcnow()}
        )
        with pytest.raises(Gone, match="deleted"):
            await open_download(deps, ALICE, artifact.id, **headers)  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            await deps.objects.stat(artifact.object_key)
        found = await deps.runs.artifact_in_scope(artifact.id, scope(ALICE))
        assert found is not None and found.status == "deleted", how
        assert await downloads_of(deps, artifact) == [], how
