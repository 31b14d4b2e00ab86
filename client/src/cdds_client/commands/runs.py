"""``cdds run list|show|watch``: History (docs/api.md § Runs). ``watch`` polls the run until it
ends: exit 0 when it completed or had no data, 1 when it failed or was cancelled."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from cdds_client.api import Api, ApiFailure, Unreachable
from cdds_client.context import add_json, argument, connect
from cdds_client.errors import Failure
from cdds_client.output import print_json, print_table
from cdds_client.progress import run_display

__all__ = ["ENDED", "register", "watch"]

ENDED = ("completed", "no_data", "failed", "cancelled")
INTERVAL_VARIABLE = "CDDS_WATCH_INTERVAL"
# A gateway restarting or a network blip should not end a long watch.
TOLERATED_ERRORS = 5


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError(f"not an interval in seconds (0 to 3600): {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    run = subparsers.add_parser("run", help="runs (History)")
    actions = run.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="your runs, newest first")
    listing.add_argument("--status", action="append", metavar="STATUS", help="repeatable")
    listing.add_argument("--job", metavar="JOB", help="runs of this job only")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    add_json(listing)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", parents=[common], help="one run")
    show.add_argument("run", metavar="RUN")
    add_json(show)
    show.set_defaults(handler=run_show)

    follow = actions.add_parser("watch", parents=[common], help="follow RUN until it ends")
    follow.add_argument("run", metavar="RUN")
    follow.add_argument(
        "--interval",
        type=argument(_seconds),
        default=None,
        metavar="SECONDS",
        help=f"between polls (default: ${INTERVAL_VARIABLE}, else 2)",
    )
    add_json(follow)
    follow.set_defaults(handler=run_watch)


def run_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "offset": args.offset}
    if args.status:
        params["status"] = args.status
    if args.job:
        params["job_id"] = args.job
    with connect(args) as api:
        page = api.json("GET", "/runs", params=params)
    if args.json:
        print_json(page)
        return 0
    rows = [
        (
            run["id"],
            run.get("job_title"),
            run["type"],
            run["status"],
            run.get("requested_at"),
            (run.get("progress") or {}).get("records"),
            run.get("files"),
        )
        for run in page["items"]
    ]
    print_table(("ID", "JOB", "TYPE", "STATUS", "REQUESTED", "RECORDS", "FILES"), rows)
    return 0


def run_show(args: argparse.Namespace) -> int:
    with connect(args) as api:
        view = api.json("GET", f"/runs/{args.run}", what=f"run {args.run}")
    if args.json:
        print_json(view)
        return 0
    progress = view.get("progress") or {}
    timeframe = view.get("timeframe") or {}
    lines = {
        "run": view["id"],
        "job": f"{view.get('job_title')} ({view.get('job_id')})",
        "type": view["type"],
        "status": view["status"] + (f": {view['error']}" if view.get("error") else ""),
        "timeframe": f"{timeframe.get('start') or 'the beginning'} to {timeframe.get('end')}",
        "requested": view.get("requested_at"),
        "finished": view.get("finished_at"),
        "progress": f"{progress.get('percent')}% {progress.get('records')} records",
        "files": view.get("files"),
    }
    for label, value in lines.items():
        print(f"{label:10} {value if value is not None else '-'}")
    return 0


def _interval(args: argparse.Namespace) -> float:
    if args.interval is not None:
        return float(args.interval)
    try:
        return _seconds(os.environ.get(INTERVAL_VARIABLE) or "2")
    except ValueError as exc:
        raise Failure(f"${INTERVAL_VARIABLE}: {exc}") from None


def watch(api: Api, run_id: str, interval: float) -> dict[str, Any]:
    """Poll the run until it ends, showing its progress; its last view."""
    display = run_display(run_id)
    errors = 0
    try:
        while True:
            try:
                view: dict[str, Any] = api.json("GET", f"/runs/{run_id}", what=f"run {run_id}")
                errors = 0
            except (ApiFailure, Unreachable) as exc:
                refused = isinstance(exc, ApiFailure) and exc.http_status < 500
                if refused or (errors := errors + 1) > TOLERATED_ERRORS:
                    raise
                time.sleep(interval)
                continue
            display.show(view)
            if view["status"] in ENDED:
                return view
            time.sleep(interval)
    finally:
        display.close()


def run_watch(args: argparse.Namespace) -> int:
    with connect(args) as api:
        view = watch(api, args.run, _interval(args))
    if args.json:
        print_json(view)
    status = view["status"]
    if status == "failed":
        raise Failure(f"run {args.run} failed: {view.get('error') or 'no reason given'}")
    if status == "cancelled":
        raise Failure(f"run {args.run} was cancelled (deleted while it ran)")
    if not args.json:
        print(f"run {args.run} {status}: {view.get('files') or 0} files")
    return 0
