"""The demo's export, through the containerised stack: UCS rows seeded and the demo account made
with the exporter image's own ``cdds-admin`` (``exec`` in its container), then from the host as a
user would: sign in at the gateway's published port, upload a certificate, run a job, download
its files, open each with stock ``openssl cms -decrypt``, and compare every record with UCS (read
through the published PostgreSQL port)."""

from __future__ import annotations

import asyncio
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cdds_tools.gateway_client import GatewayUser
from cdds_tools.identity import make_identity
from cdds_tools.ucs_compare import compare_interactions

__all__ = ["Admin", "ExportCheck", "open_with_openssl"]

TENANT, UCS_TENANT = "demo", 9001
USER, PASSWORD = "demo", "demo-password"  # a throw-away account of a throw-away stack

# Runs `cdds-admin <args>` in the exporter's container, stdin given; returns (exit code, output).
Admin = Callable[[list[str], str | None], tuple[int, str]]


def open_with_openssl(key: Path, sealed: list[Path], out: Path) -> None:
    """``openssl cms -decrypt`` each file (its exit status checked: OpenSSL writes output even
    when a file does not verify), then each ZIP extracted into ``out/<file name>/``."""
    for path in sealed:
        plain = path.with_suffix("")  # FILE.zip.p7m -> FILE.zip
        done = subprocess.run(
            [
                "openssl",
                "cms",
                "-decrypt",
                "-binary",
                "-inform",
                "DER",
                "-in",
                str(path),
                "-inkey",
                str(key),
                "-out",
                str(plain),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"openssl cms -decrypt {path.name}: {done.stderr.strip()[:500]}")
        with zipfile.ZipFile(plain) as archive:
            archive.extractall(out / plain.stem)


@dataclass(frozen=True)
class ExportCheck:
    """Where the containerised stack is reached from the host."""

    gateway_url: str
    ucs_dsn: str
    admin: Admin
    workdir: Path

    def _admin(self, *args: str, stdin: str | None = None) -> str:
        code, output = self.admin(list(args), stdin)
        if code != 0:
            raise RuntimeError(f"cdds-admin {' '.join(args[:2])} failed ({code}): {output[-500:]}")
        return output

    def prepare(self, contacts: int, interactions: int) -> None:
        """UCS rows, the tenant and its user, made by the image's cdds-admin."""
        self._admin(
            "ucs", "seed", "--tenant-id", str(UCS_TENANT), "--contacts", str(contacts),
            "--interactions", str(interactions), "--seed", "42",
        )  # fmt: skip
        self._admin("tenant", "create", TENANT, "--ucs-tenant-id", str(UCS_TENANT))
        self._admin(
            "user", "create", USER, "--tenant", TENANT, "--role", "exporter", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip

    async def run(self) -> str:
        """The export end to end; returns a one-line summary, raises if anything differs."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        _, key, cert = await asyncio.to_thread(make_identity, self.workdir, name=USER)
        user = await GatewayUser.sign_in(self.gateway_url, USER, PASSWORD)
        try:
            await user.upload_certificate(cert.read_bytes())
            _, run_id = await user.start_job("compose-test", split_size_bytes=1 << 20)
            run, ended = await user.wait_run(run_id, timeout=240, poll=0.5)
            if not ended or run is None or run.get("status") != "completed":
                raise RuntimeError(f"run {run_id} did not complete: {run}")
            out = self.workdir / run_id
            sealed = await user.download(run_id, out)
        finally:
            await user.close()
        if not sealed:
            raise RuntimeError(f"run {run_id} completed with no file to download")
        await asyncio.to_thread(open_with_openssl, key, sealed, out)
        records, attachments = await compare_interactions(self.ucs_dsn, UCS_TENANT, run_id, out)
        if not (records.same and attachments.same and records.exported):
            raise RuntimeError(f"the export differs from UCS: {records}; {attachments}")
        return (
            f"run {run_id}: {len(sealed)} file(s) opened with openssl cms -decrypt, "
            f"{records} and {attachments}, identical to UCS"
        )
