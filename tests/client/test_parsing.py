"""``cdds job create``'s small languages, without a server: ``--schedule`` phrases and
``--split-size`` become exactly the API's fields (docs/api.md § Jobs); anything else is a usage
error (exit 2) that says what is accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cdds_client.cli import build_parser, main
from cdds_client.commands.jobs import describe_schedule, job_body
from cdds_client.errors import UsageError
from cdds_client.parsing import parse_moment, parse_schedule, parse_size

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("phrase", "schedule"),
    [
        ("once 2026-12-24T02:00Z", {"kind": "once", "at": "2026-12-24T02:00:00Z"}),
        ("once 2026-12-24T03:00+01:00", {"kind": "once", "at": "2026-12-24T02:00:00Z"}),
        ("once 2026-12-24T02:00", {"kind": "once", "at": "2026-12-24T02:00:00Z"}),
        ("every 6h", {"kind": "every_hours", "hours": 6}),
        ("every 24h", {"kind": "every_hours", "hours": 24}),
        ("daily 02:00", {"kind": "daily", "time": "02:00"}),
        ("weekly mon 02:00", {"kind": "weekly", "weekday": 0, "time": "02:00"}),
        ("weekly Sunday 23:59", {"kind": "weekly", "weekday": 6, "time": "23:59"}),
        ("now", {"kind": "now"}),
    ],
)
def test_schedules(phrase: str, schedule: dict[str, Any]) -> None:
    assert parse_schedule(phrase) == schedule
    if schedule["kind"] != "once":  # the way back, as `cdds job list` shows it
        expected = "on demand" if phrase == "now" else phrase.replace("Sunday", "sun")
        assert describe_schedule(schedule) == expected


@pytest.mark.parametrize(
    ("phrase", "says"),
    [
        ("every 0h", "1h to 24h"),
        ("every 25h", "1h to 24h"),
        ("every day", "1h to 24h"),
        ("daily 2:00", "HH:MM"),
        ("daily 24:00", "HH:MM"),
        ("weekly mo 02:00", "not a weekday"),
        ("weekly mon", "not a schedule"),
        ("once tomorrow", "ISO 8601"),
        ("hourly", "not a schedule"),
        ("", "not a schedule"),
    ],
)
def test_bad_schedules_say_what_is_accepted(phrase: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_schedule(phrase)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MiB", 512 << 20),
        ("1GiB", 1 << 30),
        ("1 GiB", 1 << 30),
        ("1.5GiB", 3 << 29),
        ("200MB", 200_000_000),
        ("1048576", 1 << 20),
        ("4096b", 4096),
        ("2kib", 2048),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "12 parsecs", "-1", "0", "0.5", "1.3B"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|whole number"):
        parse_size(text)


def test_a_moment_without_offset_is_utc() -> None:
    assert parse_moment("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC)


def body(*argv: str) -> dict[str, Any]:
    args = build_parser().parse_args(["job", "create", "--title", "T", *argv])
    return job_body(args)


def test_the_job_body_has_only_what_was_given() -> None:
    assert body("--type", "contact") == {"title": "T", "type": "contact"}
    assert body(
        "--type",
        "interaction",
        "--media",
        "voice, chat,",
        "--start",
        "2025-01-01",
        "--end",
        "2026-01-01T00:00Z",
        "--split-size",
        "512MiB",
        "--schedule",
        "weekly fri 02:30",
        "--run-now",
    ) == {
        "title": "T",
        "type": "interaction",
        "media_types": ["voice", "chat"],
        "timeframe": {
            "kind": "fixed",
            "start": "2025-01-01T00:00:00Z",
            "end": "2026-01-01T00:00:00Z",
        },
        "split_size_bytes": 512 << 20,
        "schedule": {"kind": "weekly", "weekday": 4, "time": "02:30"},
        "run_now": True,
    }


def test_since_previous() -> None:
    assert body("--type", "contact", "--since-previous", "--schedule", "every 6h") == {
        "title": "T",
        "type": "contact",
        "schedule": {"kind": "every_hours", "hours": 6},
        "timeframe": {"kind": "since_previous"},
    }
    assert body("--type", "contact", "--since-previous", "--start", "2025-06-01")["timeframe"] == {
        "kind": "since_previous",
        "start": "2025-06-01T00:00:00Z",
    }
    with pytest.raises(UsageError, match="--end does not apply"):
        body("--type", "contact", "--since-previous", "--end", "2026-01-01")


def test_usage_errors_exit_2_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["job", "create", "--title", "T", "--type", "contact", "--split-size", "huge"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "argument --split-size: not a size: 'huge'; use bytes or a unit" in err
    assert main(["job", "create", "--title", "T", "--type", "contact", "--schedule", "x"]) == 2
    assert "argument --schedule: not a schedule: 'x'; use \"once" in capsys.readouterr().err
    assert main(["job", "create", "--title", "T", "--type", "csv"]) == 2
    assert main(["no-such-command"]) == 2


def test_since_previous_with_end_is_a_usage_error_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDDS_TOKEN", "t")
    monkeypatch.setenv("CDDS_URL", "http://127.0.0.1:9")
    argv = ["job", "create", "--title", "T", "--type", "contact", "--since-previous"]
    assert main([*argv, "--end", "2026-01-01"]) == 2
    assert capsys.readouterr().err == (
        "cdds: --end does not apply with --since-previous (each run ends now)\n"
    )
