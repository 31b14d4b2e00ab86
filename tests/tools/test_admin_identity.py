"""``cdds-admin tenant`` and ``cdds-admin user`` on the real MongoDB-wire server: JSON output,
passwords from standard input only, and one clear line for every mistake."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cdds_shared.adapters.mongo import MongoDocumentStore
from cdds_shared.audit import AuditLog
from cdds_shared.identity import IdentityStore, InvalidCredentials, User
from cdds_shared.settings import MongoSettings
from cdds_tools.admin.cli import main
from tests.infra import StackInfo

pytestmark = pytest.mark.integration

PASSWORD = "s3cret with spaces "


@pytest.fixture(scope="module")
def database(stack: StackInfo) -> Iterator[MongoSettings]:
    """A database of this module's own, dropped afterwards."""
    settings = MongoSettings(
        url=SecretStr(stack.mongo_url), database=f"cdds_test_admin_{uuid.uuid4().hex[:10]}"
    )
    yield settings

    async def drop() -> None:
        async with MongoDocumentStore(settings) as store:
            await store.drop_database()

    asyncio.run(drop())


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, database: MongoSettings) -> None:
    monkeypatch.setenv("CDDS_ENVIRONMENT", "test")
    monkeypatch.setenv("CDDS_MONGO__URL", database.url.get_secret_value())
    monkeypatch.setenv("CDDS_MONGO__DATABASE", database.database)


