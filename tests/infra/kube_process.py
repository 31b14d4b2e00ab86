"""A control-plane process of the test harness (``tests/infra/kube.py``): its output in a log
file shown when it dies, stopped with SIGTERM, then SIGKILL."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["ControlPlaneProcess"]


@dataclass
class ControlPlaneProcess:
    """A control-plane process whose output goes to ``log``; stopped with SIGTERM, then SIGKILL."""

    name: str
    log: Path
    popen: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls, name: str, argv: list[str], workdir: Path, env: Mapping[str, str] = {}
    ) -> ControlPlaneProcess:
        log = workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env={**os.environ, **env}
            )
        return cls(name, log, popen)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text("utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            pytest.fail(
                f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}", pytrace=False
            )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
