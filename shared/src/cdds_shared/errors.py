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
    "ForgedMessage",
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
    """Retrying cannot help: bad input, a missing certificate, a poison message.

    In a run's handler it fails the run with its message, unless ``fails_run`` is false (the
    message cannot be trusted to name a run of its own), then the message is dead-lettered.
    """

    code = "permanent"
    fails_run = True


class ValidationFailed(PermanentError):
    code = "invalid"


class NotFoundError(PermanentError):
    code = "not_found"


class ConflictError(PermanentError):
    code = "conflict"


class ForgedMessage(PermanentError):
    """A message on the internal bus that does not match what it claims (e.g. a ``RunRequested``
    for a run the gateway never created, or with another tenant, UCS tenant or owner). It is
    dead-lettered with the reason; the run it names, if any, is left alone."""

    code = "forged_message"
    fails_run = False


class ConfigError(CddsError):
    """Settings are missing, malformed or unsafe. The message is one line naming the setting."""

    code = "config_error"
