"""How long sessions last, when repeated failed sign-ins lock an account (or an unknown name),
and how many failures one client address may have per window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cdds_shared.settings import GatewaySettings

__all__ = ["IdentityPolicy"]


@dataclass(frozen=True)
class IdentityPolicy:
    session_lifetime: timedelta = timedelta(hours=8)
    remember_me_lifetime: timedelta = timedelta(days=30)
    max_failures: int = 5
    """Consecutive failed sign-ins of one user that lock the account."""
    lockout: timedelta = timedelta(minutes=15)
    """How long a lock lasts; zero disables locking."""
    ip_max_failures: int = 30
    """Failed sign-ins from one client address per ``ip_window``, whatever the names."""
    ip_window: timedelta = timedelta(minutes=15)

    @classmethod
    def of(cls, settings: GatewaySettings) -> IdentityPolicy:
        return cls(
            session_lifetime=timedelta(hours=settings.session_hours),
            remember_me_lifetime=timedelta(days=settings.remember_me_days),
            max_failures=settings.login_max_failures,
            lockout=timedelta(seconds=settings.login_lockout_seconds),
            ip_max_failures=settings.login_ip_max_failures,
            ip_window=timedelta(seconds=settings.login_ip_window_seconds),
        )

    def lifetime(self, remember_me: bool) -> timedelta:
        return self.remember_me_lifetime if remember_me else self.session_lifetime