class Admin:
    """Runs ``cdds-admin`` in-process, with standard input."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self._capsys, self._monkeypatch = capsys, monkeypatch

    def __call__(self, *argv: str, stdin: str = "") -> tuple[int, Any, str]:
        self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = self._capsys.readouterr()
        return code, json.loads(out) if out.strip() else None, err


@pytest.fixture
def admin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Admin:
    return Admin(capsys, monkeypatch)


@pytest.fixture
def tenant(admin: Admin) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    code, _, err = admin(
        "tenant", "create", name, "--ucs-tenant-id", str(random.randrange(1, 2**31))
    )
    assert code == 0, err
    return name


def authenticate(database: MongoSettings, username: str, tenant: str, password: str) -> User:
    async def check() -> User:
        async with MongoDocumentStore(database) as documents:
            return await IdentityStore(documents).authenticate(username, tenant, password)

    return asyncio.run(check())


def error_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.removeprefix("cdds-admin: error: ").strip()


# -- tenant --------------------------------------------------------------------------------------


def test_tenant_create_and_list(admin: Admin) -> None:
    name, ucs_id = f"acme-{uuid.uuid4().hex[:8]}", random.randrange(1, 2**31)

    code, out, err = admin("tenant", "create", name, "--ucs-tenant-id", str(ucs_id))

    assert (code, err) == (0, "")
    assert (out["tenant"], out["ucsTenantId"]) == (name, ucs_id)
    code, listed, _ = admin("tenant", "list")
    assert code == 0
    assert {"tenant": name, "ucsTenantId": ucs_id} in [
        {k: t[k] for k in ("tenant", "ucsTenantId")} for t in listed["tenants"]
    ]


def test_tenant_mistakes(admin: Admin, tenant: str) -> None:
    code, _, err = admin("tenant", "create", tenant, "--ucs-tenant-id", "12345678")
    assert (code, error_line(err)) == (2, f"tenant '{tenant}' already exists")

    code, _, err = admin("tenant", "create", "bad/name", "--ucs-tenant-id", "1")
    assert code == 2 and error_line(err).startswith("invalid tenant name 'bad/name'")

    code, _, err = admin("tenant", "create", "x", "--ucs-tenant-id", "-3")
    assert code == 2 and "expected a number >= 0, got -3" in err


def test_a_ucs_tenant_is_taken_once(admin: Admin, tenant: str) -> None:
    _, listed, _ = admin("tenant", "list")
    ucs_id = next(t["ucsTenantId"] for t in listed["tenants"] if t["tenant"] == tenant)

    code, _, err = admin("tenant", "create", f"other-{tenant}", "--ucs-tenant-id", str(ucs_id))

    assert (code, error_line(err)) == (
        2,
        f"UCS tenant {ucs_id} already belongs to tenant '{tenant}'",
    )


# -- user ----------------------------------------------------------------------------------------


def test_user_create_reads_the_password_from_stdin(
    admin: Admin, tenant: str, database: MongoSettings
) -> None:
    code, out, err = admin(
        "user",
        "create",
        "alice",
        "--tenant",
        tenant,
        "--role",
        "exporter",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )

    assert (code, err) == (0, "")
    assert (out["username"], out["tenant"], out["roles"], out["disabled"]) == (
        "alice",
        tenant,
        ["exporter", "admin"],
        False,
    )
    assert PASSWORD not in json.dumps(out)
    # The line's end is not part of the password; its trailing blank is
    assert authenticate(database, "alice", tenant, PASSWORD).id == out["id"]
    with pytest.raises(InvalidCredentials):
        authenticate(database, "alice", tenant, PASSWORD.strip())


def test_user_mistakes_are_one_line(admin: Admin, tenant: str) -> None:
    create = ("user", "create", "bob", "--role", "exporter", "--password-stdin")
    unknown = f"nope-{uuid.uuid4().hex[:6]}"

    code, _, err = admin(*create, "--tenant", unknown, stdin="pw\n")
    assert (code, error_line(err)) == (2, f"unknown tenant '{unknown}'")

    assert admin(*create, "--tenant", tenant, stdin="pw\n")[0] == 0
    code, _, err = admin(*create, "--tenant", tenant, stdin="pw\n")
    assert (code, error_line(err)) == (2, f"user 'bob' already exists in tenant '{tenant}'")

    code, _, err = admin(
        "user",
        "create",
        "carol",
        "--tenant",
        tenant,
        "--role",
        "exporter",
        "--password-stdin",
        stdin="\n",
    )
    assert (code, error_line(err)) == (2, "the password is empty")

    code, _, err = admin("user", "create", "carol", "--tenant", tenant, "--role", "exporter")
    assert (code, error_line(err)) == (
        2,
        "give the password on standard input with --password-stdin",
    )

    code, _, err = admin(
        "user",
        "create",
        "carol",
        "--tenant",
        tenant,
        "--role",
        "root",
        "--password-stdin",
        stdin="pw\n",
    )
    assert code == 2 and "invalid choice: 'root'" in err

    code, _, err = admin("user", "set-role", "zed", "--tenant", tenant, "--role", "admin")
    assert (code, error_line(err)) == (2, f"unknown user 'zed' in tenant '{tenant}'")


def test_roles_disable_and_list(admin: Admin, tenant: str, database: MongoSettings) -> None:
    # Given a user without roles
    code, out, _ = admin(
        "user",
        "create",
        "dave",
        "--tenant",
        tenant,
        "--role",
        "none",
        "--password-stdin",
        stdin="pw\n",
    )
    assert (code, out["roles"]) == (0, [])

    # When given the exporter role, then disabled, then enabled
    code, out, _ = admin("user", "set-role", "dave", "--tenant", tenant, "--role", "exporter")
    assert (code, out["roles"]) == (0, ["exporter"])
    code, out, _ = admin("user", "disable", "dave", "--tenant", tenant)
    assert (code, out["disabled"]) == (0, True)
    with pytest.raises(InvalidCredentials):
        authenticate(database, "dave", tenant, "pw")
    code, out, _ = admin("user", "disable", "dave", "--tenant", tenant, "--enable")
    assert (code, out["disabled"]) == (0, False)
    assert authenticate(database, "dave", tenant, "pw").roles == ["exporter"]

    # Then the tenant's list shows them
    admin(
        "user",
        "create",
        "erin",
        "--tenant",
        tenant,
        "--role",
        "admin",
        "--password-stdin",
        stdin="pw\n",
    )
    code, out, _ = admin("user", "list", "--tenant", tenant)
    assert code == 0
    assert [(u["username"], u["roles"], u["disabled"]) for u in out["users"]] == [
        ("dave", ["exporter"], False),
        ("erin", ["admin"], False),
    ]

    code, _, err = admin(
        "user", "set-role", "dave", "--tenant", tenant, "--role", "none", "--role", "admin"
    )
    assert (code, error_line(err)) == (2, "--role none cannot be combined with other roles")


def test_set_password(admin: Admin, tenant: str, database: MongoSettings) -> None:
    admin(
        "user",
        "create",
        "fay",
        "--tenant",
        tenant,
        "--role",
        "exporter",
        "--password-stdin",
        stdin="old\n",
    )

    code, _, _ = admin(
        "user", "set-password", "fay", "--tenant", tenant, "--password-stdin", stdin="new\n"
    )

    assert code == 0
    assert authenticate(database, "fay", tenant, "new").username == "fay"


def test_unreachable_mongodb_is_one_line_naming_the_setting(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDDS_MONGO__URL", "mongodb://cdds:secret-pw@127.0.0.1:1/")

    code, _, err = admin("tenant", "list")

    assert code == 2
    assert error_line(err).startswith("CDDS_MONGO__URL: cannot reach MongoDB at 127.0.0.1:1")
    assert "secret-pw" not in err


def test_the_installed_command(tenant: str, database: MongoSettings) -> None:
    # The real entry point, as an operator runs it: the password piped in
    env = {
        **os.environ,
        "CDDS_MONGO__URL": database.url.get_secret_value(),
        "CDDS_MONGO__DATABASE": database.database,
    }
    command = [
        str(Path(sys.executable).parent / "cdds-admin"),
        "user",
        "create",
        "gus",
        "--tenant",
        tenant,
        "--role",
        "exporter",
        "--password-stdin",
    ]

    done = subprocess.run(
        command, input="pw\n", env=env, capture_output=True, text=True, timeout=60
    )

    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["username"] == "gus"
    assert authenticate(database, "gus", tenant, "pw").username == "gus"


# -- audit ---------------------------------------------------------------------------------------


def test_administrative_changes_are_audited_without_secrets(
    admin: Admin, tenant: str, database: MongoSettings
) -> None:
    password = "a long and secret password"
    name = f"u-{uuid.uuid4().hex[:6]}"
    assert (
        admin(
            "user",
            "create",
            name,
            "--tenant",
            tenant,
            "--role",
            "exporter",
            "--password-stdin",
            stdin=password + "\n",
        )[0]
        == 0
    )
    assert admin("user", "set-role", name, "--tenant", tenant, "--role", "admin")[0] == 0
    assert (
        admin(
            "user",
            "set-password",
            name,
            "--tenant",
            tenant,
            "--password-stdin",
            stdin=password + "!\n",
        )[0]
        == 0
    )
    assert admin("user", "disable", name, "--tenant", tenant)[0] == 0

    async def events() -> list[Any]:
        async with MongoDocumentStore(database) as documents:
            return await AuditLog(documents).find(tenant=tenant)

    found = asyncio.run(events())
    actions = [e.action for e in reversed(found)]
    assert actions == [
        "tenant.create",
        "user.create",
        "user.set_role",
        "user.set_password",
        "user.disable",
    ]
    assert all(e.actor.startswith("cdds-admin (") for e in found)
    [set_role] = [e for e in found if e.action == "user.set_role"]
    assert set_role.detail["roles"] == ["admin"]
    assert password not in json.dumps([e.model_dump(mode="json") for e in found])
