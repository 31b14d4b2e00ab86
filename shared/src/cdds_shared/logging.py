"""structlog set-up, once per entrypoint: JSON off a TTY, console on one; correlation ids bound
with ``bind_correlation`` travel on every line of a message's handling (contextvars)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["bind_correlation", "configure_logging", "get_logger"]


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Configure structlog and the standard library's root logger to share one format."""
    render_json = not sys.stderr.isatty() if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if render_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries are chatty at INFO and may echo URLs; keep them at WARNING.
    for noisy in ("aiormq", "aio_pika", "pymongo", "urllib3", "httpx", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_correlation(correlation_id: str | None, **values: Any) -> None:
    """Attach a correlation id (the run id) and other ids to every following log line."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, **values)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
