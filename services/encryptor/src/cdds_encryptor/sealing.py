"""Seal one staged part for its owner (docs/pipeline.md §3).

staging object → transit decrypt → CMS (AuthEnvelopedData, or EnvelopedData for legacy users) →
multipart upload of the artifact → artifact recorded (insert-once) → staging object deleted →
``ArtifactDue`` (retention timer) and ``PartSealed``; and ``RunCompleted`` once the
run's last part is sealed. Only then is the message acked. Every step is safe to repeat: a
redelivered part that is already recorded only cleans up.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import timedelta

from cdds_encryptor.deps import EncryptorDeps
from cdds_shared.certificates import CertificateUnusable, usable_certificate
from cdds_shared.crypto.cms import Recipient, Sealer
from cdds_shared.crypto.transit import OVERHEAD, TransitDecryptor, TransitError, part_aad
from cdds_shared.errors import ForgedMessage, NotFoundError
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import PartSealed, PartStaged
from cdds_shared.runs import Artifact, MemberCount, Run, artifact_id, entity_type, utcnow
from cdds_shared.runs.lifecycle import ARTIFACT_PREFIX, complete_if_done, fail_run

__all__ = ["SEALS", "seal_part"]

log = get_logger("cdds.encryptor")
UPLOAD_PART_SIZE = 8 << 20  # multipart chunk held in memory (S3 minimum is 5 MiB)
SEALS = {
    "gcm": "cms-authenveloped-aes256gcm-rsaoaep-sha256",
    "legacy-cbc": "cms-enveloped-aes256cbc-rsapkcs1v15",
}


async def seal_part(message: PartStaged, deps: EncryptorDeps) -> None:
    run_id = message.run_id
    if not message.staging_key.startswith(f"{deps.staging_prefix}{run_id}/"):
        # Every path below deletes the staged object: a message naming any other key (another
        # run's part, a sealed artifact) could delete it. Its run is left alone.
        raise ForgedMessage(f"PartStaged of run {run_id} names an object outside its staging")
    try:
        run = await deps.runs.get(run_id)
    except NotFoundError:
        await deps.objects.delete(message.staging_key)
        log.warning("staged part of an unknown run removed", run_id=run_id)
        return
    aid = artifact_id(run_id, message.partition, message.part)
    if run.status != "running":
        await deps.objects.delete(message.staging_key)
        log.info("staged part of an ended run removed", run_id=run_id, status=run.status)
        return
    recorded = await deps.runs.find_artifact(aid)
    if recorded is not None:  # a redelivery or a redone part
        await deps.objects.delete(message.staging_key)
        await _finish(deps, recorded)
        return
    try:
        cert = await usable_certificate(deps.certificates, run.owner)
    except CertificateUnusable as exc:
        await deps.objects.delete(message.staging_key)
        await _fail(deps, run_id, f"cannot seal the files: {exc}")
        return
    try:
        with deps.metrics.sealing():
            artifact = await _seal(message, run, aid, cert.der, cert.seal_mode, cert.sha256, deps)
    except (TransitError, NotFoundError) as exc:
        # A copy of this message sealed the part meanwhile and removed the staged object.
        recorded = await deps.runs.find_artifact(aid)
        if recorded is not None:
            await _finish(deps, recorded)
            return
        await deps.objects.delete(message.staging_key)
        await _fail(deps, run_id, f"a staged part was damaged or lost in transit: {exc}")
        return
    except _TooLarge as exc:
        await deps.objects.delete(message.staging_key)
        await _fail(deps, run_id, str(exc))
        return
    if not await deps.runs.add_artifact(artifact):
        await deps.objects.delete(artifact.object_key)  # a concurrent duplicate won
        artifact = await deps.runs.find_artifact(aid) or artifact
    else:
        deps.metrics.sealed(artifact.size)
        log.info("part sealed", run_id=run_id, artifact_id=aid, bytes=artifact.size)
    await deps.objects.delete(message.staging_key)
    await _finish(deps, artifact)


async def _finish(deps: EncryptorDeps, artifact: Artifact) -> None:
    """Start the artifact's retention timer and announce the sealed part (once: flagged after
    both are confirmed, so a crash in between repeats them rather than loses them), then
    complete the run if it was the last."""
    if not artifact.announced:
        # A full hold queue raises here: the message is retried, then dead-lettered (loud).
        await deps.timer.schedule(artifact)
        await deps.publish(
            PartSealed(
                correlation_id=artifact.run_id,
                run_id=artifact.run_id,
                artifact_id=artifact.id,
                object_key=artifact.object_key,
                size=artifact.size,
                sha256=artifact.sha256,
                expires_at=artifact.expires_at,
            )
        )
        await deps.runs.mark_artifact_announced(artifact.id)
    await complete_if_done(
        deps.runs,
        deps.publish,
        artifact.run_id,
        objects=deps.objects,
        staging_prefix=deps.staging_prefix,
    )


class _TooLarge(Exception):
    """The sealed file would exceed the run's split size (the certificate changed mid-run)."""


