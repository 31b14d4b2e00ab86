"""The Kubernetes manifests, level (a) of docs/deploy.md § What is validated.

Every overlay renders with kustomize; every object is valid offline (Kubernetes schemas, KEDA CRD
schemas, unknown fields rejected); and the rules a schema cannot say hold: hardened containers
with resources and meaningful probes, NetworkPolicies that select something and keep the UCS
database to the exporter, Secrets and settings that load as the code reads them.
"""

from __future__ import annotations

import base64
import copy
import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest

from cdds_shared.messaging.topology import WORK_QUEUES
from cdds_shared.runtime import settings_or_exit
from tests.deploy.conftest import REPO_ROOT
from tests.deploy.k8s_policy import (
    container_problems,
    exporter_pods,
    one,
    references,
    selected,
    selecting_nothing,
    unresolved,
    who_reaches_ucs,
)
from tests.deploy.k8s_validation import core_errors, keda_errors, pod_templates, render

K8S = REPO_ROOT / "deploy/k8s"
OVERLAYS = ("dev", "prod")
SERVICES = ("gateway", "exporter", "encryptor", "janitor")
# FastStream's graceful_timeout (shared/src/cdds_shared/messaging/broker.py): a pod must get
# longer than that after SIGTERM, or in-flight messages are killed rather than returned.
GRACEFUL_TIMEOUT_SECONDS = 30
SECRETS = {"cdds-rabbitmq", "cdds-mongodb", "cdds-s3", "cdds-ucs", "cdds-transit"}
Object = dict[str, Any]


@functools.cache
def _rendered_once(name: str) -> tuple[Object, ...]:
    return tuple(render(K8S / "overlays" / name))


def _rendered(name: str) -> list[Object]:
    """The overlay's objects, rendered once per session; a copy each test may break."""
    return copy.deepcopy(list(_rendered_once(name)))


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Object]]:
    name: str = request.param
    return name, _rendered(name)


def _ours(objects: list[Object]) -> dict[str, Object]:
    """Service name -> its Deployment."""
    return {svc: one(objects, "Deployment", f"cdds-{svc}") for svc in SERVICES}


def test_every_object_is_valid_kubernetes(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    assert len(objects) > 20
    assert core_errors(objects) == []


def test_keda_objects_match_their_crds(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    kinds = sorted(o["kind"] for o in objects if o["apiVersion"].startswith("keda.sh/"))
    assert kinds == ["ScaledObject", "ScaledObject", "TriggerAuthentication"]
    assert keda_errors(objects) == []


def test_a_misspelt_deployment_field_fails() -> None:
    objects = _rendered("prod")
    broken = copy.deepcopy(_ours(objects)["exporter"])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["imagePullPolcy"] = container.pop("image")

    assert any("imagePullPolcy" in error for error in core_errors([broken]))


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("spec", "minReplicas", 1),  # HPA's name, not KEDA's minReplicaCount
        ("trigger", "authRef", {"name": "x"}),  # not authenticationRef
        ("spec", "cooldownPeriod", "five minutes"),  # wrong type
    ],
)
def test_a_bad_scaled_object_fails(where: str, field: str, value: Any) -> None:
    objects = _rendered("prod")
    broken = copy.deepcopy(one(objects, "ScaledObject", "cdds-exporter"))
    target = broken["spec"] if where == "spec" else broken["spec"]["triggers"][0]
    target[field] = value

    assert any(field in error or "five minutes" in error for error in keda_errors([broken]))


