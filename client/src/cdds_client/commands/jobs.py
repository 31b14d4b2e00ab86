"""``cdds job create|list|run``: saved exports (docs/api.md § Jobs)."""

from __future__ import annotations

import argparse
from typing import Any

from cdds_client.context import add_json, argument, connect
from cdds_client.errors import UsageError
from cdds_client.output import print_json, print_table
from cdds_client.parsing import WEEKDAYS, parse_moment, parse_schedule, parse_size, rfc3339

__all__ = ["describe_schedule", "job_body", "register"]


def register(subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    job = subparsers.add_parser("job", help="export jobs")
    actions = job.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", parents=[common], help="add a job")
    create.add_argument("--title", required=True, metavar="T")
    create.add_argument("--type", required=True, choices=("interaction", "contact"))
    create.add_argument(
        "--media", metavar="voice,chat,…", help="interactions of these media types only"
    )
    create.add_argument(
        "--start", type=argument(parse_moment), metavar="ISO", help="from (inclusive, UTC)"
    )
    create.add_argument(
        "--end", type=argument(parse_moment), metavar="ISO", help="to (exclusive, UTC)"
    )
    create.add_argument(
        "--split-size",
        type=argument(parse_size),
        metavar="SIZE",
        help="largest file: 512MiB, 1GiB, bytes",
    )
    create.add_argument(
        "--schedule",
        type=argument(parse_schedule),
        metavar="WHEN",
        help='"once 2026-12-24T02:00Z", "every 6h", "daily 02:00" or "weekly mon 02:00" (UTC); '
        "default: on demand",
    )
    create.add_argument(
        "--since-previous",
        action="store_true",
        help="each run exports what is new since the job's previous run (from --start)",
    )
    create.add_argument("--run-now", action="store_true", help="also start a run now")
    add_json(create)
    create.set_defaults(handler=run_create)

    listing = actions.add_parser("list", parents=[common], help="your jobs")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)
    add_json(listing)
    listing.set_defaults(handler=run_list)

    start = actions.add_parser("run", parents=[common], help="start a run of JOB now")
    start.add_argument("job", metavar="JOB")
    add_json(start)
    start.set_defaults(handler=run_start)


def job_body(args: argparse.Namespace) -> dict[str, Any]:
    """The ``POST /jobs`` body of ``cdds job create``'s options."""
    body: dict[str, Any] = {"title": args.title, "type": args.type}
    if args.media:
        body["media_types"] = [m.strip() for m in args.media.split(",") if m.strip()]
    if args.schedule is not None:
        body["schedule"] = args.schedule
    if args.since_previous:
        if args.end is not None:
            raise UsageError("--end does not apply with --since-previous (each run ends now)")
        body["timeframe"] = {"kind": "since_previous"}
        if args.start is not None:
            body["timeframe"]["start"] = rfc3339(args.start)
    elif args.start is not None or args.end is not None:
        body["timeframe"] = {"kind": "fixed"}
        for bound in ("start", "end"):
            if (moment := getattr(args, bound)) is not None:
                body["timeframe"][bound] = rfc3339(moment)
    if args.split_size is not None:
        body["split_size_bytes"] = args.split_size
    if args.run_now:
        body["run_now"] = True
    return body


def run_create(args: argparse.Namespace) -> int:
    body = job_body(args)
    with connect(args) as api:
        job = api.json("POST", "/jobs", json=body)
    if args.json:
        print_json(job)
    else:
        print(f"job {job['id']}")
        if job.get("run_id"):
            print(f"run {job['run_id']}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    params = {"limit": args.limit, "offset": args.offset}
    with connect(args) as api:
        page = api.json("GET", "/jobs", params=params)
    if args.json:
        print_json(page)
        return 0
    rows = [
        (
            job["id"],
            job["title"],
            job["type"],
            describe_schedule(job.get("schedule") or {}),
            job.get("next_run_at"),
            (job.get("latest_run") or {}).get("status"),
        )
        for job in page["items"]
    ]
    print_table(("ID", "TITLE", "TYPE", "SCHEDULE", "NEXT RUN", "LAST RUN"), rows)
    return 0


def run_start(args: argparse.Namespace) -> int:
    with connect(args) as api:
        run = api.json("POST", f"/jobs/{args.job}/runs", what=f"job {args.job}")
    if args.json:
        print_json(run)
    else:
        print(f"run {run['id']}")
    return 0


def describe_schedule(schedule: dict[str, Any]) -> str:
    """The API's schedule in ``--schedule``'s words."""
    kind = schedule.get("kind", "now")
    if kind == "once":
        return f"once {schedule.get('at')}"
    if kind == "every_hours":
        return f"every {schedule.get('hours')}h"
    if kind == "daily":
        return f"daily {schedule.get('time')}"
    if kind == "weekly":
        return f"weekly {WEEKDAYS[int(schedule.get('weekday') or 0)]} {schedule.get('time')}"
    return "on demand"
