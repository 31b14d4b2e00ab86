"""``cdds-stack up|down|status|env``: the local real stack (used by ``make up/down/status``)."""

from __future__ import annotations

import argparse
import sys

from cdds_tools.devstack.config import StackConfig, find_root
from cdds_tools.devstack.stack import INFRA, SERVICES, Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cdds-stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start what is not running, wait for health")
    up.add_argument("--infra-only", action="store_true", help="servers only, not the services")
    sub.add_parser("down", help="stop everything, leave no process behind")
    sub.add_parser("clean", help="stop everything and delete all local data and logs")
    sub.add_parser("status", help="each process, its pid and health; exit 1 if any is unhealthy")
    sub.add_parser("env", help="print the path of .local/stack.env")
    args = parser.parse_args(argv)

    stack = Stack(StackConfig(root=find_root()))
    if args.command == "up":
        try:
            stack.up(INFRA if args.infra_only else INFRA + SERVICES)
        except StackError as exc:
            print(f"cdds-stack: {exc}", file=sys.stderr)
            return 1
        print(f"settings: source {stack.write_env()}")
        return 0
    if args.command == "down":
        stack.down()
        return 0
    if args.command == "clean":
        stack.clean()
        return 0
    if args.command == "env":
        print(stack.write_env())
        return 0
    rows = stack.status()
    print(f"{'process':10} {'pid':>8}  {'ports':18} health / log")
    for row in rows:
        ports = ",".join(map(str, row.ports))
        print(f"{row.name:10} {row.pid or '-':>8}  {ports:18} {row.health}  ({row.log})")
    return 0 if all(r.health == "healthy" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
