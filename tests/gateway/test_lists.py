"""Cheap lists (docs/operations.md): History and Artifacts answer a page in a constant number of
document-store queries whatever its size, and a run's details in a constant few — counted by a
proxy around the real FerretDB/MongoDB store of an in-process gateway."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from cdds_shared.ports.documents import DocumentCollection
from cdds_shared.scope import Scope
from cdds_tools.load.seed import LoadAccount, seed_account
from tests.gateway.conftest import PASSWORD, Account, Gateway, SignedInUser, new_name, sign_in

pytestmark = pytest.mark.integration

RUNS, FILES = 50, 3
READS = ("get", "find_one", "find", "count")


class CountingCollection:
    """A ``DocumentCollection`` that counts each call of its methods, then delegates."""

    def __init__(self, inner: DocumentCollection, calls: Counter[str]) -> None:
        self._inner = inner
        self._calls = calls

    def __getattr__(self, method: str) -> Any:
        target = getattr(self._inner, method)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._calls[f"{self._inner.name}.{method}"] += 1
            return target(*args, **kwargs)

        return counted

    def find(self, *args: Any, **kwargs: Any) -> AsyncGenerator[dict[str, Any], None]:
        self._calls[f"{self._inner.name}.find"] += 1
        return self._inner.find(*args, **kwargs)


class Queries:
    """Every query the gateway sends while ``counting`` is open."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def reads(self) -> int:
        return sum(n for call, n in self.calls.items() if call.rsplit(".", 1)[1] in READS)

    def of(self, call: str) -> int:
        return self.calls[call]


@contextmanager
def counting(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queries]:
    """The proxy installed on the store every gateway port shares (collections are looked up
    on use, so each query of the request goes through it)."""
    queries = Queries()
    documents = gateway.deps.documents
    real = documents.collection
    with monkeypatch.context() as patch:
        patch.setattr(
            documents, "collection", lambda name: CountingCollection(real(name), queries.calls)
        )
        yield queries


@pytest.fixture(scope="module")
async def seeded(gateway: Gateway) -> LoadAccount:
    """A user with 50 runs of 3 files each, as ``make load`` seeds them."""
    return await seed_account(
        gateway.deps.documents,
        tenant=new_name("t"),
        ucs_tenant_id=random.randrange(1, 2**31),
        username=new_name("u"),
        password=PASSWORD,
        runs=RUNS,
        artifacts=FILES,
    )


@pytest.fixture
async def user(client: httpx.AsyncClient, seeded: LoadAccount) -> SignedInUser:
    return await sign_in(client, Account(seeded.user, seeded.tenant))


async def _get(client: httpx.AsyncClient, user: SignedInUser, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params, headers=user.bearer)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_history_page_costs_the_same_queries_for_5_runs_as_for_50(
    gateway: Gateway, client: httpx.AsyncClient, user: SignedInUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting(gateway, monkeypatch) as small:
        five = await _get(client, user, "/api/v1/runs", limit=5)
    with counting(gateway, monkeypatch) as large:
        fifty = await _get(client, user, "/api/v1/runs", limit=50)

    assert [len(five["items"]), len(fifty["items"])] == [5, 50]
    assert five["total"] == fifty["total"] == RUNS
    assert all(r["files"] == FILES and r["progress"]["parts"] == FILES for r in fifty["items"])
    assert large.calls == small.calls, (small.calls, large.calls)
    # One query for the runs' artifacts and one for their partitions, not one per run.
    assert large.of("artifacts.find") == 1 and large.of("run_partitions.find") == 1
    assert large.reads <= 10, large.calls


async def test_an_artifacts_page_costs_the_same_queries_for_5_files_as_for_50(
    gateway: Gateway, client: httpx.AsyncClient, user: SignedInUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting(gateway, monkeypatch) as small:
        five = await _get(client, user, "/api/v1/artifacts", limit=5)
    with counting(gateway, monkeypatch) as large:
        fifty = await _get(client, user, "/api/v1/artifacts", limit=50)

    assert [len(five["items"]), len(fifty["items"])] == [5, 50]
    assert five["total"] == fifty["total"] == RUNS * FILES
    assert large.calls == small.calls, (small.calls, large.calls)
    assert large.reads <= 8, large.calls


async def test_a_page_that_is_not_full_is_not_counted_again(
    gateway: Gateway, client: httpx.AsyncClient, user: SignedInUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting(gateway, monkeypatch) as queries:
        everything = await _get(client, user, "/api/v1/runs", limit=500)
        beyond = await _get(client, user, "/api/v1/runs", limit=10, offset=RUNS + 10)
    assert len(everything["items"]) == everything["total"] == RUNS
    assert beyond["items"] == [] and beyond["total"] == RUNS  # an empty page past the end counts
    assert queries.of("runs.count") == 1, queries.calls


async def test_a_finished_run_is_read_by_id_and_shows_what_the_list_shows(
    gateway: Gateway,
    client: httpx.AsyncClient,
    user: SignedInUser,
    seeded: LoadAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finished run's partitions and files have deterministic ids: no collection scan. A run
    still going is read with one query each. Either way the view equals the History row."""
    listed = {r["id"]: r for r in (await _get(client, user, "/api/v1/runs", limit=500))["items"]}
    running, done, failed = seeded.run_ids[0], seeded.run_ids[1], seeded.run_ids[7]
    assert [listed[i]["status"] for i in (running, done, failed)] == [
        "running",
        "completed",
        "failed",
    ]
    with counting(gateway, monkeypatch) as by_id:
        view = await _get(client, user, f"/api/v1/runs/{done}")
    assert view == listed[done] and view["files"] == FILES
    assert by_id.of("artifacts.find") == by_id.of("run_partitions.find") == 0, by_id.calls
    assert by_id.of("artifacts.find_one") == FILES and by_id.of("run_partitions.find_one") == 1
    with counting(gateway, monkeypatch) as scanned:
        going = await _get(client, user, f"/api/v1/runs/{running}")
    assert going == listed[running]
    assert scanned.of("artifacts.find") == scanned.of("run_partitions.find") == 1, scanned.calls
    assert (await _get(client, user, f"/api/v1/runs/{failed}")) == listed[failed]


async def test_a_run_or_file_out_of_scope_is_still_not_found(
    gateway: Gateway, client: httpx.AsyncClient, seeded: LoadAccount
) -> None:
    """Fetched by ``_id`` alone, the scope is checked on the document: another user of the same
    tenant gets 404 for both."""
    other = await gateway.identity.create_user(
        new_name("u"), seeded.tenant.name, ["exporter"], PASSWORD
    )
    stranger = await sign_in(client, Account(other, seeded.tenant))
    run_id = seeded.run_ids[0]
    for url in (f"/api/v1/runs/{run_id}", f"/api/v1/artifacts/{run_id}-000-000"):
        response = await client.get(url, headers=stranger.bearer)
        assert response.status_code == 404, (url, response.text)


def test_a_scope_admits_its_tenant_and_owner_only() -> None:
    doc = {"_id": "r", "tenant": "a", "owner": "u"}
    assert Scope("a", "u").admits(doc) and Scope("a").admits(doc)
    assert not Scope("b").admits(doc) and not Scope("a", "v").admits(doc)
    assert not Scope("a").admits({"_id": "r", "owner": "u"})  # no tenant: never in scope
    assert Scope("a", "u").filter() == {"tenant": "a", "owner": "u"}
    assert Scope("a").filter() == {"tenant": "a"}
