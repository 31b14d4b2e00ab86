"""structlog set-up, once per entrypoint: JSON off a TTY, console on one; correlation ids bound
with ``bind_correlation`` travel on every line of a message's handling (contextvars).

The libraries' loggers go through the same root handler: FastStream's (its module logger has a
text handler of its own; the broker's is ``BROKER_LOGGER``, given to every broker by
``make_broker``) and uvicorn's (run with ``log_config=None``; if uvicorn configured its own
handlers anyway, they are replaced). So every line a service writes is one format."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from opentelemetry import trace

__all__ = ["BROKER_LOGGER", "bind_correlation", "configure_logging", "get_logger"]

BROKER_LOGGER = "faststream.rabbit"
"""The logger of FastStream's brokers ("Received", "Processed", with queue and message id)."""
_OWN_HANDLERS = (
    "faststream",  # FastStream's module logger: a text handler from its import on
    "faststream.access.rabbit",  # a broker's default logger (brokers not from ``make_broker``)
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
)


def _drop_color_message(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event.pop("color_message", None)  # uvicorn's copy of the message with terminal colours
    return event


def _add_trace_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """With traces on (docs/operations.md, "Traces"), a line logged in a span names its trace."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
    return event


def configure_logging(level: str = "INFO", *, json: bool | None = None) -> None:
    """Configure structlog and the standard library's root logger to share one format."""
    render_json = not sys.stderr.isatty() if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        _add_trace_id,
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
            foreign_pre_chain=shared,
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
    for name in _OWN_HANDLERS:
        library = logging.getLogger(name)
        if library.handlers:  # a text handler of its own: through the root's instead
            library.handlers.clear()
            library.propagate = True
    # Client libraries are chatty at INFO and may echo URLs; keep them at WARNING.
    for noisy in ("aiormq", "aio_pika", "pymongo", "urllib3", "httpx", "psycopg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_correlation(correlation_id: str | None, **values: Any) -> None:
    """Attach a correlation id (the run id) and other ids to every following log line."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, **values)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
