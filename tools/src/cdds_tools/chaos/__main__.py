"""``python -m cdds_tools.chaos`` (``make chaos``): every scenario on a private stack, one line
per fault, a plaintext scan at the end; exit status 1 if any outcome is wrong (docs/chaos.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cdds_shared.settings import load_settings
from cdds_tools.chaos.harness import Harness, Result
from cdds_tools.chaos.provision import provision
from cdds_tools.chaos.scan import scan
from cdds_tools.chaos.scenarios import SCENARIOS, Scenario, by_name
from cdds_tools.chaos.stack import (
    BASE_PORT,
    chaos_config,
    chaos_stack,
    clean,
    kept_environment,
    start,
)
from cdds_tools.devstack import Stack, StackConfig
from cdds_tools.devstack.config import find_root

__all__ = ["main"]

HARNESS_PID = "harness.pid"


def _say(text: str) -> None:
    print(text, flush=True)


async def _scenarios(
    stack: Stack, workdir: Path, scenarios: list[Scenario], args: argparse.Namespace
) -> tuple[list[Result], bytes]:
    settings = load_settings()
    began = time.monotonic()
    who = await provision(
        settings.ucs.dsn.get_secret_value(),
        settings.gateway.url,
        workdir,
        interactions=args.interactions,
        victim_interactions=2000,
    )
    _say(f"provisioned in {time.monotonic() - began:.0f} s: {args.interactions} interactions")
    harness = Harness(stack, settings, who, workdir)
    results = []
    try:
        for scenario in scenarios:
            try:
                result = await harness.run(scenario)
            except Exception as exc:  # reported as this scenario's outcome, then the next one
                result = Result(scenario, False, f"ERROR {type(exc).__name__}: {exc}"[:200], 0, "-")
            _say(result.line())
            results.append(result)
    finally:
        await who.user.close()
    return results, who.canary


def _scan(config: StackConfig, canary: bytes) -> bool:
    """The chaos stack's data (its UCS source excepted: plaintext by design) and ``.local/``
    (the shared stack's server data and the servers' binaries excepted)."""
    main = StackConfig(root=config.root)
    began = time.monotonic()
    found = scan(
        [config.root / ".local"],
        canary,
        exclude=[
            config.data / "postgres",
            config.server_base / "bin",
            main.data,
            main.local / "bin",
        ],
    )
    seconds = time.monotonic() - began
    mark = "ok   " if not found.found else "WRONG"
    _say(
        f"{mark} {'plaintext-scan':24} {'record content at rest':44} "
        f"{'none found' if not found.found else 'FOUND: ' + '; '.join(found.found[:5]):58} "
        f"{seconds:6.1f} s  {found.files} files, {found.bytes / 1e6:.0f} MB, "
        f"{found.streams} streams inflated"
    )
    return not found.found


def _harness_pid(config: StackConfig) -> int | None:
    """The pid of a chaos run in progress, if any."""
    try:
        pid = int((config.local / HARNESS_PID).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def _down(config: StackConfig) -> int:
    """``make down``: stop a chaos stack an interrupted run left behind — never the stack of a
    run in progress (it stops its own, in the end)."""
    running = _harness_pid(config)
    if running is not None:
        _say(f"chaos stack left running: a chaos run is in progress (pid {running})")
        return 0
    Stack(config).down(log=lambda _: None)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cdds_tools.chaos", description=__doc__)
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this scenario")
    parser.add_argument("--list", action="store_true", help="list the scenarios")
    parser.add_argument("--interactions", type=int, default=30_000, help="default 30000")
    parser.add_argument("--partition-records", type=int, default=5_000, help="default 5000")
    parser.add_argument("--fetch-size", type=int, default=200, help="UCS rows per fetch")
    parser.add_argument("--base-port", type=int, default=BASE_PORT, help="13 ports from here")
    parser.add_argument("--down", action="store_true", help="stop a chaos stack left behind")
    args = parser.parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            _say(f"{s.name:24} {s.fault}")
        return 0
    config = chaos_config(find_root(), args.base_port)
    if args.down:
        return _down(config)
    scenarios = [by_name(n) for n in args.only] if args.only else list(SCENARIOS)
    began = time.monotonic()
    if (running := _harness_pid(config)) is not None:
        raise SystemExit(f"chaos: another chaos run is in progress (pid {running})")
    clean(config)
    (config.local / HARNESS_PID).write_text(f"{os.getpid()}\n")
    # The harness and the private stack's services read the private stack's settings only.
    environment = {**kept_environment(), **config.env()}
    os.environ.clear()
    os.environ.update(environment)
    stack = chaos_stack(
        config,
        {
            "CDDS_EXPORT__PARTITION_RECORDS": str(args.partition_records),
            "CDDS_UCS__FETCH_SIZE": str(args.fetch_size),
        },
    )
    workdir = Path(tempfile.mkdtemp(prefix="cdds-chaos-"))  # keys and plaintext: not in .local
    results: list[Result] = []
    canary = b""
    try:
        _say(f"chaos stack under {config.local}, ports {args.base_port}-{args.base_port + 12}")
        start(stack, log=lambda _: None)
        _say(f"started in {time.monotonic() - began:.0f} s")
        results, canary = asyncio.run(_scenarios(stack, workdir, scenarios, args))
    finally:
        stack.down(log=lambda _: None)
        shutil.rmtree(workdir, ignore_errors=True)
    scanned_clean = _scan(config, canary)
    wrong = [r.scenario.name for r in results if not r.ok]
    _say(
        f"chaos: {len(results) - len(wrong)} of {len(results)} scenarios right"
        f"{', plaintext scan clean' if scanned_clean else ', PLAINTEXT FOUND'} "
        f"in {time.monotonic() - began:.0f} s" + (f"; wrong: {', '.join(wrong)}" if wrong else "")
    )
    return 0 if scanned_clean and not wrong and len(results) == len(scenarios) else 1


if __name__ == "__main__":
    sys.exit(main())
