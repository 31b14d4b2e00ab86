"""Each worker's composition root (``create_app``) with no server reachable: building the app
connects to nothing and waits for nothing; the app carries the expected subscribers, queues,
consumer prefetch and routes; its start is what waits for the dependencies."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from cdds_encryptor.app import create_app as create_encryptor
from cdds_exporter.app import create_app as create_exporter
from cdds_janitor.app import create_app as create_janitor
from cdds_shared.settings import (
    MinioSettings,
    MongoSettings,
    RabbitSettings,
    Settings,
    UcsSettings,
)
from cdds_shared.worker import WorkerApp
from tests.infra import free_port

Factory = Callable[[Settings], WorkerApp]

WORKERS: dict[str, tuple[Factory, set[str], bool]] = {
    # service: (create_app, its queues, whether a dead letter fails the run)
    "exporter": (
        create_exporter,
        {"cdds.exporter.run-requested", "cdds.exporter.export-partition"},
        True,
    ),
    "encryptor": (create_encryptor, {"cdds.encryptor.part-staged"}, True),
    "janitor": (create_janitor, {"cdds.janitor.artifact-due"}, False),
}


def _unreachable() -> Settings:
    """Every dependency on a port nothing listens on, and no patience at start-up: a factory
    that checked or waited for a dependency would end the process here."""
    return Settings(
        environment="test",
        startup_timeout_seconds=0,
        rabbit=RabbitSettings(
            url=SecretStr(f"amqp://guest:guest@127.0.0.1:{free_port()}/"),
            prefetch=3,
            delivery_limit=7,
        ),
        mongo=MongoSettings(url=SecretStr(f"mongodb://127.0.0.1:{free_port()}/")),
        minio=MinioSettings(endpoint=f"127.0.0.1:{free_port()}"),
        ucs=UcsSettings(dsn=SecretStr(f"postgresql://u:p@127.0.0.1:{free_port()}/ucs")),
    )


@pytest.mark.unit
@pytest.mark.parametrize("service", WORKERS)
def test_the_app_is_built_without_any_server(service: str) -> None:
    create_app, queues, fails_runs = WORKERS[service]
    settings = _unreachable()

    app = create_app(settings)

    broker = app.broker
    assert broker is not None
    assert broker._connection is None, "nothing connects while the app is built"
    assert {sub.queue.name for sub in broker.subscribers} == queues
    for sub in broker.subscribers:
        assert sub.exchange.name == "cdds.events"
        assert sub.queue.arguments["x-delivery-limit"] == 7
        # One prefetch for every consumer: CDDS_RABBIT__PREFETCH.
        assert sub.channel is not None
        assert sub.channel.prefetch_count == 3
    assert set(broker.subscribers) == set(app.subscribers.subscribers), "the app's own router"
    assert (app.runtime.fate.on_give_up is not None) is fails_runs
    paths = {path for path, _ in app.routes}
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    # Its own registry, not the global one: another app in this process counts apart.
    assert app.runtime.registry is not create_app(settings).runtime.registry


# No server either, but not a unit test: the MongoDB check gives up after its 3 s timeout.
async def test_the_start_waits_for_the_dependencies_and_ends_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = create_janitor(_unreachable())

    with pytest.raises(SystemExit) as ended:
        await app.run()

    assert ended.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cdds-")]
    assert len(lines) == 1
    assert lines[0].startswith("cdds-janitor: cannot start: ")
    assert "CDDS_" in lines[0], "the line names the setting to check"
