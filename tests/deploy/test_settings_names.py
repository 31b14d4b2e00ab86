"""Every ``CDDS_*`` name in the deployment files is a real setting (README.md § Settings).

The valid names are built by walking ``Settings.model_fields``: a field whose type is a
sub-model becomes ``CDDS_<PART>__<FIELD>``, any other field ``CDDS_<FIELD>``. A typo such as
``CDDS_MINIO_BUCKET`` would otherwise be ignored silently (``extra="ignore"``) and the service
would run on a default.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from cdds_shared.settings import Settings
from tests.deploy.conftest import COMPOSE_FILE, ENV_EXAMPLE, REPO_ROOT

NAME = re.compile(r"\bCDDS_[A-Z0-9_]*[A-Z0-9]")
ENV_LINE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


def _env_names(model: type[BaseModel], prefix: str) -> set[str]:
    names: set[str] = set()
    for field_name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _env_names(annotation, f"{prefix}{field_name.upper()}__")
        else:
            names.add(f"{prefix}{field_name.upper()}")
    return names


VALID_NAMES = frozenset(_env_names(Settings, "CDDS_"))

# Files that name settings: compose and .env.example now, the kustomize manifests when they land.
DEPLOY_FILES = [
    COMPOSE_FILE,
    ENV_EXAMPLE,
    *sorted((REPO_ROOT / "deploy").rglob("*.y*ml")),
]


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = ENV_LINE.match(line)
        assert match, f"{path.name}:{number}: not a NAME=value line: {line!r}"
        assert match["name"] not in values, f"{path.name}:{number}: {match['name']} repeated"
        values[match["name"]] = match["value"]
    return values


def test_walk_finds_nested_settings() -> None:
    # Guards the walk itself: a flat walk would make every check below vacuous.
    assert {"CDDS_ENVIRONMENT", "CDDS_RABBIT__URL", "CDDS_MINIO__BUCKET"} <= VALID_NAMES
    assert "CDDS_RABBIT" not in VALID_NAMES


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_cdds_name_is_a_setting(path: Path) -> None:
    used = set(NAME.findall(path.read_text(encoding="utf-8")))
    assert used, f"{path.name} names no setting at all"
    unknown = sorted(used - VALID_NAMES)
    assert not unknown, f"{path.name} uses names Settings does not read: {unknown}"


def test_env_example_lists_every_setting() -> None:
    listed = set(_read_env_file(ENV_EXAMPLE))
    assert sorted(VALID_NAMES - listed) == [], ".env.example misses settings"
    assert sorted(listed - VALID_NAMES) == [], ".env.example has names that are not settings"


def test_env_example_loads_as_development_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VALID_NAMES:
        monkeypatch.delenv(name, raising=False)

    settings = Settings(_env_file=ENV_EXAMPLE)

    assert settings.environment == "development"
    assert settings.minio.public_endpoint, "presigned URLs need a public endpoint"


def test_compose_environments_load_as_development_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = {name: svc for name, svc in services.items() if "build" in svc}
    assert ours, "no service of ours in docker-compose.yml"
    for name, service in ours.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment must be a mapping"
        with monkeypatch.context() as env:
            for setting in VALID_NAMES:
                env.delenv(setting, raising=False)
            for key, value in environment.items():
                env.setenv(key, str(value))

            settings = Settings()

        assert settings.environment == "development", f"{name}: not a development stack"
