"""``cdds`` against the real gateway, exporter and encryptor, as a user's shell runs it: login →
cert set → job create --run-now → run watch → download, killed in the middle of a file and
resumed with ``Range`` (byte-identical, verified) → decrypt → the records equal UCS; the same
story with ``--json`` parsed. A corrupt ``.part`` and a tampered download end in exit 1 and no
file under its final name; ``run watch`` of a failed run exits 1 with the reason, of a missing
run 1 with "not found".
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import SecretStr

from cdds_shared.messaging import make_broker, publish
from cdds_shared.settings import RabbitSettings
from cdds_tools.identity import make_identity
from cdds_tools.requester import Requester
from cdds_tools.ucs_compare import compare_interactions
from tests.client.stack import PASSWORD, Cdds, Stack
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 2400, 60
# Partitions of 800 records: three files a run, each big enough to be cut in the middle.
WORKER_ENV = {"CDDS_EXPORT__PARTITION_RECORDS": "800"}
RATE = "16KiB"  # the killed download's pace: seconds per file, so the kill lands mid-file


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[x509.Certificate, Path, Path]:
    return make_identity(tmp_path_factory.mktemp("alice"), bits=2048, name="alice")


@pytest.fixture(scope="module")
def alice(services: Stack) -> dict[str, Any]:
    # An admin too: the audit log (GET /audit) shows which range the gateway served.
    return services.add_user(f"alice-{uuid.uuid4().hex[:6]}", "exporter", "admin")


def login(services: Stack, user: dict[str, Any], home: Path) -> Cdds:
    cdds = Cdds(home)
    said = cdds(
        "login",
        services.url,
        "--username",
        user["username"],
        "--tenant",
        services.tenant,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert said.returncode == 0, said.stderr
    assert said.stderr.startswith(f"signed in to {services.url} as {user['username']}")
    return cdds


def sizes_of(cdds: Cdds, run_id: str) -> dict[str, tuple[str, int]]:
    """name → (artifact id, size) of the run's files."""
    listed = json.loads(cdds.ok("artifact", "list", "--run", run_id, "--json"))
    return {a["name"]: (a["id"], a["size"]) for a in listed["items"]}


