"""``cdds download`` against a gateway in redirect mode (``CDDS_GATEWAY__DOWNLOAD_MODE=redirect``):
it follows the 307 to the presigned MinIO URL (without its bearer token), resumes a file killed
in the middle with ``Range`` sent to MinIO, and every file is byte-identical to the stored
object. The gateway's audit log shows each download, the range and ``via: redirect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.stack import Stack
from tests.client.test_cli_stack import (
    alice,
    audit_ranges,
    cut_in_the_middle,
    identity,
    login,
    sizes_of,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
__all__ = ["alice", "identity"]

INTERACTIONS, CONTACTS = 2400, 60
WORKER_ENV = {"CDDS_EXPORT__PARTITION_RECORDS": "800", "CDDS_GATEWAY__DOWNLOAD_MODE": "redirect"}


def audit_vias(services: Stack, token: str, artifact_id: str) -> list[str | None]:
    answer = httpx.get(
        f"{services.url}/api/v1/audit",
        params={"action": "artifact.download", "target": artifact_id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    return [event["detail"].get("via") for event in answer.json()]


def status_of_download(services: Stack, token: str, artifact_id: str) -> int:
    """The gateway's own answer to a download (redirects not followed)."""
    url = f"{services.url}/api/v1/artifacts/{artifact_id}/content"
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


async def test_download_follows_the_redirect_and_resumes(
    services: Stack, alice: dict[str, Any], identity: Any, tmp_path: Path
) -> None:
    # Given alice's completed run of three files, the gateway redirecting downloads
    cdds = login(services, alice, tmp_path / "config")
    token = cdds.credentials["token"]
    cdds.ok("cert", "set", str(identity[2]))
    created = json.loads(
        cdds.ok(
            "job", "create", "--title", "redirected", "--type", "interaction",
            "--split-size", "1MiB", "--run-now", "--json",
        )
    )  # fmt: skip
    run_id = created["run_id"]
    assert json.loads(cdds.ok("run", "watch", run_id, "--json"))["status"] == "completed"
    sizes = sizes_of(cdds, run_id)
    [(some_id, _), *_] = sizes.values()
    assert status_of_download(services, token, some_id) == 307

    # When a download is killed in the middle of a file
    out = tmp_path / "files"
    name = await cut_in_the_middle(cdds, run_id, out, sizes)
    artifact_id, size = sizes[name]
    cut = (out / f"{name}.part").stat().st_size
    assert 0 < cut < size

    # Then the next download resumes it from there at MinIO, and every file is the stored one
    done = cdds("download", run_id, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"{name}: resuming at byte {cut} of {size}" in done.stderr.splitlines()
    assert f"bytes {cut}-{size - 1}/{size}" in audit_ranges(services, token, artifact_id)
    keys = await services.object_keys(run_id)
    for each, (each_id, each_size) in sizes.items():
        stored = await services.object_bytes(keys[each_id])
        assert (out / each).read_bytes() == stored and len(stored) == each_size
        assert set(audit_vias(services, token, each_id)) == {"redirect"}
    assert not list(out.glob("*.part"))
