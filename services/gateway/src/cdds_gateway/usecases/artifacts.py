"""Artifacts: the sealed files, their days left, downloads, deletion (docs/web.md § Artifacts).

A file is served only while it is ``available`` and before ``expires_at`` (410 afterwards, even
if the janitor has not removed it yet). Downloads stream from MinIO through the gateway, so
``Range``, ``ETag`` and the audit of each download stay in one place; in ``redirect`` mode
(``CDDS_GATEWAY__DOWNLOAD_MODE``) the same checks and audit end in a 307 to a presigned URL
instead, and the client fetches the bytes from the object store itself.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from cdds_gateway.deps import GatewayDeps
from cdds_gateway.principal import Principal
from cdds_gateway.usecases.audit import record
from cdds_gateway.usecases.errors import gone, invalid, not_found
from cdds_gateway.usecases.ranges import (
    ByteRange,
    Unsatisfiable,
    etag_matches,
    if_range_allows,
    parse_range,
)
from cdds_gateway.usecases.scope import read_key, scope
from cdds_gateway.usecases.views import ArtifactView, Page, artifact_state
from cdds_gateway.usecases.zipstream import ZipEntry, zip_stream
from cdds_shared.errors import NotFoundError
from cdds_shared.messaging.messages import RecordType
from cdds_shared.runs.model import Artifact, utcnow

__all__ = [
    "ARTIFACT_SORTS",
    "MAX_ZIP_FILES",
    "REDIRECT_VALIDITY",
    "Download",
    "delete_artifact",
    "delete_artifacts",
    "get_artifact",
    "list_artifacts",
    "load_artifact",
    "open_download",
    "open_zip",
    "remove_artifact",
]

ARTIFACT_SORTS = {"created": "created_at", "size": "size", "name": "name", "expires": "expires_at"}
MAX_ZIP_FILES = 100
CONTENT_TYPE = "application/pkcs7-mime"
REDIRECT_VALIDITY = timedelta(seconds=60)
"""How long a redirect's presigned URL may be used to start a download (not to finish it)."""
CANONICAL_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")
Order = Literal["asc", "desc"]
T = TypeVar("T")


@dataclass
class Download:
    """What to answer: ``status`` 200, 206, 304, 307 or 416, the headers, and the body
    (200/206)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: AsyncIterator[bytes] | None = None


def _disposition(name: str) -> str:
    safe = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f'attachment; filename="{safe}"'


def _hidden_since(deps: GatewayDeps) -> datetime:
    """Runs deleted while they were going since then may have had a file sealed just before the
    cancellation and recorded after the deletion removed the others: their files are treated as
    deleted too."""
    return utcnow() - timedelta(seconds=deps.settings.retention.seconds)


async def remove_artifact(deps: GatewayDeps, artifact: Artifact, now: datetime) -> None:
    """Delete the object, then mark the document (a failure in between leaves it retryable)."""
    await deps.objects.delete(artifact.object_key)
    await deps.runs.mark_artifact_removed(artifact.id, now)


async def load_artifact(deps: GatewayDeps, principal: Principal, artifact_id: str) -> Artifact:
    return await _unless_hidden(deps, await _in_scope(deps, principal, artifact_id))


async def _in_scope(deps: GatewayDeps, principal: Principal, artifact_id: str) -> Artifact:
    artifact = await deps.runs.artifact_in_scope(artifact_id, scope(principal))
    if artifact is None:
        raise not_found("artifact", artifact_id)
    return artifact


async def _unless_hidden(deps: GatewayDeps, artifact: Artifact) -> Artifact:
    """The artifact, or it ``deleted`` when its run's deletion hid it (that deletion finished)."""
    if artifact.status == "available" and await deps.runs.was_cancelled_and_deleted_since(
        artifact.run_id, _hidden_since(deps)
    ):
        await remove_artifact(deps, artifact, utcnow())  # finish the run's deletion
        artifact = artifact.model_copy(update={"status": "deleted"})
    return artifact


async def list_artifacts(
    deps: GatewayDeps,
    principal: Principal,
    *,
    run_id: str | None = None,
    type: RecordType | None = None,
    owner: str | None = None,
    sort: str = "created",
    order: Order = "desc",
    limit: int = 100,
    offset: int = 0,
) -> Page[ArtifactView]:
    """The caller's files still available (an admin: the tenant's, or ``owner``'s)."""
    if sort not in ARTIFACT_SORTS:
        raise invalid(f"sort: one of {', '.join(ARTIFACT_SORTS)}")
    key = read_key("artifacts", principal, owner, run_id, type, sort, order, limit, offset)
    return await deps.reads(
        key,
        lambda: _list_artifacts(deps, principal, run_id, type, owner, sort, order, limit, offset),
    )


