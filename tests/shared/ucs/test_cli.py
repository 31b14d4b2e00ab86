"""``cdds-admin ucs``: exit codes, JSON output, and one-line errors naming the setting."""

from __future__ import annotations

import json

import pytest
from psycopg.conninfo import make_conninfo

from cdds_tools.admin.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_seed_and_count(
    capsys: pytest.CaptureFixture[str], ucs_dsn: str, tenant_id: int
) -> None:
    code, out, _ = run(capsys, "ucs", "migrate", "--dsn", ucs_dsn)
    assert (code, json.loads(out)) == (0, {"applied": []})

    seed_args = ["--tenant-id", str(tenant_id), "--contacts", "30", "--interactions", "300"]
    code, out, _ = run(capsys, "ucs", "seed", *seed_args, "--seed", "4", "--dsn", ucs_dsn)
    seeded = json.loads(out)
    assert code == 0
    assert (seeded["tenantId"], seeded["contacts"], seeded["interactions"]) == (tenant_id, 30, 300)

    code, out, err = run(capsys, "ucs", "count", "--tenant-id", str(tenant_id), "--dsn", ucs_dsn)
    counts = json.loads(out)
    assert (code, err) == (0, "")
    assert counts["contacts"] == 30
    assert counts["interactions"] == sum(counts["interactionsByMediaType"].values()) == 300
    assert counts["attachments"] == seeded["attachments"]


def test_dsn_defaults_to_the_setting(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    ucs_dsn: str,
    tenant_id: int,
) -> None:
    monkeypatch.setenv("CDDS_UCS__DSN", ucs_dsn)
    code, out, _ = run(capsys, "ucs", "count", "--tenant-id", str(tenant_id))
    assert code == 0
    assert json.loads(out)["interactions"] == 0


def test_wrong_password_is_one_line_naming_the_setting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ucs_dsn: str, unique: str
) -> None:
    monkeypatch.setenv("CDDS_UCS__DSN", make_conninfo(ucs_dsn, password=f"wrong-{unique}"))
    code, out, err = run(capsys, "ucs", "count", "--tenant-id", "1")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "CDDS_UCS__DSN: " in err
    assert "password authentication failed" in err
    assert "Traceback" not in err
    assert unique not in err


@pytest.mark.parametrize("command", ["migrate", "seed", "count"])
def test_unreachable_server_exits_2(capsys: pytest.CaptureFixture[str], command: str) -> None:
    dsn = "postgresql://cdds:secret-pw@127.0.0.1:1/ucs"
    tenant = [] if command == "migrate" else ["--tenant-id", "1"]
    code, _, err = run(capsys, "ucs", command, *tenant, "--dsn", dsn)
    assert code == 2
    assert err.startswith("cdds-admin: error: CDDS_UCS__DSN: ")
    assert err.count("\n") == 1
    assert "secret-pw" not in err


def test_missing_schema_suggests_migrate(
    capsys: pytest.CaptureFixture[str], fresh_dsn: str
) -> None:
    code, _, err = run(capsys, "ucs", "count", "--tenant-id", "1", "--dsn", fresh_dsn)
    assert code == 2
    assert "CDDS_UCS__DSN" in err
    assert "cdds-admin ucs migrate" in err


@pytest.mark.parametrize(
    "argv", [[], ["ucs"], ["ucs", "count"], ["ucs", "seed", "--tenant-id", "x"]]
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert "usage: cdds-admin" in err
