"""docker-compose.yml is valid Compose and starts in a safe order; our images run as non-root.

The compose-spec JSON schema is vendored in ``data/compose-spec.json`` so the check runs offline.
Source: ``compose/config/compose_spec.json`` from the ``docker-compose`` 1.29.2 wheel on PyPI
(``docker_compose-1.29.2-py2.py3-none-any.whl``, file dated 2021-05-10; sha256
0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac), i.e. the schema Docker's own
Compose 1.29.2 validated with. Newer Compose keys (top-level ``name``,
``healthcheck.start_interval``, ``develop``, ``include``) are unknown to it, so the compose file
keeps to this common subset.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from cdds_tools.devstack.rabbit_users import SERVICE_PERMISSIONS
from tests.deploy.conftest import REPO_ROOT

SCHEMA_FILE = Path(__file__).parent / "data" / "compose-spec.json"
START_CONDITIONS = {"service_healthy", "service_completed_successfully"}
WORKSPACE_MEMBERS = sorted(
    str(p.parent.relative_to(REPO_ROOT))
    for p in [
        REPO_ROOT / "cms" / "pyproject.toml",
        REPO_ROOT / "shared" / "pyproject.toml",
        REPO_ROOT / "tools" / "pyproject.toml",
        REPO_ROOT / "client" / "pyproject.toml",
        *(REPO_ROOT / "services").glob("*/pyproject.toml"),
    ]
)


def _schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    # The file says draft 2019-09 under a non-canonical URL ("http://…/schema#"), which
    # jsonschema would not recognise; name the draft explicitly.
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(
        schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        result.append((keyword.upper(), arguments.strip()))
        pending = ""
    return result


def _final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    instructions = _instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def _built_services(services: dict[str, dict[str, Any]]) -> dict[str, Path]:
    built: dict[str, Path] = {}
    for name, service in services.items():
        if "build" not in service:
            continue
        build = service["build"]
        assert isinstance(build, dict), f"{name}: use the long build form (context + dockerfile)"
        context = REPO_ROOT / build.get("context", ".")
        built[name] = context / build.get("dockerfile", "Dockerfile")
    return built


def _one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    return {name for name, svc in services.items() if svc.get("restart") == "no"}


def test_compose_file_matches_compose_spec(compose: dict[str, Any]) -> None:
    assert _schema_errors(compose) == []


def test_schema_rejects_a_misspelt_key(compose: dict[str, Any]) -> None:
    # Proves the validation above has teeth: a typo in a service key is an error.
    broken = copy.deepcopy(compose)
    service = next(iter(broken["services"].values()))
    service["helthcheck"] = service.pop("healthcheck")

    assert any("helthcheck" in error for error in _schema_errors(broken))


def test_every_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    one_shots = _one_shots(services)
    for name, service in services.items():
        healthcheck = service.get("healthcheck")
        assert healthcheck, f"{name}: no healthcheck"
        if healthcheck.get("disable"):
            # Only a one-shot may opt out: it exits, and others wait for its exit code instead.
            assert name in one_shots, f"{name}: healthcheck disabled on a long-running service"
        else:
            assert healthcheck.get("test"), f"{name}: healthcheck has no test"


def test_depends_on_waits_for_health_or_completion(services: dict[str, dict[str, Any]]) -> None:
    one_shots = _one_shots(services)
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must say which condition"
        for target, spec in depends_on.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec.get("condition")
            assert condition in START_CONDITIONS, f"{name} -> {target}: condition {condition}"
            if condition == "service_completed_successfully":
                assert target in one_shots, f"{name} waits for {target} to exit, but it restarts"


def test_our_services_wait_for_their_servers(services: dict[str, dict[str, Any]]) -> None:
    needs = {
        "gateway": {"rabbitmq", "mongo", "minio"},
        "exporter": {"rabbitmq", "mongo", "minio", "postgres", "ucs-migrate"},
        "encryptor": {"rabbitmq", "mongo", "minio"},
        "janitor": {"rabbitmq", "mongo", "minio"},
        "ucs-migrate": {"postgres"},
    }
    for name, servers in needs.items():
        assert servers <= set(services[name].get("depends_on", {})), name


def _default(value: str, variable: str) -> str:
    """``${VARIABLE:-default}`` -> ``default``; anything else is not overridable."""
    match = re.fullmatch(r"\$\{(?P<name>[A-Z_]+):-(?P<default>[^}]+)\}", value)
    assert match, f"{value!r}: not ${{{variable}:-…}}"
    assert match["name"] == variable, f"{value!r}: overridden by {match['name']}, not {variable}"
    return match["default"]


def test_server_images_are_pinned_to_a_minor_and_overridable(
    services: dict[str, dict[str, Any]],
) -> None:
    # make compose-test replaces each with a local stand-in through its variable.
    expected = {
        "rabbitmq": ("RABBITMQ_IMAGE", r"rabbitmq:3\.\d+-management"),
        "mongo": ("MONGO_IMAGE", r"mongo:7\.\d+"),
        "postgres": ("POSTGRES_IMAGE", r"postgres:15\.\d+"),
        "minio": ("MINIO_IMAGE", r"minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"),
    }
    for name, (variable, pinned) in expected.items():
        image = _default(services[name]["image"], variable)
        assert re.fullmatch(pinned, image), f"{name}: {image} is not pinned to a minor version"


def test_gateway_is_published_on_8080(services: dict[str, dict[str, Any]]) -> None:
    (published,) = services["gateway"]["ports"]
    host, _, container = published.rpartition(":")
    assert container == "8080"
    assert _default(host, "GATEWAY_PORT") == "8080"


def test_healthchecks_are_shell_commands(services: dict[str, dict[str, Any]]) -> None:
    # Podman's Docker API splits the arguments of the CMD form on spaces (make compose-test).
    for name, service in services.items():
        healthcheck = service["healthcheck"]
        if not healthcheck.get("disable"):
            test = healthcheck["test"]
            assert test[0] == "CMD-SHELL" and len(test) == 2, f"{name}: {test}"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source, _, rest = mount.partition(":")
            if source.startswith("./deploy/compose/"):
                # A file of the checkout (compose 1.29 ignores `configs`): read-only, present.
                assert rest.endswith(":ro"), f"{name}: {source} mounted writable"
                assert (REPO_ROOT / source).is_file(), f"{name}: {source} missing"
                continue
            assert not source.startswith((".", "/")), f"{name}: bind mount {source}, use a volume"
            assert source in declared, f"{name}: volume {source} not declared"


def test_services_use_their_own_broker_user(compose: dict[str, Any]) -> None:
    """Compose's RabbitMQ loads the CDDS users at boot (so it creates no guest), and the services
    connect as ``cdds-services`` with the permissions ``make up`` grants."""
    url = compose["x-cdds-environment"]["CDDS_RABBIT__URL"]
    assert url.startswith("amqp://cdds-services:"), url
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["rabbitmq"]["volumes"]}
    assert mounts["/etc/rabbitmq/definitions.json"] == "./deploy/compose/rabbitmq/definitions.json"
    assert mounts["/etc/rabbitmq/conf.d/20-cdds.conf"] == "./deploy/compose/rabbitmq/rabbitmq.conf"
    definitions_file = REPO_ROOT / "deploy/compose/rabbitmq/definitions.json"
    assert "load_definitions = /etc/rabbitmq/definitions.json" in (
        REPO_ROOT / "deploy/compose/rabbitmq/rabbitmq.conf"
    ).read_text(encoding="utf-8")
    definitions = json.loads(definitions_file.read_text(encoding="utf-8"))
    assert {u["name"] for u in definitions["users"]} == {"cdds-ops", "cdds-services"}
    (service,) = [p for p in definitions["permissions"] if p["user"] == "cdds-services"]
    assert {k: service[k] for k in SERVICE_PERMISSIONS} == SERVICE_PERMISSIONS
    password = url.split(":")[2].split("@")[0]
    (user,) = [u for u in definitions["users"] if u["name"] == "cdds-services"]
    raw = base64.b64decode(user["password_hash"])
    assert hashlib.sha256(raw[:4] + password.encode()).digest() == raw[4:]


def test_referenced_dockerfiles_exist(services: dict[str, dict[str, Any]]) -> None:
    built = _built_services(services)
    assert {"gateway", "exporter", "encryptor", "janitor"} <= set(built)
    for name, dockerfile in built.items():
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"


DOCKERFILES = sorted((REPO_ROOT / "services").glob("*/Dockerfile"))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_runs_as_non_root(dockerfile: Path) -> None:
    users = [args for keyword, args in _final_stage(dockerfile) if keyword == "USER"]
    assert users, f"{dockerfile}: final stage sets no USER, so it runs as root"
    user = users[-1].split(":", 1)[0]
    # Numeric, so Kubernetes runAsNonRoot can verify it.
    assert user.isdigit(), f"{dockerfile}: USER {user} is not a numeric uid"
    assert int(user) != 0, f"{dockerfile}: USER is root"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_serves_health_on_its_port(dockerfile: Path) -> None:
    final = dict(_final_stage(dockerfile))
    port = final["EXPOSE"]
    assert final["STOPSIGNAL"] == "SIGTERM"
    assert f"127.0.0.1:{port}/healthz" in final["HEALTHCHECK"]
    command = json.loads(final["CMD"])
    assert command[command.index("--port") + 1] == port
    service = dockerfile.parent.name
    # The gateway runs through its launcher (header limits and timeouts uvicorn's CLI lacks).
    entry = "cdds_gateway.serve" if service == "gateway" else f"cdds_{service}.app:create_app"
    assert entry in command


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dockerfile_copies_what_uv_needs(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile)
    copied = {
        source
        for keyword, args in instructions
        if keyword == "COPY" and not args.startswith("--from")
        for source in shlex.split(args)[:-1]
    }
    for source in copied:
        assert (REPO_ROOT / source).exists(), f"{dockerfile}: COPY {source} does not exist"
    assert "uv.lock" in copied, f"{dockerfile}: --frozen needs uv.lock"
    # uv resolves the whole workspace, so every member's pyproject.toml must be in the image.
    for member in WORKSPACE_MEMBERS:
        assert f"{member}/pyproject.toml" in copied, f"{dockerfile}: misses {member}"
    syncs = [args for keyword, args in instructions if keyword == "RUN" and "uv sync" in args]
    assert syncs, f"{dockerfile}: no uv sync"
    package = f"--package cdds-{dockerfile.parent.name}"
    assert all("--frozen" in s and "--no-dev" in s and package in s for s in syncs)
