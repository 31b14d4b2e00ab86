"""The OpenAPI document is the contract: schemathesis runs every check it has (``--checks all``:
status codes, content types, headers and bodies as documented, schema-valid input accepted and
invalid input refused, ``Allow`` of a 405, no 5xx, …) against the real gateway process, signed
in with a bearer token (docs/api.md: the OpenAPI document, Errors)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest

from cdds_shared.identity import IdentityStore
from tests.e2e.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 200, 20
PASSWORD = "fuzzing is fun, 5xx is not"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")
"""What JSON Schema cannot say (fields compared, the clock), relaxed per operation."""
MAX_EXAMPLES = os.environ.get("CDDS_FUZZ_MAX_EXAMPLES", "15")
"""Cases per operation and phase: modest, so that both runs take about a minute on 2 cores."""


async def signed_in(pipeline: Pipeline, base: str) -> str:
    """The bearer token of a fresh exporter and admin of the module's tenant."""
    identity = IdentityStore(pipeline.documents)
    tenant = await identity.create_tenant("fuzz", pipeline.tenant_id)
    await identity.create_user("fuzzer", tenant.name, ["exporter", "admin"], PASSWORD)
    async with httpx.AsyncClient(base_url=base) as client:
        signed = await client.post(
            "/api/v1/session", json={"username": "fuzzer", "password": PASSWORD}
        )
        signed.raise_for_status()
    token: str = signed.json()["token"]
    return token


async def schemathesis(base: str, directory: Path, *options: str) -> None:
    """``schemathesis run --checks all`` of the gateway's document; fails with its report."""
    command = [
        *(str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{base}/api/openapi.json"),
        *("--checks", "all"),
        *("--max-examples", MAX_EXAMPLES, "--request-timeout", "30", "--workers", "1"),
        *("--no-color", *options),
    ]
    # In a directory of its own: the CLI keeps its example database where it runs.
    directory.mkdir()
    process = await asyncio.create_subprocess_exec(
        *command, cwd=directory, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    report = output.decode(errors="replace")
    print(report)  # the whole report, in pytest's output of a failure
    assert process.returncode == 0, f"schemathesis found failures:\n{report[-4000:]}"


async def test_the_gateway_answers_as_its_openapi_document_says(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    gateway = pipeline.worker("gateway")
    base = f"http://127.0.0.1:{gateway.bound_port}"
    token = await signed_in(pipeline, base)
    # Signed in: everything but the session itself (a sign-in ends the session it presents,
    # a sign-out ends it too: every later case would be a 401).
    bearer = f"Authorization: Bearer {token}"
    await schemathesis(base, tmp_path / "signed-in", "--header", bearer, "--exclude-tag", "session")
    # Then signing in and out, with no session (sign-in failures throttle this address).
    await schemathesis(base, tmp_path / "session", "--include-tag", "session")
