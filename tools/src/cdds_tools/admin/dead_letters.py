"""``cdds-admin dead-letters``: list and replay a work queue's dead letters.

The broker is the one of ``CDDS_RABBIT__URL``. ``QUEUE`` is a work queue (e.g.
``cdds.exporter.export-partition``) or its ``.dead`` queue. Output is JSON, ids only.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from cdds_shared.messaging.dead_letters import list_dead_letters, replay_dead_letters
from cdds_shared.settings import load_settings
from cdds_tools.admin.tenant import emit

__all__ = ["register"]


def _url() -> str:
    return load_settings().rabbit.url.get_secret_value()


def _list(args: argparse.Namespace) -> int:
    count, letters = asyncio.run(list_dead_letters(_url(), args.queue))
    return emit({"queue": args.queue, "count": count, "messages": [d.as_json() for d in letters]})


def _replay(args: argparse.Namespace) -> int:
    replayed = asyncio.run(replay_dead_letters(_url(), args.queue, args.limit))
    return emit(
        {
            "queue": args.queue,
            "replayed": len(replayed),
            "messages": [d.as_json() for d in replayed],
        }
    )


def _limit(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(commands: argparse._SubParsersAction[Any]) -> None:
    group = commands.add_parser("dead-letters", help="list and replay dead letters")
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="count and describe a queue's dead letters")
    listing.add_argument("queue", metavar="QUEUE")
    listing.set_defaults(handler=_list)
    replay = sub.add_parser("replay", help="move dead letters back to their work queue")
    replay.add_argument("queue", metavar="QUEUE")
    replay.add_argument("--limit", type=_limit, default=None, help="at most this many")
    replay.set_defaults(handler=_replay)