async def _fail(deps: EncryptorDeps, run_id: str, reason: str) -> None:
    await fail_run(deps.runs, deps.publish, deps.objects, deps.staging_prefix, run_id, reason)


async def _seal(
    message: PartStaged,
    run: Run,
    aid: str,
    cert_der: bytes,
    mode: str,
    cert_sha256: str,
    deps: EncryptorDeps,
) -> Artifact:
    recipient = Recipient.load(cert_der)
    data_key = deps.transit.unwrap(message.wrapped_key)
    aad = part_aad(run.id, message.partition, message.part)
    plaintext_size = message.size - OVERHEAD
    sealer = Sealer(recipient, plaintext_size, mode=mode)  # type: ignore[arg-type]
    if sealer.total_size > run.split_size_bytes:
        # The exporter sized parts for the certificate on file when the run was planned.
        raise _TooLarge(
            f"the certificate of user {run.owner} was replaced during the run by one that needs "
            f"a larger envelope: a sealed file would be {sealer.total_size} bytes, over the "
            f"file split size of {run.split_size_bytes}; run the export again"
        )
    name = f"{entity_type(run.record_type)}-{run.id}-{message.partition:03d}-{message.part:03d}"
    key = f"{ARTIFACT_PREFIX}{run.tenant}/{run.id}/{aid}-{uuid.uuid4().hex[:8]}.p7m"
    digest = hashlib.sha256()

    async def sealed() -> AsyncIterator[bytes]:
        staged = hashlib.sha256()
        transit = TransitDecryptor(data_key, aad, message.size)
        yield _counted(digest, sealer.header())

        def seal(chunk: bytes) -> bytes:
            staged.update(chunk)
            return _counted(digest, sealer.update(transit.update(chunk)))

        async with aclosing(deps.objects.open_stream(message.staging_key)) as chunks:
            async for chunk in chunks:
                # In a worker thread: AES-GCM and SHA-256 release the GIL, so two parts seal
                # on two cores and the event loop keeps reading and uploading meanwhile.
                yield await asyncio.to_thread(seal, chunk)
        if staged.hexdigest() != message.sha256:
            raise TransitError("checksum of the staged part does not match its message")
        transit.finalize()  # raises before the last bytes go out: the upload is aborted
        yield _counted(digest, sealer.finalize())

    info = await deps.objects.put_stream(
        key, sealed(), part_size=UPLOAD_PART_SIZE, content_type="application/pkcs7-mime"
    )
    if info.size != sealer.total_size:
        await deps.objects.delete(key)
        raise TransitError(f"sealed {info.size} bytes, expected {sealer.total_size}")
    created = utcnow()
    return Artifact(
        id=aid,
        run_id=run.id,
        tenant=run.tenant,
        owner=run.owner,
        record_type=run.record_type,
        partition=message.partition,
        part=message.part,
        last_in_partition=message.last_in_partition,
        name=f"{name}.zip.p7m",
        object_key=key,
        size=info.size,
        sha256=digest.hexdigest(),
        seal=SEALS[mode],
        members=[MemberCount(name=n, records=c) for n, c in message.records.items()],
        certificate_sha256=cert_sha256,
        created_at=created,
        expires_at=created + timedelta(seconds=deps.retention_seconds),
    )


def _counted(digest: hashlib._Hash, data: bytes) -> bytes:
    digest.update(data)
    return data
