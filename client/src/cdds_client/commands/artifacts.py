"""``cdds artifact list [--run RUN]``: the files still available (docs/api.md § Artifacts)."""

from __future__ import annotations

import argparse
from typing import Any

from cdds_client.context import add_json, connect
from cdds_client.output import human_size, print_json, print_table

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    artifact = subparsers.add_parser("artifact", help="the sealed files")
    actions = artifact.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="the files still available")
    listing.add_argument("--run", metavar="RUN", help="the files of this run only")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)
    add_json(listing)
    listing.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit, "offset": args.offset}
    if args.run:
        params["run_id"] = args.run
    with connect(args) as api:
        page = api.json("GET", "/artifacts", params=params)
    if args.json:
        print_json(page)
        return 0
    rows = [
        (a["id"], a["name"], human_size(a["size"]), a.get("expires_at"), a.get("status"))
        for a in page["items"]
    ]
    print_table(("ID", "NAME", "SIZE", "EXPIRES", "STATUS"), rows)
    return 0
