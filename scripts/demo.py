"""`make demo`: the stack is up, sample UCS data is loaded, every service answers its readiness
check, and the main job runs end to end through the gateway: a tenant and a user (``cdds-admin``),
sign-in, the user's certificate uploaded, a job that runs now, its progress followed, the sealed
files downloaded through the gateway, decrypted with ``cdds decrypt`` and the user's key, and every
record compared with the UCS source; then every line the services logged meanwhile is one JSON
object (docs/operations.md, "Logs"). Exit status 0 only if all of that holds. It ends by printing
where to sign in to the web pages.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509

from cdds_shared.settings import load_settings
from cdds_shared.ucs.seed import seed
from cdds_tools.devstack import Stack, StackConfig
from cdds_tools.devstack.config import find_root
from cdds_tools.devstack.services import SERVICES
from cdds_tools.gateway_client import GatewayUser, decrypt_files
from cdds_tools.identity import make_identity
from cdds_tools.logcheck import log_sizes, not_json, written_since
from cdds_tools.ucs_compare import compare_interactions

DEMO_TENANT = 9001


def readiness(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"  # a local demo account, printed for you


def _admin(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    admin = str(Path(sys.executable).parent / "cdds-admin")
    return subprocess.run([admin, *args], input=stdin, capture_output=True, text=True, check=False)


def ensure_demo_user() -> None:
    """The demo tenant (UCS tenant 9001) and an exporter, made with ``cdds-admin`` once."""
    tenants = json.loads(_admin("tenant", "list").stdout or "{}").get("tenants", [])
    if not any(t.get("tenant") == "demo" for t in tenants):
        made = _admin("tenant", "create", "demo", "--ucs-tenant-id", str(DEMO_TENANT))
        if made.returncode:
            raise SystemExit(f"demo: cdds-admin tenant create failed: {made.stderr.strip()}")
    users = json.loads(_admin("user", "list", "--tenant", "demo").stdout or "{}").get("users", [])
    if not any(u.get("username") == DEMO_USER for u in users):
        made = _admin(
            "user",
            "create",
            DEMO_USER,
            "--tenant",
            "demo",
            "--role",
            "exporter",
            "--password-stdin",
            stdin=DEMO_PASSWORD + "\n",
        )
        if made.returncode:
            raise SystemExit(f"demo: cdds-admin user create failed: {made.stderr.strip()}")


async def export_and_verify(config: StackConfig, workdir: Path) -> bool:
    """Through the gateway, as a user would: sign in, upload the certificate, create a job that
    runs now, follow it, download its files, decrypt them with ``cdds decrypt``, compare."""
    os.environ.update(config.env())
    settings = load_settings()
    workdir.mkdir(parents=True, exist_ok=True)
    key_path, _ = _identity(workdir)
    ensure_demo_user()
    base = config.env()["CDDS_GATEWAY__URL"]
    user = await GatewayUser.sign_in(base, DEMO_USER, DEMO_PASSWORD)
    try:
        print(f"   signed in as {DEMO_USER} (tenant demo) through {base}")
        details = await user.upload_certificate((workdir / "demo-cert.pem").read_bytes())
        print(f"   certificate uploaded: {details['subject']}, SHA-256 {details['sha256'][:16]}…")
        job_id, run_id = await user.start_job("Demo: all interactions", split_size_bytes=4 << 20)
        print(f"   job {job_id} created; run {run_id} started")
        run, _ = await user.wait_run(run_id, timeout=120, poll=0.1)
        if run is None or run.get("status") != "completed":
            status = run.get("status") if run else "unknown"
            print(f"   run {run_id}: {status} {(run or {}).get('error') or ''}")
            return False
        out = workdir / run_id
        files = await user.download(run_id, out)
        print(f"   run completed: {len(files)} sealed file(s)")
    finally:
        await user.close()
    await asyncio.to_thread(decrypt_files, key_path, files, out)
    records, attachments = await compare_interactions(
        settings.ucs.dsn.get_secret_value(), DEMO_TENANT, run_id, out
    )
    same = records.same and attachments.same
    print(
        f"   downloaded and decrypted with cdds decrypt into {out}: "
        f"{records.exported} interactions and {attachments.exported} attachments, "
        f"{'identical to' if same else 'DIFFERENT from'} the "
        f"{records.expected} and {attachments.expected} in UCS"
        + ("" if same else f" ({records}; {attachments})")
    )
    return same


def _identity(directory: Path) -> tuple[Path, x509.Certificate]:
    """The demo user's key pair (kept in .local/demo so the files can be decrypted later)."""
    key_path, cert_path = directory / "demo-key.pem", directory / "demo-cert.pem"
    if not key_path.exists():
        make_identity(directory, name="demo")
    return key_path, x509.load_pem_x509_certificate(cert_path.read_bytes())


def main() -> int:
    config = StackConfig(root=find_root())
    stack = Stack(config)
    ok = True
    logs = log_sizes(config.logs / f"{name}.log" for name in SERVICES)

    print("1. the stack")
    for row in stack.status():
        print(f"   {row.name:10} pid {row.pid or '-':>7}  {row.health}")
        ok &= row.health == "healthy"

    print(f"2. sample UCS data (tenant {DEMO_TENANT})")
    result = seed(
        config.env()["CDDS_UCS__DSN"], DEMO_TENANT, contacts=500, interactions=5000, seed=42
    )
    print(
        f"   {result.contacts} contacts, {result.interactions} interactions, "
        f"{result.attachments} attachments in {result.seconds:.2f}s"
    )

    print("3. every service through its dependencies (/readyz)")
    ports = {
        "gateway": config.gateway_port,
        "exporter": config.exporter_port,
        "encryptor": config.encryptor_port,
        "janitor": config.janitor_port,
    }
    for name, port in ports.items():
        status, body = readiness(f"http://{config.host}:{port}/readyz")
        print(f"   {name:10} {status} {json.dumps(body.get('checks', body))}")
        ok &= status == 200

    print("4. an export through the gateway, end to end")
    ok &= asyncio.run(export_and_verify(config, Path(config.local) / "demo"))

    print("5. the services' logs of this demo: one JSON object a line")
    for path, offset in logs.items():
        lines = written_since(path, offset)
        bad = not_json(lines)
        print(f"   {path.name:14} {len(lines):6} lines, {len(bad)} not JSON")
        for number, line in bad[:3]:
            print(f"      line {number} after the demo began: {line[:160]!r}")
        ok &= not bad

    print(
        f"\nSign in at {config.env()['CDDS_GATEWAY__URL']}/login as {DEMO_USER} / {DEMO_PASSWORD}"
    )
    print(f"Settings for your shell: source {stack.write_env()}")
    print("demo: OK" if ok else "demo: FAILED — see `make status` and .local/log/")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
