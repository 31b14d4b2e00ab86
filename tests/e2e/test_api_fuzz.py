"""A property-based run of the whole OpenAPI document (schemathesis) against the real gateway
process, signed in with a bearer token: whatever the input, no 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from cdds_shared.identity import IdentityStore
from tests.e2e.pipeline import Pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERACTIONS, CONTACTS = 200, 20
PASSWORD = "fuzzing is fun, 5xx is not"


@pytest.fixture(scope="module")
async def api(pipeline: Pipeline) -> tuple[schemathesis.BaseSchema, dict[str, str]]:
    gateway = pipeline.worker("gateway")
    base = f"http://127.0.0.1:{gateway.bound_port}"
    identity = IdentityStore(pipeline.documents)
    tenant = await identity.create_tenant("fuzz", pipeline.tenant_id)
    await identity.create_user("fuzzer", tenant.name, ["exporter", "admin"], PASSWORD)
    async with httpx.AsyncClient(base_url=base) as client:
        signed = await client.post(
            "/api/v1/session", json={"username": "fuzzer", "password": PASSWORD}
        )
        signed.raise_for_status()
    headers = {"Authorization": f"Bearer {signed.json()['token']}"}
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    # Signing out would only make every later case a 401.
    return schema.exclude(path="/api/v1/session", method="DELETE"), headers


def test_no_input_makes_the_gateway_fail(
    api: tuple[schemathesis.BaseSchema, dict[str, str]],
) -> None:
    schema, headers = api
    failures: list[str] = []
    operations, calls = 0, [0]
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def no_server_error(case: schemathesis.Case) -> None:
            response = case.call(headers=headers, timeout=30)
            calls[0] += 1
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

        try:
            no_server_error()
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0])
    assert operations > 20, "the OpenAPI document lost its operations"
    assert calls[0] > 10 * operations, f"only {calls[0]} requests for {operations} operations"
    assert failures == []
