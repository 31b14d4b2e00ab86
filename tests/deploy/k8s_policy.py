"""The rules of the manifests a schema cannot say, as functions over rendered objects.

Hardened and sized containers, selectors that select, who may reach the UCS database,
references that resolve. Each returns what is wrong, so a test shows that a broken manifest is
caught (``test_k8s_manifests.py``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.deploy.k8s_validation import pod_templates, selects

__all__ = [
    "container_problems",
    "exporter_pods",
    "one",
    "peers_overlap",
    "references",
    "selected",
    "selecting_nothing",
    "unresolved",
    "who_reaches_ucs",
]

Object = dict[str, Any]


def one(objects: list[Object], kind: str, name: str) -> Object:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def selected(selector: Object, objects: list[Object]) -> set[str]:
    return {
        name
        for name, template in pod_templates(objects).items()
        if selects(selector, template["metadata"].get("labels", {}))
    }


def container_problems(template: Object, ours: bool) -> list[str]:
    pod = template["spec"]
    pod_security = pod.get("securityContext", {})
    problems = []
    for c in pod.get("initContainers", []) + pod["containers"]:
        sc = {**pod_security, **c.get("securityContext", {})}
        checks = {
            "runAsNonRoot": sc.get("runAsNonRoot") is True,
            "allowPrivilegeEscalation: false": sc.get("allowPrivilegeEscalation") is False,
            "capabilities drop ALL": "ALL" in sc.get("capabilities", {}).get("drop", []),
            "seccomp RuntimeDefault": sc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
            "cpu and memory requests and limits": all(
                set(c.get("resources", {}).get(part, {})) >= {"cpu", "memory"}
                for part in ("requests", "limits")
            ),
        }
        if ours:
            # Our images run as 10001 (services/*/Dockerfile) and write nothing to their root.
            checks["readOnlyRootFilesystem"] = sc.get("readOnlyRootFilesystem") is True
            checks["runAsUser 10001"] = sc.get("runAsUser") == 10001
        problems += [f"{c['name']}: {check}" for check, ok in checks.items() if not ok]
    return problems


def selecting_nothing(objects: list[Object]) -> list[str]:
    """The Services, PodDisruptionBudgets and NetworkPolicies (or in-namespace peers of a policy)
    that select no pod the overlay runs: a typo in a label selects none."""
    empty = []
    for obj in objects:
        kind, spec = obj["kind"], obj.get("spec", {})
        selectors = {
            "Service": [{"matchLabels": spec.get("selector", {})}],
            "PodDisruptionBudget": [spec.get("selector")],
            "NetworkPolicy": [spec.get("podSelector")]
            + [
                peer["podSelector"]
                for rule in spec.get("ingress", []) + spec.get("egress", [])
                for peer in rule.get("from", []) + rule.get("to", [])
                if "podSelector" in peer and "namespaceSelector" not in peer
            ],
        }.get(kind, [])
        empty += [
            f"{kind}/{obj['metadata']['name']}" for s in selectors if not selected(s, objects)
        ]
    return empty


def peers_overlap(a: Object, b: Object, objects: list[Object]) -> bool:
    if "ipBlock" in a and "ipBlock" in b:
        return ipaddress.ip_network(a["ipBlock"]["cidr"]).overlaps(
            ipaddress.ip_network(b["ipBlock"]["cidr"])
        )
    if "podSelector" in a and "podSelector" in b:
        return bool(selected(a["podSelector"], objects) & selected(b["podSelector"], objects))
    return False


def who_reaches_ucs(objects: list[Object]) -> set[str]:
    """Pods any egress rule lets reach the UCS database: a rule on its port whose destination
    overlaps the one the ``cdds-to-ucs`` policy names (dev: the pod; prod: the CIDR)."""
    (ucs_rule,) = one(objects, "NetworkPolicy", "cdds-to-ucs")["spec"]["egress"]
    ucs_ports = {p["port"] for p in ucs_rule["ports"]}
    reach: set[str] = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            ports = {p.get("port") for p in rule.get("ports", [])}
            if ports & ucs_ports and any(
                peers_overlap(peer, ucs, objects) for peer in rule["to"] for ucs in ucs_rule["to"]
            ):
                reach |= selected(policy["spec"]["podSelector"], objects)
    return reach


def exporter_pods(objects: list[Object]) -> set[str]:
    return selected({"matchLabels": {"app.kubernetes.io/name": "exporter"}}, objects)


def references(objects: list[Object]) -> set[tuple[str, str, str | None]]:
    """(kind, name, key) of every object another one names: the ConfigMaps, Secrets and
    ServiceAccounts of pods, the Secrets of KEDA and the Ingress, the Ingress's Services."""
    refs: set[tuple[str, str, str | None]] = set()
    for template in pod_templates(objects).values():
        pod = template["spec"]
        if "serviceAccountName" in pod:
            refs.add(("ServiceAccount", pod["serviceAccountName"], None))
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                refs.add(("ConfigMap", volume["configMap"]["name"], None))
        for container in pod["containers"] + pod.get("initContainers", []):
            for source in container.get("envFrom", []):
                refs.add(("ConfigMap", source["configMapRef"]["name"], None))
            for item in container.get("env", []):
                if ref := item.get("valueFrom", {}).get("secretKeyRef"):
                    refs.add(("Secret", ref["name"], ref["key"]))
    for obj in objects:
        if obj["kind"] == "TriggerAuthentication":
            refs |= {("Secret", r["name"], r["key"]) for r in obj["spec"]["secretTargetRef"]}
        if obj["kind"] == "Ingress":
            refs |= {("Secret", tls["secretName"], None) for tls in obj["spec"].get("tls", [])}
            refs |= {
                ("Service", path["backend"]["service"]["name"], None)
                for rule in obj["spec"]["rules"]
                for path in rule["http"]["paths"]
            }
    return refs


def unresolved(name: str, objects: list[Object]) -> list[tuple[str, str, str | None]]:
    """What the overlay names and does not bring; in prod the Secrets are the operator's."""
    have = {(o["kind"], o["metadata"]["name"]) for o in objects}
    keys = {
        (o["metadata"]["name"], key) for o in objects if o["kind"] == "Secret" for key in o["data"]
    }
    refs = references(objects)
    external = {r for r in refs if r[0] == "Secret"} if name == "prod" else set()
    return sorted(
        (kind, ref, key)
        for kind, ref, key in refs - external
        if (kind, ref) not in have or (kind == "Secret" and key and (ref, key) not in keys)
    )
