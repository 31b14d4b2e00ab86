"""A user of the gateway's REST API (docs/api.md), as ``make demo`` and ``make chaos`` drive it:
sign in, upload a certificate, start a job that runs now, follow the run, download its files
(checking each SHA-256) and decrypt them with ``cdds decrypt``."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["ENDED", "GatewayUser", "decrypt_files"]

ENDED = ("completed", "no_data", "failed", "cancelled")
BIN = Path(sys.executable).parent


@dataclass
class GatewayUser:
    """A signed-in user; the bearer token is used from sign-in on, as a CLI would."""

    api: httpx.AsyncClient
    username: str

    @classmethod
    async def sign_in(
        cls, base_url: str, username: str, password: str, *, timeout: float = 60
    ) -> GatewayUser:
        api = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        signed = await api.post(
            "/api/v1/session", json={"username": username, "password": password}
        )
        signed.raise_for_status()
        api.cookies.clear()
        api.headers["Authorization"] = f"Bearer {signed.json()['token']}"
        return cls(api, username)

    async def close(self) -> None:
        await self.api.aclose()

    async def upload_certificate(self, pem: bytes) -> dict[str, Any]:
        answer = await self.api.put("/api/v1/me/certificate", content=pem)
        answer.raise_for_status()
        details: dict[str, Any] = answer.json()
        return details

    async def start_job(
        self, title: str, *, split_size_bytes: int, record_type: str = "interaction"
    ) -> tuple[str, str]:
        """A job that runs now; returns (job id, run id)."""
        job = await self.api.post(
            "/api/v1/jobs",
            json={
                "title": title,
                "type": record_type,
                "split_size_bytes": split_size_bytes,
                "run_now": True,
            },
        )
        if job.status_code != 201:
            raise RuntimeError(f"POST /api/v1/jobs answered {job.status_code}: {job.text[:300]}")
        return job.json()["id"], job.json()["run_id"]

    async def run(self, run_id: str) -> dict[str, Any] | None:
        """The run's view, or ``None`` while the gateway (or what it needs) does not answer."""
        try:
            answer = await self.api.get(f"/api/v1/runs/{run_id}", timeout=10)
        except httpx.TransportError:
            return None
        if answer.status_code >= 500:
            return None
        answer.raise_for_status()
        view: dict[str, Any] = answer.json()
        return view

    async def wait_run(
        self, run_id: str, timeout: float, poll: float = 0.2
    ) -> tuple[dict[str, Any] | None, bool]:
        """Follow the run until it ends or ``timeout`` passes: (last view seen, whether ended)."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            view = await self.run(run_id)
            if view is not None:
                last = view
                if view["status"] in ENDED:
                    return view, True
            await asyncio.sleep(poll)
        return last, False

    async def download(self, run_id: str, out: Path) -> list[Path]:
        """Every available file of the run into ``out``, each checked against its SHA-256."""
        listed = (await self.api.get("/api/v1/artifacts", params={"run_id": run_id})).json()
        artifacts = listed["items"] if isinstance(listed, dict) else listed
        await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
        files = []
        for artifact in artifacts:
            sealed = out / artifact["name"]
            digest = hashlib.sha256()
            async with self.api.stream("GET", f"/api/v1/artifacts/{artifact['id']}/content") as got:
                got.raise_for_status()
                with sealed.open("wb") as file:
                    async for chunk in got.aiter_bytes():
                        digest.update(chunk)
                        file.write(chunk)
            if digest.hexdigest() != artifact["sha256"]:
                raise RuntimeError(f"{artifact['name']}: SHA-256 differs from the artifact's")
            files.append(sealed)
        return files


def decrypt_files(key: Path, files: list[Path], out: Path) -> None:
    """``cdds decrypt --unzip``: each file verified, its ZIP extracted into ``out/<name>/``."""
    if not files:
        return
    command = [str(BIN / "cdds"), "decrypt", "--key", str(key), "--out", str(out), "--unzip"]
    subprocess.run([*command, *map(str, files)], check=True, stdout=subprocess.DEVNULL)