async def _list_artifacts(
    deps: GatewayDeps,
    principal: Principal,
    run_id: str | None,
    type: RecordType | None,
    owner: str | None,
    sort: str,
    order: Order,
    limit: int,
    offset: int,
) -> Page[ArtifactView]:
    now = utcnow()
    where = scope(principal, owner)
    artifacts, total = await deps.runs.page_of_available_artifacts(
        where,
        now=now,
        run_id=run_id,
        record_type=type,
        hidden_runs=await deps.runs.cancelled_and_deleted_since(where, _hidden_since(deps)),
        sort=ARTIFACT_SORTS[sort],
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    items = [ArtifactView.of(a, now) for a in artifacts]
    return Page(items=items, total=total, limit=limit, offset=offset)


async def get_artifact(deps: GatewayDeps, principal: Principal, artifact_id: str) -> ArtifactView:
    """Its details, also once expired or deleted (``status`` says which)."""
    return ArtifactView.of(await load_artifact(deps, principal, artifact_id), utcnow())


def _refuse_gone(artifact: Artifact, now: datetime, prefix: str = "") -> None:
    state = artifact_state(artifact, now)
    if state == "expired":
        expired = f"{artifact.expires_at:%Y-%m-%d %H:%M} UTC"
        raise gone(f"{prefix}this file expired on {expired} and was deleted")
    if state == "deleted":
        raise gone(f"{prefix}this file was deleted")


async def open_download(
    deps: GatewayDeps,
    principal: Principal,
    artifact_id: str,
    *,
    range_header: str | None = None,
    if_none_match: str | None = None,
    if_range: str | None = None,
    client: str | None = None,
) -> Download:
    """The file's bytes (all, or the one ``Range``), or 304 when the client has it.

    Whether the file's run was deleted is asked at the same time as the object store is (the
    URL signed, or the first chunk read): one round trip fewer per download, and the answer is
    still 410 when it was."""
    artifact = await _in_scope(deps, principal, artifact_id)
    _refuse_gone(artifact, utcnow())
    etag = f'"{artifact.sha256}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-cache"}
    if etag_matches(if_none_match, etag):
        _refuse_gone(await _unless_hidden(deps, artifact), utcnow())
        return Download(304, headers)
    try:
        wanted = (
            parse_range(range_header, artifact.size) if if_range_allows(if_range, etag) else None
        )
    except Unsatisfiable:
        _refuse_gone(await _unless_hidden(deps, artifact), utcnow())
        return Download(416, {**headers, "Content-Range": f"bytes */{artifact.size}"})
    offset, length = (wanted.start, wanted.length) if wanted else (0, artifact.size)
    detail: dict[str, Any] = {"bytes": length, "name": artifact.name}
    if wanted is not None:
        detail["range"] = wanted.content_range(artifact.size)
    if deps.settings.gateway.download_mode == "redirect" and _store_answers_alike(
        range_header, wanted
    ):
        return await _redirect(deps, principal, artifact, detail, client)
    body = await _when_not_hidden(
        deps,
        artifact,
        _primed(deps.objects.open_stream(artifact.object_key, offset=offset, length=length)),
    )
    headers |= {
        "Content-Type": CONTENT_TYPE,
        "Content-Length": str(length),
        "Content-Disposition": _disposition(artifact.name),
    }
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range(artifact.size)
    await record(deps, principal, "artifact.download", artifact.id, client=client, **detail)
    deps.metrics.downloads.started("stream")
    return Download(206 if wanted else 200, headers, deps.metrics.downloads.counted("stream", body))


def _store_answers_alike(range_header: str | None, wanted: ByteRange | None) -> bool:
    """The object store, sent the client's own headers, answers as the gateway would: the
    whole file without ``Range``, or the one range the gateway honours written canonically.
    It ignores ``If-Range`` and parses ``Range`` more strictly, so a range the gateway ignores
    (several, another unit, spaces, an ``If-Range`` that no longer matches) is streamed here."""
    if range_header is None:
        return True
    return wanted is not None and CANONICAL_RANGE.fullmatch(range_header) is not None


async def _redirect(
    deps: GatewayDeps,
    principal: Principal,
    artifact: Artifact,
    detail: dict[str, Any],
    client: str | None,
) -> Download:
    """307 to a presigned URL of the object (the client sends its ``Range`` there itself).
    The object must still exist (410 otherwise, as when streaming), and the download is
    audited before the URL is handed out."""
    sign = deps.objects.presigned_get(
        artifact.object_key,
        REDIRECT_VALIDITY,
        download_name=artifact.name,
        content_type=CONTENT_TYPE,
    )

    async def stat_and_sign() -> str:
        try:  # both at once: each waits on a thread of the store's pool
            _, url = await asyncio.gather(deps.objects.stat(artifact.object_key), sign)
        except NotFoundError:
            raise gone("this file is no longer stored") from None
        return url

    url = await _when_not_hidden(deps, artifact, stat_and_sign())
    await record(
        deps, principal, "artifact.download", artifact.id, client=client, via="redirect",
        **detail,
    )  # fmt: skip
    deps.metrics.downloads.started("redirect")
    # The URL is a credential for a minute: never cached, never shown to another site.
    return Download(307, {"Location": url, "Cache-Control": "no-store"})


async def _when_not_hidden(deps: GatewayDeps, artifact: Artifact, store: Awaitable[T]) -> T:
    """``store``'s result, awaited together with the check that the artifact's run was not
    deleted: a hidden file is 410 (its deletion finished, a stream opened on it closed)."""
    found, done = await asyncio.gather(
        _unless_hidden(deps, artifact), store, return_exceptions=True
    )
    if isinstance(found, BaseException):
        await _close(done)
        raise found
    if found.status == "deleted":
        await _close(done)
        _refuse_gone(found, utcnow())
    if isinstance(done, BaseException):
        raise done
    return done


async def _close(done: object) -> None:
    if isinstance(done, AsyncGenerator):
        await done.aclose()


async def _primed(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Read the first chunk now, so a missing object is a 410 rather than a broken response."""
    try:
        first = await anext(stream)
    except NotFoundError:
        await stream.aclose()  # type: ignore[attr-defined]
        raise gone("this file is no longer stored") from None
    except StopAsyncIteration:
        first = b""

    async def chained() -> AsyncIterator[bytes]:
        async with aclosing(stream):  # type: ignore[type-var]
            yield first
            async for chunk in stream:
                yield chunk

    return chained()


async def delete_artifact(
    deps: GatewayDeps, principal: Principal, artifact_id: str, *, client: str | None = None
) -> None:
    """Delete it now (also if expired and not yet removed); deleting it again does nothing."""
    artifact = await load_artifact(deps, principal, artifact_id)
    if artifact.status == "deleted":
        return
    await remove_artifact(deps, artifact, utcnow())
    await record(deps, principal, "artifact.delete", artifact.id, client=client, name=artifact.name)


async def delete_artifacts(
    deps: GatewayDeps,
    principal: Principal,
    artifact_ids: Sequence[str],
    *,
    client: str | None = None,
) -> int:
    """Delete up to ``MAX_ZIP_FILES`` files; all or none (404 if one is unknown). The number
    deleted now (files deleted before are left as they are)."""
    ids = list(dict.fromkeys(artifact_ids))
    if not 1 <= len(ids) <= MAX_ZIP_FILES:
        raise invalid(f"ids: between 1 and {MAX_ZIP_FILES} artifact ids")
    artifacts = [await load_artifact(deps, principal, i) for i in ids]
    deleted = 0
    for artifact in artifacts:
        if artifact.status != "deleted":
            await remove_artifact(deps, artifact, utcnow())
            await record(
                deps, principal, "artifact.delete", artifact.id, client=client, name=artifact.name
            )
            deleted += 1
    return deleted


async def open_zip(
    deps: GatewayDeps,
    principal: Principal,
    artifact_ids: Sequence[str],
    *,
    client: str | None = None,
) -> Download:
    """Up to ``MAX_ZIP_FILES`` files as one ZIP stream (stored, not recompressed). Refused as a
    whole if one of them is unknown (404) or gone (410), so the archive is never partial."""
    ids = list(dict.fromkeys(artifact_ids))
    if not 1 <= len(ids) <= MAX_ZIP_FILES:
        raise invalid(f"ids: between 1 and {MAX_ZIP_FILES} artifact ids")
    artifacts = [await load_artifact(deps, principal, i) for i in ids]
    now = utcnow()
    for artifact in artifacts:
        _refuse_gone(artifact, now, f"{artifact.name}: ")
        try:
            await deps.objects.stat(artifact.object_key)
        except NotFoundError:
            raise gone(f"{artifact.name}: this file is no longer stored") from None

    def entry(a: Artifact) -> ZipEntry:
        return ZipEntry(
            a.name, a.size, a.created_at, lambda: deps.objects.open_stream(a.object_key)
        )

    for artifact in artifacts:
        await record(
            deps, principal, "artifact.download", artifact.id, client=client, bytes=artifact.size,
            name=artifact.name, via="zip",
        )  # fmt: skip
    name = f"cdds-{len(artifacts)}-files-{now:%Y%m%dT%H%M%SZ}.zip"
    headers = {"Content-Type": "application/zip", "Content-Disposition": _disposition(name)}
    deps.metrics.downloads.started("zip")
    body = deps.metrics.downloads.counted("zip", zip_stream([entry(a) for a in artifacts]))
    return Download(200, headers, body)