def test_a_kustomization_that_does_not_build_fails(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n", encoding="utf-8")

    with pytest.raises(AssertionError, match=r"missing\.yaml"):
        render(tmp_path)


def test_every_container_is_hardened_and_sized(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    problems = {
        name: p
        for name, template in pod_templates(objects).items()
        if (p := container_problems(template, ours="cdds/" in str(template)))
    }
    assert problems == {}


def test_a_container_without_limits_is_caught() -> None:
    template = copy.deepcopy(_ours(_rendered("prod"))["janitor"]["spec"]["template"])
    del template["spec"]["containers"][0]["resources"]["limits"]

    assert container_problems(template, ours=True) == [
        "janitor: cpu and memory requests and limits"
    ]


def _config(objects: list[Object]) -> dict[str, str]:
    (config,) = [o for o in objects if o["metadata"]["name"].startswith("cdds-config")]
    data: dict[str, str] = config["data"]
    return data


def test_probes_and_grace_match_the_services(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    config = _config(objects)
    for svc, deployment in _ours(objects).items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        port_setting = "CDDS_GATEWAY__PORT" if svc == "gateway" else "CDDS_WORKER__PORT"
        (port,) = container["ports"]
        assert port["containerPort"] == int(config[port_setting]), svc
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", svc
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", svc
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", svc
        # Long enough to wait out the start-up timeout before liveness counts.
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] > float(
            config["CDDS_STARTUP_TIMEOUT_SECONDS"]
        ), svc
        assert pod["terminationGracePeriodSeconds"] > GRACEFUL_TIMEOUT_SECONDS, svc


def _environment(
    container: Object, config: dict[str, str], secrets: dict[str, Any]
) -> dict[str, str]:
    env = dict(config)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def _secrets(name: str, objects: list[Object]) -> dict[str, Any]:
    """What each Secret holds: dev generates them; prod has stand-ins of the right shape for the
    ones the operator creates (docs/deploy.md § Secrets)."""
    if name == "dev":
        return {
            o["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in o["data"].items()}
            for o in objects
            if o["kind"] == "Secret"
        }
    assert not [o for o in objects if o["kind"] == "Secret"], "prod must not carry secrets"
    return {
        "cdds-rabbitmq": {"url": "amqp://cdds-services:s3cret@rabbitmq.example.com:5672/"},
        "cdds-mongodb": {"url": "mongodb://db1.example.com,db2.example.com/?replicaSet=rs0"},
        "cdds-s3": {"access-key": "cdds", "secret-key": "a-real-secret"},
        "cdds-ucs": {"dsn": "postgresql://cdds:s3cret@ucs.example.com:5432/ucs"},
        "cdds-transit": {"key": base64.b64encode(bytes(range(32))).decode()},
    }


def test_each_service_loads_its_settings(
    overlay: tuple[str, list[Object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, objects = overlay
    config, secrets = _config(objects), _secrets(name, objects)
    for svc, deployment in _ours(objects).items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        refs = {
            e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e
        }
        assert refs <= SECRETS, f"{svc}: {sorted(refs - SECRETS)} are not documented Secrets"
        # Least privilege: only the exporter gets the UCS DSN; only it and the encryptor the key.
        assert ("cdds-ucs" in refs) == (svc == "exporter"), svc
        assert ("cdds-transit" in refs) == (svc in {"exporter", "encryptor"}), svc
        with monkeypatch.context() as env:
            for key in [k for k in os.environ if k.startswith("CDDS_")]:
                env.delenv(key)
            for key, value in _environment(container, config, secrets).items():
                env.setenv(key, value)
            settings = settings_or_exit(svc)  # what the service itself refuses
        expected = "development" if name == "dev" else "production"
        assert settings.environment == expected, svc


def test_selectors_select_pods(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    assert selecting_nothing(objects) == []


def test_a_misspelt_selector_is_caught() -> None:
    objects = _rendered("dev")
    policy = one(objects, "NetworkPolicy", "cdds-to-ucs")
    policy["spec"]["egress"][0]["to"][0]["podSelector"]["matchLabels"] = {
        "app.kubernetes.io/name": "ucs-postgress"
    }

    assert selecting_nothing(objects) == ["NetworkPolicy/cdds-to-ucs"]


def test_every_egress_rule_names_its_destination(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    open_rules = [
        o["metadata"]["name"]
        for o in objects
        if o["kind"] == "NetworkPolicy"
        for rule in o["spec"].get("egress", [])
        if not rule.get("to") or not rule.get("ports")
    ]
    assert open_rules == []
    (deny,) = [o for o in objects if o["metadata"]["name"] == "cdds-default-deny"]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_only_the_exporter_reaches_ucs(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    reach = who_reaches_ucs(objects)
    assert "Deployment/cdds-exporter" in reach
    assert reach <= exporter_pods(objects)


def test_a_second_reader_of_ucs_is_caught() -> None:
    objects = _rendered("prod")
    # The gateway's MongoDB rule widened to the UCS address and port.
    mongo = one(objects, "NetworkPolicy", "cdds-to-mongodb")["spec"]["egress"][0]
    mongo["to"].append({"ipBlock": {"cidr": "203.0.113.0/24"}})
    mongo["ports"].append({"protocol": "TCP", "port": 5432})

    assert "Deployment/cdds-gateway" in who_reaches_ucs(objects)


def test_dev_ucs_takes_connections_from_the_exporter_only() -> None:
    objects = _rendered("dev")
    policy = one(objects, "NetworkPolicy", "dev-ucs-postgres-clients")
    sources = {
        pod
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        for pod in selected(peer["podSelector"], objects)
    }
    assert sources == exporter_pods(objects) == {"Deployment/cdds-exporter", "Job/ucs-migrate"}


def test_autoscalers_target_our_deployments_and_queues(overlay: tuple[str, list[Object]]) -> None:
    _, objects = overlay
    ours = {f"cdds-{svc}" for svc in SERVICES}
    hpa = one(objects, "HorizontalPodAutoscaler", "cdds-gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "cdds-gateway"
    auth = {o["metadata"]["name"] for o in objects if o["kind"] == "TriggerAuthentication"}
    queues: dict[str, set[str]] = {}
    for scaled in (o for o in objects if o["kind"] == "ScaledObject"):
        spec = scaled["spec"]
        assert spec["scaleTargetRef"]["name"] in ours
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        assert "cooldownPeriod" in spec
        for trigger in spec["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "rabbitmq"
            assert (meta["protocol"], meta["mode"]) == ("http", "QueueLength")
            assert int(meta["value"]) >= 1
            assert trigger["authenticationRef"]["name"] in auth
            queues.setdefault(spec["scaleTargetRef"]["name"], set()).add(meta["queueName"])
    assert queues == {
        "cdds-exporter": {WORK_QUEUES["exporter"].name, WORK_QUEUES["exporter-partition"].name},
        "cdds-encryptor": {WORK_QUEUES["encryptor"].name},
    }
    # The Deployments KEDA or the HPA scale leave the count to them.
    for name in ("cdds-gateway", "cdds-exporter", "cdds-encryptor"):
        assert "replicas" not in one(objects, "Deployment", name)["spec"], name


def test_dev_rabbitmq_users_are_composes() -> None:
    for name in ("definitions.json", "rabbitmq.conf"):
        copy_ = (K8S / "overlays/dev/rabbitmq" / name).read_bytes()
        assert copy_ == (REPO_ROOT / "deploy/compose/rabbitmq" / name).read_bytes(), name


def test_prod_pins_images_by_tag() -> None:
    objects = _rendered("prod")
    for template in pod_templates(objects).values():
        for container in template["spec"]["containers"]:
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1], image
            assert not image.endswith((":latest", ":dev")), image


def _documented_secrets() -> set[str]:
    """The first column of the table in docs/deploy.md § Secrets."""
    text = (REPO_ROOT / "docs/deploy.md").read_text(encoding="utf-8")
    section = text.split("## Secrets", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE))


def test_every_reference_resolves(overlay: tuple[str, list[Object]]) -> None:
    name, objects = overlay
    assert unresolved(name, objects) == []


def test_prod_expects_exactly_the_documented_secrets() -> None:
    secrets = {ref for kind, ref, _ in references(_rendered("prod")) if kind == "Secret"}
    assert secrets == _documented_secrets()


def test_a_missing_dev_secret_is_caught() -> None:
    objects = [o for o in _rendered("dev") if o["metadata"]["name"] != "cdds-transit"]

    assert ("Secret", "cdds-transit", "key") in unresolved("dev", objects)
