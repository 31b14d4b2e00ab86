"""Sign-in throttling that tells nothing about which accounts exist (docs/operations.md § Lockout).

Two kinds of counters in the MongoDB collection ``login_throttle``, so every gateway replica
sees the same counts:

- ``name:<sha256 of the username>``: failures of a username that matches no account, counted
  and locked exactly like a real account's ``failed_logins``/``locked_until``: the same number
  of failures locks it for the same time, with the same answer. (Hashed: people type passwords
  into the username field; the counter need not keep them.)
- ``ip:<address>:<window>``: failed sign-ins from one client address in a fixed window
  (``login_ip_max_failures`` per ``login_ip_window_seconds``), whatever names were tried; once
  spent, every sign-in from that address is refused until the window ends, so guessing one
  password across many names (spraying) is bounded too.

No TTL indexes on FerretDB: each document carries ``expires_at`` and :meth:`purge` deletes the
stale ones (the gateway calls it hourly). A name's counter is kept 30 days after its last
failure (a real account's counter never expires).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from cdds_shared.identity.policy import IdentityPolicy
from cdds_shared.ports.documents import DocumentCollection, DocumentStore, IndexSpec
from cdds_shared.runs.model import to_millis

__all__ = ["THROTTLE", "SignInThrottle"]

THROTTLE = "login_throttle"
NAME_MEMORY = timedelta(days=30)


def _name_key(username: str) -> str:
    return "name:" + hashlib.sha256(username.strip().encode()).hexdigest()


class SignInThrottle:
    """Counters of failed sign-ins by unknown name and by client address."""

    def __init__(self, documents: DocumentStore) -> None:
        self._documents = documents

    @property
    def _counters(self) -> DocumentCollection:
        return self._documents.collection(THROTTLE)

    async def ensure_indexes(self) -> None:
        await self._counters.ensure_indexes([IndexSpec((("expires_at", 1),))])

    # -- unknown names ---------------------------------------------------------------------

    async def name_locked_until(self, username: str, now: datetime) -> datetime | None:
        """When the lock of this unknown name ends, or ``None`` when it is not locked."""
        doc = await self._counters.find_one({"_id": _name_key(username)})
        until = None if doc is None else doc.get("locked_until")
        return until if isinstance(until, datetime) and until > now else None

    async def count_name_failure(
        self, username: str, now: datetime, policy: IdentityPolicy
    ) -> datetime | None:
        """Count a failure of an unknown name; the end of its lock when this one locks it."""
        key = _name_key(username)
        doc = await self._counters.find_one_and_update(
            {"_id": key},
            {"$inc": {"failures": 1}, "$set": {"expires_at": to_millis(now + NAME_MEMORY)}},
            upsert=True,
        )
        failures = int((doc or {}).get("failures", 0))
        if failures >= policy.max_failures and policy.lockout.total_seconds() > 0:
            until = to_millis(now + policy.lockout)
            # As for a real account: the count restarts, max_failures tries once the lock ends.
            await self._counters.update(
                {"_id": key},
                {
                    "locked_until": until,
                    "failures": 0,
                    "expires_at": to_millis(until + NAME_MEMORY),
                },
            )
            return until
        return None

    # -- client addresses ------------------------------------------------------------------

    @staticmethod
    def _window(client: str, now: datetime, policy: IdentityPolicy) -> tuple[str, datetime]:
        seconds = policy.ip_window.total_seconds()
        start = int(now.timestamp() // seconds)
        end = datetime.fromtimestamp((start + 1) * seconds, tz=now.tzinfo)
        return f"ip:{client}:{start}", to_millis(end)

    async def address_blocked_until(
        self, client: str | None, now: datetime, policy: IdentityPolicy
    ) -> datetime | None:
        """The end of the window when this address has spent its failures, else ``None``."""
        if not client:
            return None
        key, end = self._window(client, now, policy)
        doc = await self._counters.find_one({"_id": key})
        failures = 0 if doc is None else int(doc.get("failures", 0))
        return end if failures >= policy.ip_max_failures else None

    async def count_address_failure(
        self, client: str | None, now: datetime, policy: IdentityPolicy
    ) -> None:
        if not client:
            return
        key, end = self._window(client, now, policy)
        await self._counters.find_one_and_update(
            {"_id": key},
            {"$inc": {"failures": 1}, "$set": {"client": client, "expires_at": end}},
            upsert=True,
        )

    async def purge(self, now: datetime) -> int:
        """Delete counters past their ``expires_at`` (locks that ended, windows that closed)."""
        return await self._counters.delete({"expires_at": {"$lte": now}})
