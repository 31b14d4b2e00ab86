"""The private stack chaos runs on: a second, complete stack (the four servers and the four
services) under ``.local/chaos/`` on its own loopback ports, so faults never touch the shared
stack of ``make up``. Started clean, stopped in the end, leaving no process behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cdds_tools.devstack import Stack, StackConfig
from cdds_tools.devstack.process import port_open

__all__ = [
    "BASE_PORT",
    "PORT_FIELDS",
    "chaos_config",
    "chaos_stack",
    "clean",
    "kept_environment",
    "start",
    "taken_ports",
]

BASE_PORT = 25700
"""Ports 25700-25712: outside Linux's ephemeral range, clear of the shared stack's."""
PORT_FIELDS = (
    "rabbit_port",
    "rabbit_management_port",
    "rabbit_dist_port",
    "epmd_port",
    "postgres_port",
    "mongo_port",
    "ferretdb_debug_port",
    "minio_port",
    "minio_console_port",
    "gateway_port",
    "exporter_port",
    "encryptor_port",
    "janitor_port",
)


def chaos_config(root: Path, base_port: int = BASE_PORT) -> StackConfig:
    ports = {name: base_port + i for i, name in enumerate(PORT_FIELDS)}
    return StackConfig(root=root, local_dir=root / ".local" / "chaos", **ports)  # type: ignore[arg-type]


def kept_environment() -> dict[str, str]:
    """The caller's environment without ``CDDS_*`` settings (a shell that sourced the shared
    stack's ``stack.env`` must not leak into the private one): the product's defaults apply,
    apart from what the harness sets and says."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith("CDDS_") or k == "CDDS_CACHE_DIR"
    }


def chaos_stack(config: StackConfig, service_env: dict[str, str]) -> Stack:
    """The stack of ``config``; its services also get ``service_env`` (data and partition size,
    fetch size)."""
    stack = Stack(config)
    for name in ("gateway", "exporter", "encryptor", "janitor"):
        stack.processes[name].env.update(service_env)
    return stack


def taken_ports(config: StackConfig) -> list[int]:
    return [getattr(config, f) for f in PORT_FIELDS if port_open(config.host, getattr(config, f))]


def clean(config: StackConfig) -> None:
    """Stop what an interrupted chaos run may have left and delete its data. Done before the
    settings are read: the broker users' passwords are made anew in the empty folder."""
    Stack(config).clean(log=lambda _: None)
    config.local.mkdir(parents=True, exist_ok=True)


def start(stack: Stack, log: Callable[[str], None]) -> None:
    taken = taken_ports(stack.config)
    if taken:
        raise RuntimeError(
            f"chaos stack: ports {taken} on {stack.config.host} are taken; "
            "choose another range with --base-port"
        )
    stack.up(log=log)
