"""The scenarios of ``make chaos``: what each does to the private stack, and which outcomes are
right. One fault at a time, each in the middle of its own multi-partition run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["DEPENDENCY_NAMES", "SCENARIOS", "Scenario", "by_name"]

Kind = Literal["outage", "kill", "duplicate", "forged"]

# What a failure reason must name for a run failed by that dependency's outage to count as
# "failed at once with a reason naming the dependency".
DEPENDENCY_NAMES = {
    "rabbitmq": ("CDDS_RABBIT__URL", "RabbitMQ"),
    "postgres": ("CDDS_UCS__DSN", "UCS"),
    "ferretdb": ("CDDS_MONGO__URL", "MongoDB"),
    "minio": ("CDDS_MINIO__ENDPOINT", "MinIO"),
}


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: Kind
    target: str = ""
    seconds: float = 0.0

    @property
    def fault(self) -> str:
        if self.kind == "outage":
            return f"{self.target} down {self.seconds:.0f} s"
        if self.kind == "kill":
            return f"SIGKILL {self.target}"
        if self.kind == "duplicate":
            return "RunRequested delivered twice"
        return "forged RunRequested (victim tenant UCS id)"


SCENARIOS = (
    Scenario("rabbitmq-20s", "outage", "rabbitmq", 20),
    Scenario("postgres-20s", "outage", "postgres", 20),
    Scenario("ferretdb-20s", "outage", "ferretdb", 20),
    Scenario("minio-20s", "outage", "minio", 20),
    Scenario("postgres-90s", "outage", "postgres", 90),
    Scenario("minio-90s", "outage", "minio", 90),
    Scenario("kill-gateway", "kill", "gateway"),
    Scenario("kill-exporter", "kill", "exporter"),
    Scenario("kill-encryptor", "kill", "encryptor"),
    Scenario("kill-janitor", "kill", "janitor"),
    Scenario("duplicate-run-requested", "duplicate"),
    Scenario("forged-run-requested", "forged"),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    names = ", ".join(s.name for s in SCENARIOS)
    raise SystemExit(f"chaos: no scenario {name!r}; choose one of: {names}")
