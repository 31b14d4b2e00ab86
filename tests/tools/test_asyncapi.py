"""The published AsyncAPI document (docs/asyncapi.yaml) is what the code generates today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_committed_asyncapi_document_matches_the_code(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.yaml"
    faststream = Path(sys.executable).parent / "faststream"
    subprocess.run(
        [
            str(faststream),
            "docs",
            "gen",
            "--factory",
            "cdds_tools.asyncapi:create_app",
            "--yaml",
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    committed = yaml.safe_load((ROOT / "docs/asyncapi.yaml").read_text())
    assert yaml.safe_load(out.read_text()) == committed, "run `make asyncapi` and commit"
    channels = committed["channels"]
    queues = {
        c["bindings"]["amqp"]["queue"]["name"]
        for c in channels.values()
        if c["bindings"]["amqp"]["is"] == "queue"
    }
    assert {
        "cdds.exporter.run-requested",
        "cdds.exporter.export-partition",
        "cdds.encryptor.part-staged",
    } <= queues
