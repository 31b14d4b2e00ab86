"""Export one partition of a run into staged parts (docs/pipeline.md §2).

Records stream from UCS in key order into a ZIP part until the next record (with room reserved for
its attachments) would make the sealed file exceed the split size; the part's attachments follow
in their own member. Each part is transit-encrypted on the fly and uploaded to the staging prefix
(claim check), announced with ``PartStaged`` (publisher confirms), then checkpointed. After a crash
the partition resumes after its last checkpoint; cuts are deterministic (plan-frozen level, limit
and end, fixed timestamps), so a part redone is the part that may already have been sealed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import cast

from cdds_exporter.deps import ExporterDeps
from cdds_exporter.dispatch import CLAIM_LEASE, wake
from cdds_exporter.planning import run_query, start_run
from cdds_exporter.rows import Rows
from cdds_exporter.zipwriter import UnknownDeflate, ZipPartWriter, deflate_named
from cdds_shared.crypto.transit import TransitEncryptor, part_aad
from cdds_shared.errors import PermanentError, TransientError
from cdds_shared.logging import get_logger
from cdds_shared.messaging.messages import ExportPartition, PartStaged
from cdds_shared.ports.ucs import KeyedRecord
from cdds_shared.runs import Checkpoint, Run, member_names
from cdds_shared.runs.lifecycle import complete_if_done
from cdds_shared.ucs.query import UcsQuery

__all__ = ["export_partition"]

log = get_logger("cdds.exporter")
HEARTBEAT_SECONDS = 2.0
CLAIM_RENEW_SECONDS = CLAIM_LEASE.total_seconds() / 4
ATTACHMENT_BATCH_BYTES = 4 << 20
UPLOAD_PART_SIZE = 8 << 20  # multipart chunk held in memory (S3 minimum is 5 MiB)


async def export_partition(command: ExportPartition, deps: ExporterDeps) -> None:
    run = await deps.runs.get(command.run_id)
    if run.status != "running" or run.plan is None:
        log.info("partition skipped: run not running", run_id=run.id, status=run.status)
        return
    if command.partition >= len(run.plan.partitions):
        raise PermanentError(f"run {run.id} has no partition {command.partition}")
    try:
        deflate_named(run.plan.deflate)
    except UnknownDeflate as exc:
        # Another library (or version) would cut other parts than the ones that may already be
        # sealed: the run fails with the reason rather than deliver files that disagree.
        raise PermanentError(f"{exc}: run the job again") from None
    export = _PartitionExport(deps, run, command.partition, str(command.message_id))
    # One delivery works on a partition at a time: a second copy of the message (published
    # twice) is acknowledged without work; RabbitMQ's redelivery of the same message after a
    # crash carries the claim's message id and resumes (docs/pipeline.md, "Fair share").
    claim = await deps.dispatch.claim(
        run.id, run.tenant, command.partition, export.message_id, CLAIM_LEASE
    )
    if claim == "busy":
        log.info(
            "partition already claimed: copy ignored", run_id=run.id, partition=command.partition
        )
        return
    if claim == "finished":
        await export.finished()  # a crash may have come between done and what follows it
        return
    await export.export()


@dataclass
class _Part:
    index: int
    after_id: str | None
    records: int = 0
    attachments: int = 0
    attachment_bytes: int = 0
    last_id: str | None = None
    full: bool = False
    size: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)


class _Empty(Exception):
    """The partition has no (more) records: nothing to stage."""


class _PartitionExport:
    def __init__(self, deps: ExporterDeps, run: Run, partition: int, message_id: str) -> None:
        assert run.plan is not None
        self.deps, self.run, self.partition, self.plan = deps, run, partition, run.plan
        self.message_id = message_id
        self._renewed = time.monotonic()
        self.members = member_names(run.record_type, run.id)
        self.with_attachments = run.record_type == "interaction"
        self.total = 0
        self._beat = 0.0

    async def export(self) -> None:
        runs, run, p = self.deps.runs, self.run, self.partition
        checkpoint = await runs.last_checkpoint(run.id, p)
        bounds = self.plan.partitions[p]
        if checkpoint is not None:
            await self._announce(checkpoint)  # a crash may have come between cut and message
            self.total = checkpoint["total"]
            if checkpoint["last"]:
                await self._done(parts=checkpoint["part"] + 1)
                return
            log.info("partition resumed", run_id=run.id, partition=p, part=checkpoint["part"] + 1)
        index = 0 if checkpoint is None else checkpoint["part"] + 1
        after = bounds.after_id if checkpoint is None else checkpoint["last_id"]
        query = run_query(run).with_range(after, bounds.until_id)
        batches = self.deps.ucs.stream_batches(query, attachment_sizes=self.with_attachments)
        async with Rows(batches) as rows:
            while True:
                if index and (await runs.get(run.id)).status != "running":
                    log.info("partition stopped: run ended", run_id=run.id, partition=p)
                    return
                part = _Part(index, after)
                try:
                    await self._stage(rows, part, query)
                except _Empty:
                    # Nothing (more) to export: an empty partition, or the records after the
                    # last checkpoint were deleted from UCS meanwhile.
                    await self._done(parts=index)
                    return
                if not part.full:
                    await self._done(parts=index + 1)
                    return
                index, after = index + 1, part.last_id

    async def _done(self, parts: int) -> None:
        await self.deps.runs.record_partition_progress(
            self.run.id, self.partition, records=self.total, done=True, parts=parts
        )
        await self.deps.dispatch.finish(self.run.id, self.partition)
        await self.finished()

    async def finished(self) -> None:
        """After the partition is done: complete the run if nothing is left to seal, and let
        the tenant's dispatch publish the next partition in its place."""
        await complete_if_done(
            self.deps.runs,
            self.deps.publish,
            self.run.id,
            objects=self.deps.objects,
            staging_prefix=self.deps.staging_prefix,
        )
        await wake(self.deps, self.run.tenant, start_run)

    async def _announce(self, checkpoint: Checkpoint) -> None:
        if not checkpoint["announced"]:
            await self.deps.publish(PartStaged.model_validate_json(checkpoint["message"]))
            await self.deps.runs.mark_checkpoint_announced(checkpoint["_id"])

    async def _stage(self, rows: Rows, part: _Part, query: UcsQuery) -> None:
        """Cut, upload and announce one part. The cut is checkpointed *before* the message goes
        out, so a part once announced is never cut differently, whatever happens to the source
        or this process afterwards."""
        run, p = self.run, self.partition
        data_key, wrapped = self.deps.transit.new_data_key()
        key = f"{self.deps.staging_prefix}{run.id}/{p:03d}-{part.index:03d}-{uuid.uuid4().hex[:8]}"
        encryptor = TransitEncryptor(data_key, part_aad(run.id, p, part.index))
        chunks = self._chunks(rows, part, query, encryptor)
        await self.deps.objects.put_stream(key, chunks, part_size=UPLOAD_PART_SIZE)
        counts = {self.members[0]: part.records}
        if self.with_attachments:
            counts[self.members[1]] = part.attachments
        message = PartStaged(
            correlation_id=run.id,
            run_id=run.id,
            partition=p,
            part=part.index,
            staging_key=key,
            size=part.size,
            sha256=part.sha256.hexdigest(),
            wrapped_key=wrapped,
            records=counts,
            last_in_partition=not part.full,
        )
        assert part.last_id is not None
        total = self.total + part.records
        checkpoint = await self.deps.runs.checkpoint(
            run.id,
            p,
            part.index,
            last_id=part.last_id,
            total=total,
            last=not part.full,
            message=message.model_dump_json(),
        )
        if checkpoint["message"] != message.model_dump_json():
            # Another exporter cut this part first (a duplicated message): its cut stands.
            await self.deps.objects.delete(key)
            if (checkpoint["last_id"], checkpoint["last"]) != (part.last_id, not part.full):
                raise TransientError("this partition was cut differently by another exporter")
        else:
            self.deps.metrics.staged(part.records, part.size)
        await self._announce(checkpoint)
        self.total = checkpoint["total"]
        await self.deps.runs.record_partition_progress(run.id, p, records=self.total)
        log.info(
            "part staged",
            run_id=run.id,
            partition=p,
            part=part.index,
            records=part.records,
            bytes=part.size,
            last=not part.full,
        )

    async def _chunks(
        self, rows: Rows, part: _Part, query: UcsQuery, encryptor: TransitEncryptor
    ) -> AsyncIterator[bytes]:
        writer = ZipPartWriter(
            limit=self.plan.zip_limit,
            level=self.plan.compression_level,
            deflate=deflate_named(self.plan.deflate),
            modified=self.run.requested_at,
        )

        def sealed(data: bytes) -> bytes:
            part.sha256.update(data)
            part.size += len(data)
            return data

        yield sealed(encryptor.header())
        writer.begin(self.members[0])
        while (batch := await rows.peek()) is not None:
            taken = await asyncio.to_thread(self._fill, writer, batch, part)
            rows.consume(taken)
            if data := writer.drain():
                yield sealed(encryptor.update(data))
            await self._heartbeat(part)
            if taken < len(batch):
                part.full = True
                break
        if part.records == 0:
            raise _Empty
        writer.end()
        if self.with_attachments:
            writer.begin(self.members[1])
            span = query.with_range(part.after_id, part.last_id)
            async with aclosing(self._attachment_batches(span)) as batches:
                async for lines in batches:
                    await asyncio.to_thread(self._write_all, writer, lines)
                    part.attachments += len(lines)
                    if data := writer.drain():
                        yield sealed(encryptor.update(data))
            writer.end()
        writer.close()
        if writer.emitted > self.plan.zip_limit:
            raise TransientError("the source changed during the export (attachments grew)")
        yield sealed(encryptor.update(writer.drain()) + encryptor.finalize())

    def _fill(self, writer: ZipPartWriter, batch: list[KeyedRecord], part: _Part) -> int:
        """Write records while they fit (in a worker thread: zlib releases the GIL).

        A whole batch goes in with one call when it certainly fits; only near the end of a
        part are records weighed one by one, exactly."""
        bound = writer.member_bound
        attachments = self.members[1] if self.with_attachments else None
        if len(batch) > 1:
            data = b"\n".join(record for _, record, _ in batch) + b"\n"
            extra = sum(size for _, _, size in batch)
            reserve = bound(attachments, part.attachment_bytes + extra) if attachments else 0
            if writer.surely_fits(len(data), reserve=reserve):
                writer.write(data)
                part.records += len(batch)
                part.attachment_bytes += extra
                part.last_id = batch[-1][0]
                return len(batch)
        for i, (record_id, record, attachment_bytes) in enumerate(batch):
            reserve = 0
            if attachments is not None:
                reserve = bound(attachments, part.attachment_bytes + attachment_bytes)
            if not writer.try_write(record + b"\n", reserve=reserve):
                if part.records == 0:
                    raise PermanentError(
                        f"record {record_id} needs more room than a whole file of the run's "
                        f"split size ({self.run.split_size_bytes} bytes) offers: choose a larger "
                        "file split size"
                    )
                return i
            part.records += 1
            part.attachment_bytes += attachment_bytes
            part.last_id = record_id
        return len(batch)

    @staticmethod
    def _write_all(writer: ZipPartWriter, lines: list[bytes]) -> None:
        for line in lines:
            writer.write(line + b"\n")

    async def _attachment_batches(self, span: UcsQuery) -> AsyncGenerator[list[bytes], None]:
        batch: list[bytes] = []
        size = 0
        lines = cast(AsyncGenerator[bytes, None], self.deps.ucs.stream_attachments(span))
        async with aclosing(lines):
            async for line in lines:
                batch.append(line)
                size += len(line)
                if size >= ATTACHMENT_BATCH_BYTES:
                    yield batch
                    batch, size = [], 0
        if batch:
            yield batch

    async def _heartbeat(self, part: _Part) -> None:
        now = time.monotonic()
        if now - self._renewed >= CLAIM_RENEW_SECONDS:
            self._renewed = now
            if not await self.deps.dispatch.renew(self.run.id, self.partition, self.message_id):
                # Our claim lapsed and another delivery took over; both cut the same parts and
                # the first checkpoint of each wins, so carrying on is safe.
                log.warning(
                    "partition claim taken over", run_id=self.run.id, partition=self.partition
                )
        if now - self._beat >= HEARTBEAT_SECONDS:
            self._beat = now
            await self.deps.runs.record_partition_progress(
                self.run.id, self.partition, records=self.total + part.records
            )
