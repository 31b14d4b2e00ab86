"""Run the gateway under uvicorn with the edge's limits: ``python -m cdds_gateway.serve``.

The one launcher of the gateway (``make up``, the image, the docs). It binds
``CDDS_GATEWAY__HOST``/``PORT`` (``--host``/``--port`` override them) and configures uvicorn
from the settings: the guarded httptools protocol (header size, count and time limits,
:mod:`cdds_gateway.edge.protocol`), ``limit_concurrency`` (503 beyond it), the keep-alive
timeout and the listen backlog, and the graceful shutdown: on SIGTERM it stops accepting, lets
in-flight requests and downloads run for ``DRAIN_SECONDS`` and then cuts them (a client resumes
with ``Range``; docs/operations.md, "Shutdown"). Body limits and deadlines are the app's own
middleware (:mod:`cdds_gateway.edge.bodies`), so they hold under any server.

Logs: uvicorn gets no logging config of its own (its lines go through the root handler, JSON
off a TTY) and logs no access line: the app's edge does, structured, with the request id
(:mod:`cdds_gateway.edge.request_id`). Proxy headers (``X-Forwarded-For``/``-Proto``) are
honoured only from ``CDDS_GATEWAY__TRUSTED_PROXIES`` (addresses or CIDRs); with none, never.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial

import uvicorn

from cdds_gateway.app import create_app
from cdds_gateway.edge.protocol import HeaderLimits, guarded_protocol
from cdds_shared.runtime import settings_or_exit
from cdds_shared.settings import Settings
from cdds_shared.shutdown import DRAIN_SECONDS, exit_zero_after_drain

__all__ = ["main", "server_config"]


def server_config(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    access_log: bool = True,
) -> uvicorn.Config:
    """uvicorn's configuration for this gateway (the app is built when the server starts)."""
    g = settings.gateway
    limits = HeaderLimits(
        max_header_bytes=g.max_header_bytes,
        max_headers=g.max_headers,
        header_timeout=g.header_timeout_seconds,
    )
    trusted = list(g.trusted_proxies)
    return uvicorn.Config(
        partial(create_app, settings, access_log=access_log),
        factory=True,
        host=host or g.host,
        port=g.port if port is None else port,
        http=guarded_protocol(limits),
        ws="none",
        lifespan="on",
        limit_concurrency=g.limit_concurrency,
        timeout_keep_alive=g.keep_alive_seconds,
        backlog=g.backlog,
        timeout_graceful_shutdown=int(DRAIN_SECONDS),
        log_config=None,
        access_log=False,  # the edge's structured line instead of uvicorn's
        # uvicorn trusts 127.0.0.1 (or $FORWARDED_ALLOW_IPS) by default: only the setting counts.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m cdds_gateway.serve", description=__doc__)
    parser.add_argument("--host", help="bind address (default CDDS_GATEWAY__HOST)")
    parser.add_argument("--port", type=int, help="bind port (default CDDS_GATEWAY__PORT)")
    parser.add_argument("--no-access-log", action="store_true", help="no line per request")
    args = parser.parse_args(argv)
    settings = settings_or_exit("gateway")
    config = server_config(
        settings, host=args.host, port=args.port, access_log=not args.no_access_log
    )
    exit_zero_after_drain()  # a drained stop ends with status 0 (docs/operations.md)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
