"""``make load`` (``python -m cdds_tools.load.run``): seed the load tenant, sign in, drive the
gateway's listings with concurrent clients for a bounded time, print the figures.

Exit status: 0 when every request was answered without a 5xx, 1 otherwise, 2 when the load could
not start (gateway not on loopback, sign-in refused). Connection settings are the ``CDDS_*`` ones
of ``.local/stack.env``; the gateway is ``CDDS_GATEWAY__URL`` unless ``--url`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

import httpx

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.settings import Settings, load_settings
from cdds_tools.load.drive import drive
from cdds_tools.load.seed import seed_account

__all__ = ["is_loopback", "main", "parse", "run"]

# A local load-test account on the development stack (printed nowhere secret).
LOAD_PASSWORD = "load-password"  # noqa: S105


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long (30 s)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="request budget")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request (60 s)")
    parser.add_argument("--runs", type=int, default=60, help="runs to list (60)")
    parser.add_argument("--artifacts", type=int, default=3, help="files per run (3)")
    parser.add_argument("--tenant", default="load", help="the load tenant (load)")
    parser.add_argument("--ucs-tenant-id", type=int, default=9002, help="its UCS tenant (9002)")
    parser.add_argument("--user", default="load", help="the load user (load)")
    parser.add_argument("--url", help="the gateway (default: CDDS_GATEWAY__URL)")
    options = parser.parse_args(argv)
    if options.clients < 1 or options.seconds <= 0 or options.max_requests < 1:
        parser.error("--clients, --seconds and --max-requests must be positive")
    return options


def is_loopback(url: str) -> bool:
    """Load is only ever sent to this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def run(
    settings: Settings, options: argparse.Namespace, out: Callable[[str], None] = print
) -> int:
    url = options.url or settings.gateway.url
    if not is_loopback(url):
        out(f"load: {url} is not a loopback address; refusing to send load there")
        return 2
    async with MongoDocumentStore(settings.mongo) as documents:
        account = await seed_account(
            documents,
            tenant=options.tenant,
            ucs_tenant_id=options.ucs_tenant_id,
            username=options.user,
            password=LOAD_PASSWORD,
            runs=options.runs,
            artifacts=options.artifacts,
        )
    async with httpx.AsyncClient(base_url=url, timeout=options.timeout) as client:
        signed = await client.post(
            "/api/v1/session",
            json={
                "username": account.user.username,
                "tenant": account.tenant.name,
                "password": account.password,
            },
        )
        if signed.status_code != 200:
            refused = f"{signed.status_code} {signed.text}"
            out(f"load: sign-in as {account.user.username} refused: {refused}")
            return 2
        out(
            f"load: {options.clients} clients for {options.seconds:g} s against {url} "
            f"(tenant {account.tenant.name}: {len(account.run_ids)} runs, "
            f"{options.artifacts} files each)"
        )
        token = signed.json()["token"]
    report = await drive(
        url,
        token,
        account.run_ids,
        clients=options.clients,
        seconds=options.seconds,
        max_requests=options.max_requests,
        timeout=options.timeout,
    )
    out(report.render())
    if report.server_errors:
        out(f"load: FAILED: {report.server_errors} requests answered 5xx or not at all")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(load_settings(), parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
