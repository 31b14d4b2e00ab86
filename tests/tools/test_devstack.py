"""The local stack launcher: a taken port is reported, stack.env works with ``source``, status
tells the truth. (Starting and stopping the whole stack twice is checked by .ci/run.)"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from cdds_tools.devstack import Stack, StackConfig, StackError
from cdds_tools.devstack.config import find_root
from tests.infra import StackInfo, free_port


def test_a_taken_port_is_reported_not_reused(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        config = StackConfig(root=tmp_path, minio_port=port)
        stack = Stack(config)
        with pytest.raises(StackError) as caught:
            stack.up(("minio",), log=lambda line: None)
        stack.clean(log=lambda line: None)
    assert f"port {port}" in str(caught.value)
    assert "taken" in str(caught.value)
    assert not (config.run / "minio.pid").exists()
    assert not config.server_base.exists()


def test_stack_env_can_be_sourced(stack: StackInfo) -> None:
    path = Stack(StackConfig(root=find_root())).write_env()
    shown = subprocess.run(
        ["bash", "-c", f"source {path} && env | grep ^CDDS_ | sort"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in shown.splitlines())
    assert values["CDDS_UCS__DSN"] == stack.ucs_dsn
    assert values["CDDS_RABBIT__URL"] == stack.rabbit_url
    for name in ("CDDS_MONGO__URL", "CDDS_MINIO__ENDPOINT", "CDDS_GATEWAY__URL"):
        assert values[name]


def test_status_reports_the_running_infrastructure(stack: StackInfo) -> None:
    rows = {row.name: row for row in Stack(StackConfig(root=find_root())).status()}
    for name in ("rabbitmq", "postgres", "ferretdb", "minio"):
        assert rows[name].health == "healthy", rows[name]
        assert rows[name].pid is not None


def test_a_process_that_dies_at_start_names_itself_and_its_log(tmp_path: Path) -> None:
    config = StackConfig(root=tmp_path, cache_dir=tmp_path / "cache")
    (config.bin_dir).mkdir(parents=True)
    fake = config.bin_dir / "minio"
    fake.write_text("#!/bin/sh\necho 'minio: cannot open data folder' >&2\nexit 3\n")
    fake.chmod(0o755)
    config_free = StackConfig(
        root=tmp_path,
        cache_dir=tmp_path / "cache",
        minio_port=free_port(),
        minio_console_port=free_port(),
    )
    stack = Stack(config_free)
    with pytest.raises(StackError) as caught:
        stack.up(("minio",), log=lambda line: None)
    stack.clean(log=lambda line: None)
    message = str(caught.value)
    assert message.startswith("minio failed to start: the process exited")
    assert "minio.log" in message
    assert "cannot open data folder" in message
