"""The error taxonomy: one place that decides what happens to a failed message or request.

``TransientError`` → retried within the retry budget (``messaging/fate.py``), ``PermanentError``
→ dead letter, logged as a warning with the reason. Use cases raise these, never an HTTP status:
the gateway maps each ``code`` to its status in one table (``cdds_gateway/errors.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = [
    "CddsError",
    "CertificateRequired",
    "ConfigError",
    "ConflictError",
    "DependencyUnavailable",
    "ForgedMessage",
    "Gone",
    "InvalidCertificate",
    "NoCertificate",
    "NotFinished",
    "NotFoundError",
    "PermanentError",
    "RequestRejected",
    "ServiceUnavailable",
    "TooLarge",
    "TooManyRuns",
    "TransientError",
    "ValidationFailed",
]


class CddsError(Exception):
    """Base of every error CDDS raises on purpose. ``code`` is stable; ``str()`` is for humans.

    ``link``: where the caller can fix it (a page of the web UI); ``retry_at``: when trying again
    can succeed (the gateway answers ``Retry-After``).
    """

    code = "cdds_error"
    link: str | None = None
    retry_at: datetime | None = None


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


class ServiceUnavailable(TransientError):
    """A request could not be carried out now because a service CDDS depends on did not answer
    (e.g. RabbitMQ did not confirm a run's request); nothing was started."""

    code = "service_unavailable"


class ValidationFailed(PermanentError):
    """Bad input. ``locations``: where each problem is (``("schedule", "time")``), one per
    problem, in the order of the message's parts."""

    code = "invalid"

    def __init__(self, detail: str, *, locations: Sequence[tuple[str | int, ...]] = ()) -> None:
        super().__init__(detail)
        self.locations = tuple(locations)


class TooLarge(ValidationFailed):
    """More bytes than the limit (an uploaded file); the message says the limit."""

    code = "too_large"


class InvalidCertificate(ValidationFailed):
    """An uploaded certificate refused; the message says precisely why."""

    code = "invalid_certificate"


class NotFoundError(PermanentError):
    """Unknown, or out of the caller's scope: the two look the same to the caller."""

    code = "not_found"


class NoCertificate(NotFoundError):
    """The user has no certificate on file."""

    code = "no_certificate"


class Gone(PermanentError):
    """It existed and was deleted (a file past its retention, or deleted by its owner)."""

    code = "gone"


class ConflictError(PermanentError):
    code = "conflict"


class NotFinished(PermanentError):
    """It exists but is not done yet (a run's manifest before the run completed). Not a
    ``ConflictError``: callers catch that one for "it already exists"."""

    code = "not_finished"


class CertificateRequired(PermanentError):
    """The owner has no certificate that can seal now; ``link`` is where to upload one. Not a
    ``ConflictError``: callers catch that one for "it already exists"."""

    code = "certificate_required"

    def __init__(self, detail: str, *, link: str | None = None) -> None:
        super().__init__(detail)
        self.link = link


class TooManyRuns(PermanentError):
    """A new run refused: its owner already has the most runs waiting to start; ``retry_at``
    says when trying again makes sense."""

    code = "too_many_runs"

    def __init__(self, detail: str, *, retry_at: datetime) -> None:
        super().__init__(detail)
        self.retry_at = retry_at


class ForgedMessage(PermanentError):
    """A message on the internal bus that does not match what it claims (e.g. a ``RunRequested``
    for a run the gateway never created, or with another tenant, UCS tenant or owner). It is
    dead-lettered with the reason; the run it names, if any, is left alone."""

    code = "forged_message"
    fails_run = False


class RequestRejected(PermanentError):
    """An integration's request that never runs (answered ``run.rejected``): dead-lettered with
    its reason; there is no run of its own to fail."""

    code = "request_rejected"
    fails_run = False


class ConfigError(CddsError):
    """Settings are missing, malformed or unsafe. The message is one line naming the setting."""

    code = "config_error"
