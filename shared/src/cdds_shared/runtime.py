"""What every service entrypoint shares: settings or one clear line, dependency checks for
start-up and ``/readyz``."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, NoReturn

from cdds_shared.errors import CddsError, ConfigError
from cdds_shared.settings import Settings, load_settings

__all__ = [
    "Check",
    "await_dependencies",
    "dependency_checks",
    "run_checks",
    "settings_or_exit",
    "wait_for_dependencies",
]

Check = Callable[[], Awaitable[None]]

# The setting to look at when a dependency does not answer at all.
SETTING_OF = {
    "rabbitmq": "CDDS_RABBIT__URL",
    "mongodb": "CDDS_MONGO__URL",
    "minio": "CDDS_MINIO__ENDPOINT",
    "ucs": "CDDS_UCS__DSN",
}


# The secrets only some services read, refused at their development default by those alone
# (the broker's and the object store's are refused by ``Settings`` itself, for everyone).
OWN_SECRETS: dict[str, tuple[str, ...]] = {
    "exporter": ("CDDS_UCS__DSN", "CDDS_TRANSIT__KEY"),
    "encryptor": ("CDDS_TRANSIT__KEY",),
}


def settings_or_exit(service: str, settings: Settings | None = None) -> Settings:
    """The given settings, or the environment's; a bad setting ends the process with one line."""
    try:
        settings = settings if settings is not None else load_settings()
        settings.refuse_unsafe_defaults(OWN_SECRETS.get(service, ()))
    except (ConfigError, ValueError) as exc:
        _exit(service, f"bad configuration: {exc}")
    return settings


def _exit(service: str, line: str) -> NoReturn:
    print(f"cdds-{service}: {line}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def dependency_checks(settings: Settings, names: tuple[str, ...]) -> dict[str, Check]:
    """Checks of the named dependencies (rabbitmq, mongodb, minio, ucs). Each opens and closes its
    own client, so a check can run on any event loop; failures raise ``DependencyUnavailable``."""

    async def rabbitmq() -> None:
        from cdds_shared.messaging.probe import ping_rabbit

        await ping_rabbit(settings.rabbit.url.get_secret_value())

    async def mongodb() -> None:
        from cdds_shared.adapters.mongo import MongoDocumentStore

        store = MongoDocumentStore(settings.mongo, timeout=3.0)
        try:
            await store.connect()
            await store.ping()
        finally:
            await store.close()

    async def minio() -> None:
        from cdds_shared.adapters.minio_store import MinioObjectStore

        store = MinioObjectStore(settings.minio, max_workers=1, timeout=3.0)
        try:
            await store.ping()
        finally:
            await store.close()

    async def ucs() -> None:
        from cdds_shared.adapters.postgres_ucs import PostgresUcsSource

        source = PostgresUcsSource.from_settings(settings.ucs)
        try:
            await source.ping()
        finally:
            await source.close()

    available: dict[str, Check] = {
        "rabbitmq": rabbitmq,
        "mongodb": mongodb,
        "minio": minio,
        "ucs": ucs,
    }
    return {name: available[name] for name in names}


async def run_checks(checks: Mapping[str, Check], timeout: float = 5.0) -> dict[str, str]:
    """Run every check concurrently: ``{name: "ok" | reason}``."""

    async def one(name: str, check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout)
        except TimeoutError:
            return f"{SETTING_OF.get(name, name)}: no answer within {timeout:.0f}s"
        except CddsError as exc:
            return str(exc)
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(n, checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


async def await_dependencies(service: str, checks: Mapping[str, Check], timeout: float) -> None:
    """Return once every dependency answers, retrying for ``timeout`` seconds; otherwise end the
    process with one line naming the setting to check. What a worker's start runs first."""
    deadline = time.monotonic() + timeout
    failures: dict[str, str] = {}
    while True:
        results = await run_checks(checks, timeout=5.0)
        failures = {name: reason for name, reason in results.items() if reason != "ok"}
        if not failures or time.monotonic() >= deadline:
            break
        await asyncio.sleep(1.0)
    if failures:
        name, reason = next(iter(failures.items()))
        _exit(service, f"cannot start: {name}: {reason}")


def wait_for_dependencies(service: str, checks: Mapping[str, Check], timeout: float) -> None:
    """``await_dependencies`` for a synchronous caller (the gateway's app factory): runs its own
    loop in a thread, so it works whether or not an event loop is already running."""
    _in_thread(await_dependencies(service, checks, timeout))


def _in_thread(coro: Coroutine[Any, Any, None]) -> None:
    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread (SystemExit too)
            error.append(exc)

    thread = threading.Thread(target=target, name="dependency-check")
    thread.start()
    thread.join()
    if error:
        raise error[0]