def audit_ranges(services: Stack, token: str, artifact_id: str) -> list[str | None]:
    """The ranges the gateway served of the file, from its audit log."""
    answer = httpx.get(
        f"{services.url}/api/v1/audit",
        params={"action": "artifact.download", "target": artifact_id},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    answer.raise_for_status()
    return [event["detail"].get("range") for event in answer.json()]


async def cut_in_the_middle(cdds: Cdds, run_id: str, out: Path, sizes: dict[str, Any]) -> str:
    """Start downloading the run slowly and SIGKILL it once a file is partly there; that file's
    name (its ``.part`` has some bytes, not all)."""
    process = cdds.popen("download", run_id, "--out", str(out), "--limit-rate", RATE)

    async def partial_file() -> str | None:
        assert process.poll() is None, process.communicate()
        for name, (_, size) in sizes.items():
            part = out / f"{name}.part"
            if part.exists() and 0 < part.stat().st_size < size:
                return name
        return None

    try:
        name = await eventually(partial_file, lambda found: found is not None, what="a .part")
    finally:
        process.kill()
        process.communicate(timeout=30)
    assert name is not None
    return name


async def story(
    services: Stack, alice: dict[str, Any], identity: Any, home: Path, *, as_json: bool
) -> None:
    cert, key, cert_path = identity
    json_flag = ("--json",) if as_json else ()
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()

    # Given alice signed in: the token is kept where only she can read it
    cdds = login(services, alice, home / "config")
    stored = home / "config" / "cdds" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    token = cdds.credentials["token"]

    # When she uploads her certificate and creates a job that runs now, in files of 1 MiB
    shown = cdds.ok("cert", "set", str(cert_path), *json_flag)
    if as_json:
        assert json.loads(shown)["sha256"] == fingerprint
    else:
        assert f"sha256    {fingerprint}" in shown.splitlines()
    created = cdds.ok(
        "job", "create", "--title", "cli story", "--type", "interaction",
        "--split-size", "1MiB", "--run-now", *json_flag,
    )  # fmt: skip
    if as_json:
        job = json.loads(created)
        job_id, run_id = job["id"], job["run_id"]
        assert job["split_size_bytes"] == 1 << 20 and job["schedule"]["kind"] == "now"
    else:
        job_line, run_line = created.splitlines()
        job_id, run_id = job_line.removeprefix("job "), run_line.removeprefix("run ")

    # Then watching the run ends with exit 0 once it completed, a line every poll meanwhile
    watched = cdds("run", "watch", run_id, "--interval", "0.5", *json_flag)
    assert watched.returncode == 0, watched.stderr
    assert f"run {run_id}: " in watched.stderr
    if as_json:
        view = json.loads(watched.stdout)
        assert view["status"] == "completed" and view["progress"]["percent"] == 100
    else:
        assert watched.stdout.startswith(f"run {run_id} completed: ")
    sizes = sizes_of(cdds, run_id)
    assert len(sizes) >= 2, sizes

    # When a download is killed in the middle of a file
    out = home / "files"
    name = await cut_in_the_middle(cdds, run_id, out, sizes)
    artifact_id, size = sizes[name]
    cut = (out / f"{name}.part").stat().st_size
    assert 0 < cut < size
    assert not (out / name).exists()

    # Then the next download resumes it from there, verifies every file and decrypts it
    done = cdds("download", run_id, "--out", str(out), "--key", str(key), "--decrypt", "--unzip")
    assert done.returncode == 0, done.stderr
    assert f"{name}: resuming at byte {cut} of {size}" in done.stderr.splitlines()
    assert f"bytes {cut}-{size - 1}/{size}" in audit_ranges(services, token, artifact_id)
    keys = await services.object_keys(run_id)
    for each, (each_id, each_size) in sizes.items():
        stored_bytes = await services.object_bytes(keys[each_id])
        assert (out / each).read_bytes() == stored_bytes and len(stored_bytes) == each_size
        assert str(out / each) in done.stdout.splitlines()
    assert not list(out.glob("*.part"))

    # And the decrypted records are exactly the tenant's records in UCS
    records, attachments = await compare_interactions(
        services.dsn, services.ucs_tenant_id, run_id, out
    )
    assert records.same and attachments.same, f"{records}; {attachments}"
    assert records.expected == INTERACTIONS

    # And downloading again skips what is there and verified
    again = cdds("download", run_id, "--out", str(out), "--key", str(key), "--decrypt")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("already downloaded and verified") == len(sizes)

    # And the listings show the job and the run
    if as_json:
        shown_run = json.loads(cdds.ok("run", "show", run_id, "--json"))
        assert shown_run["status"] == "completed"
        assert sorted(shown_run["artifact_ids"]) == sorted(i for i, _ in sizes.values())
        assert run_id in [r["id"] for r in json.loads(cdds.ok("run", "list", "--json"))["items"]]
        jobs = json.loads(cdds.ok("job", "list", "--json"))["items"]
        assert [j["latest_run"]["id"] for j in jobs if j["id"] == job_id] == [run_id]
    else:
        assert "completed" in cdds.ok("run", "show", run_id).split()
        assert run_id in cdds.ok("run", "list")
        assert job_id in cdds.ok("job", "list")
        assert all(n in cdds.ok("artifact", "list", "--run", run_id) for n in sizes)

    # When she signs out, the token is gone here and refused by the gateway
    cdds.ok("logout")
    assert not stored.exists()
    elsewhere = Cdds(home / "elsewhere")("run", "list", "--token", token, "--url", services.url)
    assert elsewhere.returncode == 1
    assert elsewhere.stderr == (
        "cdds: not signed in (the session has ended or the token is wrong): "
        "run cdds login URL (or give --token / CDDS_TOKEN)\n"
    )


async def test_the_whole_story(
    services: Stack, alice: dict[str, Any], identity: Any, tmp_path: Path
) -> None:
    await story(services, alice, identity, tmp_path, as_json=False)


async def test_the_whole_story_in_json(
    services: Stack, alice: dict[str, Any], identity: Any, tmp_path: Path
) -> None:
    await story(services, alice, identity, tmp_path, as_json=True)


@pytest.fixture(scope="module")
def finished(
    services: Stack, alice: dict[str, Any], identity: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Cdds, str]:
    """alice signed in (by ``CDDS_TOKEN``/``CDDS_URL`` only) and a completed run of hers."""
    home = tmp_path_factory.mktemp("finished")
    token = login(services, alice, home / "login").credentials["token"]
    cdds = Cdds(home / "none", {"CDDS_TOKEN": token, "CDDS_URL": services.url})
    cdds.ok("cert", "set", str(identity[2]))
    created = json.loads(
        cdds.ok("job", "create", "--title", "t", "--type", "interaction", "--run-now", "--json")
    )
    assert json.loads(cdds.ok("run", "watch", created["run_id"], "--json"))["status"] == (
        "completed"
    )
    return cdds, created["run_id"]


async def test_a_corrupt_part_is_exit_1_and_no_file(
    services: Stack, finished: tuple[Cdds, str], tmp_path: Path
) -> None:
    cdds, run_id = finished
    (name, (artifact_id, size)), *_ = sizes_of(cdds, run_id).items()
    (tmp_path / f"{name}.part").write_bytes(b"\0" * (size // 2))  # the right length, wrong bytes

    done = cdds("download", artifact_id, "--out", str(tmp_path))

    assert done.returncode == 1
    assert f"cdds: {name}: the SHA-256 differs from the run's manifest" in done.stderr
    assert os.listdir(tmp_path) == []  # no final file; the .part removed: the next call starts over
    assert cdds("download", artifact_id, "--out", str(tmp_path)).returncode == 0
    keys = await services.object_keys(run_id)
    assert (tmp_path / name).read_bytes() == await services.object_bytes(keys[artifact_id])


async def test_a_tampered_download_is_exit_1_and_no_file(
    services: Stack, finished: tuple[Cdds, str], tmp_path: Path
) -> None:
    cdds, run_id = finished
    (name, (artifact_id, _)), *_ = sizes_of(cdds, run_id).items()
    key = (await services.object_keys(run_id))[artifact_id]
    original = await services.object_bytes(key)
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    objects = services.objects()
    try:
        # Given the stored object was altered behind the gateway's back
        await objects.put_bytes(key, bytes(tampered), content_type="application/pkcs7-mime")
        # When it is downloaded
        done = cdds("download", run_id, "--out", str(tmp_path))
    finally:
        await objects.put_bytes(key, original, content_type="application/pkcs7-mime")
        await objects.close()

    # Then the download fails on that file, which is nowhere under its name
    assert done.returncode == 1
    assert f"cdds: {name}: the SHA-256 differs from the run's manifest" in done.stderr
    assert done.stderr.splitlines()[-1].startswith("cdds: 1 of ")
    assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.part").exists()
    assert hashlib.sha256(original).hexdigest() != hashlib.sha256(tampered).hexdigest()


async def test_watch_of_a_failed_run_is_exit_1_with_the_reason(
    services: Stack, tmp_path: Path
) -> None:
    # Given carol, an exporter without a certificate, and a run requested for her (the
    # integrations' path: only the exporter finds out, and fails the run)
    carol = services.add_user(f"carol-{uuid.uuid4().hex[:6]}", "exporter")
    broker = make_broker(RabbitSettings(url=SecretStr(services.rabbit_url)))
    await broker.connect()
    try:
        async with services.documents() as documents:
            run = await Requester(documents, partial(publish, broker)).request(
                tenant=services.tenant, ucs_tenant_id=services.ucs_tenant_id, owner=carol["id"]
            )
    finally:
        await broker.stop()
    cdds = login(services, carol, tmp_path)

    # When she watches it
    watched = cdds("run", "watch", run.id, "--interval", "0.3")

    # Then it ends with exit 1 and the reason, on one line
    assert watched.returncode == 1
    last = watched.stderr.splitlines()[-1]
    assert last.startswith(f"cdds: run {run.id} failed: no certificate on file"), watched.stderr

    # And a run that does not exist is "not found", exit 1
    missing = cdds("run", "watch", "0" * 24)
    assert (missing.returncode, missing.stderr) == (1, f"cdds: run {'0' * 24} not found\n")
