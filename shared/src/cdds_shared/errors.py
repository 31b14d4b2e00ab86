"""The error taxonomy: one place that decides what happens to a failed message or request.

``TransientError`` → retry (bounded by the queue's delivery limit), ``PermanentError`` → dead
letter, logged as a warning with the reason. HTTP errors are mapped at the edge from ``code``.
"""

from __future__ import annotations

__all__ = [
    "CddsError",
    "ConfigError",
    "ConflictError",
    "DependencyUnavailable",
    "NotFoundError",
    "PermanentError",
    "TransientError",
    "ValidationFailed",
]


class CddsError(Exception):
    """Base of every error CDDS raises on purpose. ``code`` is stable; ``str()`` is for humans."""

    code = "cdds_error"


class TransientError(CddsError):
    """Worth retrying: a dependency is slow, down or restarting."""

    code = "transient"


class DependencyUnavailable(TransientError):
    """A server (RabbitMQ, MongoDB, MinIO, UCS) cannot be reached or refused us.

    The message names the setting to check, e.g. ``CDDS_MONGO__URL``.
    """

    code = "dependency_unavailable"

    def __init__(self, setting: str, reason: str) -> None:
        self.setting = setting
        self.reason = reason
        super().__init__(f"{setting}: {reason}")


class PermanentError(CddsError):
    """Retrying cannot help: bad input, a missing certificate, a poison message."""

    code = "permanent"


class ValidationFailed(PermanentError):
    code = "invalid"


class NotFoundError(PermanentError):
    code = "not_found"


class ConflictError(PermanentError):
    code = "conflict"


class ConfigError(CddsError):
    """Settings are missing, malformed or unsafe. The message is one line naming the setting."""

    code = "config_error"
