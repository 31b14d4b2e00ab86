"""The alert rules of ``deploy/prometheus/alerts.yml`` are valid (``promtool check rules``) and
fire when they should (``promtool test rules`` with ``data/alerts_test.yml``: dead letters, the
retention backstop, a service down, deletion lag). promtool is built by ``make bootstrap``
(``scripts/k8s-tools.sh promtool``); missing, the test fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.infra.kube_tools import tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/alerts.yml"
UNIT_TESTS = Path(__file__).parent / "data/alerts_test.yml"
REQUIRED = {
    "CddsServiceDown",
    "CddsDeadLetters",
    "CddsRetentionBackstopMissing",
    "CddsDeletionLagOverBound",
    "CddsRunStuck",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("promtool")), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_rules_fire_when_they_should() -> None:
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_refuses_a_broken_rule(tmp_path: Path) -> None:
    """The check can fail: a rule with a bad expression is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: 'sum(('\n")
    assert promtool("check", "rules", str(broken)).returncode != 0


def test_the_alerts_the_operations_guide_promises_exist() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    names = {rule["alert"] for group in groups for rule in group["rules"]}
    assert names >= REQUIRED
    tested = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    exercised = {case["alertname"] for t in tested for case in t["alert_rule_test"]}
    assert {"CddsDeadLetters", "CddsRetentionBackstopMissing"} <= exercised
