"""One scenario against the provisioned private stack: start a run through the gateway, inject
the fault in its middle, follow it to its end within a bounded deadline, and judge the outcome —
completed with exactly the UCS records, or failed with a reason naming the dependency."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika

from cdds_shared.adapters.minio_store import MinioObjectStore
from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.errors import NotFoundError
from cdds_shared.messaging import make_broker, publish
from cdds_shared.messaging.messages import RunRequested
from cdds_shared.runs import RunStore
from cdds_shared.runs.model import Run
from cdds_shared.settings import Settings
from cdds_tools.chaos.faults import Supervisor, kill, outage
from cdds_tools.chaos.provision import CHAOS_TENANT, VICTIM_TENANT, Provisioned
from cdds_tools.chaos.scenarios import DEPENDENCY_NAMES, Scenario
from cdds_tools.devstack import Stack
from cdds_tools.devstack.stack import INFRA, SERVICES
from cdds_tools.gateway_client import decrypt_files
from cdds_tools.ucs_compare import compare_interactions

__all__ = ["Harness", "Result"]

SPLIT = 1 << 20  # the smallest split size: many parts per partition, faults land between cuts
MID_RUN_TIMEOUT = 120.0
SETTLE_SECONDS = 240.0  # after the fault: the run must have ended by then
FORGED_TIMEOUT = 60.0
DEAD_RUN_REQUESTS = "cdds.exporter.run-requested.dead"


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    ok: bool
    outcome: str
    seconds: float
    checked: str

    def line(self) -> str:
        mark = "ok   " if self.ok else "WRONG"
        return (
            f"{mark} {self.scenario.name:24} {self.scenario.fault:44} {self.outcome:58} "
            f"{self.seconds:6.1f} s  {self.checked}"
        )


@dataclass
class Harness:
    stack: Stack
    settings: Settings
    who: Provisioned
    workdir: Path

    async def run(self, scenario: Scenario) -> Result:
        # Every scenario starts on a whole, healthy stack (a service killed by the previous one
        # may not be back yet).
        await asyncio.to_thread(self.stack.up, INFRA + SERVICES, lambda _: None)
        if scenario.kind == "forged":
            return await self._forged(scenario)
        return await self._export(scenario)

    # -- an export with a fault in its middle ------------------------------------------------

    async def _export(self, scenario: Scenario) -> Result:
        user = self.who.user
        _, run_id = await user.start_job(f"chaos {scenario.name}", split_size_bytes=SPLIT)
        started = time.monotonic()
        # Mid-run: planned, and (except for the duplicate, which is most costly early) at least
        # one file sealed while partitions are still being exported.
        wanted = 0 if scenario.kind == "duplicate" else 1
        view = await self._wait_mid_run(run_id, wanted)
        if view is None or view["status"] != "running":
            status = view["status"] if view else "never seen"
            return Result(scenario, False, f"run {status} before the fault", 0.0, "-")
        restarted: list[str] = []
        with Supervisor(self.stack) as supervisor:
            if scenario.kind == "outage":
                await outage(self.stack, scenario.target, scenario.seconds)
            elif scenario.kind == "kill":
                await asyncio.to_thread(kill, self.stack, scenario.target)
            else:
                await self._publish((await self._run_document(run_id)).request())
            view, ended = await user.wait_run(run_id, SETTLE_SECONDS, poll=0.5)
            restarted = supervisor.restarts
        seconds = time.monotonic() - started
        notes = f" (restarted: {', '.join(restarted)})" if restarted else ""
        if not ended or view is None:
            status = view["status"] if view else "unknown"
            return Result(
                scenario,
                False,
                f"STUCK: {status} {SETTLE_SECONDS:.0f} s after the fault",
                seconds,
                "-",
            )
        if view["status"] == "failed":
            return self._judge_failure(scenario, view.get("error") or "", seconds)
        if view["status"] != "completed":
            return Result(scenario, False, view["status"], seconds, "-")
        ok, checked = await self._verify(run_id)
        if ok and scenario.kind == "duplicate":
            cuts, files = self._cuts(run_id), view["progress"]["parts"]
            checked += f"; {cuts} cuts for {files} files"
            ok = cuts == files
        return Result(scenario, ok, "completed" + notes, seconds, checked)

    async def _wait_mid_run(self, run_id: str, sealed: int) -> dict[str, Any] | None:
        deadline = time.monotonic() + MID_RUN_TIMEOUT
        view = None
        while time.monotonic() < deadline:
            view = await self.who.user.run(run_id)
            if (
                view is not None
                and view["status"] != "queued"
                and (view["status"] != "running" or view["progress"]["parts"] >= sealed)
            ):
                return view
            await asyncio.sleep(0.2)
        return view

    def _judge_failure(self, scenario: Scenario, reason: str, seconds: float) -> Result:
        names = DEPENDENCY_NAMES.get(scenario.target, ())
        named = any(n in reason for n in names)
        outcome = f"failed: {reason[:120]}"
        return Result(scenario, named and scenario.kind == "outage", outcome, seconds, "-")

    async def _verify(self, run_id: str) -> tuple[bool, str]:
        """Download, decrypt and compare; the plaintext is removed again at once."""
        out = self.workdir / run_id
        try:
            files = await self.who.user.download(run_id, out)
            await asyncio.to_thread(decrypt_files, self.who.key, files, out)
            dsn = self.settings.ucs.dsn.get_secret_value()
            records, attachments = await compare_interactions(dsn, CHAOS_TENANT, run_id, out)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        ok = records.same and attachments.same
        return ok, f"{len(files)} files: {records}, {attachments}"

    def _cuts(self, run_id: str) -> int:
        """Parts the exporters cut for the run (each logs ``part staged`` once it is cut)."""
        log = self.stack.processes["exporter"].log_file
        cuts = 0
        for line in log.read_text(errors="replace").splitlines():
            if run_id in line and '"part staged"' in line:
                cuts += 1
        return cuts

    # -- the forged request ------------------------------------------------------------------

    async def _forged(self, scenario: Scenario) -> Result:
        """A forged message: a ``RunRequested`` for a run the gateway never created, in
        the chaos tenant's name and for its user, but naming the victim tenant's UCS id."""
        run_id = uuid.uuid4().hex[:24]
        forged = RunRequested(
            correlation_id=run_id,
            run_id=run_id,
            tenant="chaos",
            ucs_tenant_id=VICTIM_TENANT,
            owner=self.who.user_id,
            record_type="interaction",
            split_size_bytes=SPLIT,
        )
        before = await self._dead_letters()
        started = time.monotonic()
        await self._publish(forged)
        deadline = started + FORGED_TIMEOUT
        dead, artifacts, staged, run = before, 0, 0, None
        while time.monotonic() < deadline:
            dead = await self._dead_letters()
            run, artifacts, staged = await self._traces(run_id)
            if dead > before or artifacts:
                break
            await asyncio.sleep(0.5)
        seconds = time.monotonic() - started
        planned = run is not None and run.plan is not None
        checked = (
            f"{artifacts} files, {staged} staged, planned: {planned}, dead letters +{dead - before}"
        )
        if artifacts or staged or planned:
            return Result(scenario, False, "EXPORTED the victim's data", seconds, checked)
        if dead <= before:
            return Result(scenario, False, "not dead-lettered", seconds, checked)
        return Result(scenario, True, "refused: dead-lettered, nothing exported", seconds, checked)

    async def _traces(self, run_id: str) -> tuple[Run | None, int, int]:
        documents = MongoDocumentStore(self.settings.mongo)
        objects = MinioObjectStore(self.settings.minio)
        try:
            await documents.connect()
            runs = RunStore(documents)
            try:
                run: Run | None = await runs.get(run_id)
            except NotFoundError:  # what we hope for
                run = None
            artifacts = len(await runs.artifacts(run_id))
            prefix = f"{self.settings.minio.staging_prefix}{run_id}/"
            staged = len([o async for o in objects.list(prefix)])
        finally:
            await documents.close()
            await objects.close()
        return run, artifacts, staged

    # -- the broker, as an attacker with broker access (or a duplicate) would use it -------------

    async def _publish(self, message: RunRequested) -> None:
        broker = make_broker(self.settings.rabbit)
        await broker.connect()
        try:
            await publish(broker, message)
        finally:
            await broker.stop()

    async def _dead_letters(self) -> int:
        connection = await aio_pika.connect(self.settings.rabbit.url.get_secret_value())
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(DEAD_RUN_REQUESTS, passive=True)
            count = queue.declaration_result.message_count
            return int(count or 0)
        finally:
            await connection.close()

    async def _run_document(self, run_id: str) -> Run:
        documents = MongoDocumentStore(self.settings.mongo)
        await documents.connect()
        try:
            return await RunStore(documents).get(run_id)
        finally:
            await documents.close()
