"""The local stack launcher: a taken port is reported with its holder, stack.env works with
``source``, status tells the truth — the pid it shows is the server's own (no wrapper), a server
of ours left without a pid file is replaced, and older pid files (a ``runuser`` wrapper's) are
still read and stopped. Processes of these tests are harmless ``python -m http.server``s run as
``nobody`` on free ports. (Starting and stopping the whole stack twice is checked by .ci/run.)"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cdds_tools.devstack import Stack, StackConfig, StackError, process
from cdds_tools.devstack.config import find_root
from cdds_tools.devstack.process import Managed, port_open
from tests.infra import StackInfo, free_port
from tests.waiting import eventually_sync

ROOT = os.geteuid() == 0
# As root the server runs as ``nobody``, who cannot read a virtualenv under /root.
PYTHON = "/usr/bin/python3" if ROOT and Path("/usr/bin/python3").exists() else sys.executable


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
    assert f"taken by pid {os.getpid()} (" in str(caught.value)  # who holds it, to stop it
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
    assert message.startswith("minio failed to start: the process exited (exit status 3)")
    assert "minio.log" in message
    assert "cannot open data folder" in message


def web_server(tmp_path: Path, command: list[str] | None = None) -> Managed:
    """A managed ``http.server`` on a free port, as ``nobody`` when we are root."""
    port = free_port()
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    data.chmod(0o755)
    (tmp_path / "run").mkdir(exist_ok=True)
    serve = [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(data)]
    return Managed(
        name="web",
        command=command or serve,
        ports=[port],
        health=lambda: None if port_open("127.0.0.1", port) else f"port {port} closed",
        run_dir=tmp_path / "run",
        log_file=tmp_path / "log" / "web.log",
        user="nobody",
        cwd=Path("/"),
        start_timeout=30,
    )


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def listener(server: Managed) -> int | None:
    return server.holders().get(server.ports[0])


def start_wrapped(server: Managed) -> subprocess.Popen[bytes]:
    """Start ``server`` the way older stacks did: under ``runuser``, whose pid goes to the pid
    file."""
    server.log_file.parent.mkdir(parents=True, exist_ok=True)
    with server.log_file.open("ab") as log:
        wrapper = subprocess.Popen(
            ["runuser", "-u", "nobody", "--", *server.command],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,
        )
    server.pid_file.write_text(f"{wrapper.pid}\n")
    eventually_sync(lambda: listener(server), what="the wrapped server listening", timeout=30)
    return wrapper


def test_a_process_still_inside_exec_is_not_taken_for_dead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a moment inside ``exec`` a new process's environment and command line read empty
    from ``/proc`` (the parent already resumed): CI's ``make up`` once reported the janitor
    "exited" in that moment, and left it running."""
    server = web_server(tmp_path)
    try:
        # Given a server just started, whose /proc entry does not show our tag or command yet
        pid = server.start()
        monkeypatch.setattr(process, "_environ", lambda pid: {})
        monkeypatch.setattr(process, "_cmdline", lambda pid: [])
        # Then it is waited for, not reported dead, and its pid is the one started
        assert server.wait_healthy(30) is None
        assert server.pid() == pid
        # And stopping it stops that process
        assert server.stop(timeout=5)
        assert not alive(pid)
    finally:
        monkeypatch.undo()
        server.stop(timeout=5)


def test_a_process_killed_at_start_says_by_which_signal(tmp_path: Path) -> None:
    server = web_server(tmp_path, ["/bin/sh", "-c", "kill -KILL $$"])
    server.start()
    assert server.wait_healthy(30) == "the process exited (killed by SIGKILL)"
    server.stop(timeout=5)


def test_status_shows_the_server_itself_and_killing_that_pid_stops_it(tmp_path: Path) -> None:
    server = web_server(tmp_path)
    try:
        # Given a managed server started by the stack
        pid = server.start()
        assert server.wait_healthy(30) is None
        # Then the pid it records and reports is the process listening on its port
        assert server.pid() == pid == listener(server)
        if ROOT:  # privileges dropped without a wrapper process
            assert uid_of(pid) == pwd.getpwnam("nobody").pw_uid
            assert Path(f"/proc/{pid}/exe").resolve() == Path(PYTHON).resolve()
        # When an operator kills the pid status showed
        os.kill(pid, signal.SIGKILL)
        # Then nothing of it is left holding the port
        eventually_sync(lambda: listener(server), lambda held: held is None, timeout=30)
        assert server.pid() is None
        assert server.orphans() == []
    finally:
        server.stop(timeout=5)


@pytest.mark.skipif(not ROOT, reason="older stacks used a runuser wrapper only as root")
def test_an_older_wrapper_pid_file_is_reported_and_stopped(tmp_path: Path) -> None:
    server = web_server(tmp_path)
    wrapper = start_wrapped(server)
    try:
        # Then status names the server, not the wrapper the pid file names
        child = listener(server)
        assert child is not None and child != wrapper.pid
        assert server.pid() == child
        # And stop (make down) ends both
        assert server.stop(timeout=10)
        assert wrapper.wait(timeout=10) is not None
        assert not alive(child)
        assert not server.pid_file.exists()
    finally:
        wrapper.kill()
        wrapper.wait()


@pytest.mark.skipif(not ROOT, reason="older stacks used a runuser wrapper only as root")
def test_up_replaces_an_orphan_whose_wrapper_was_killed(tmp_path: Path) -> None:
    server = web_server(tmp_path)
    stack = Stack(StackConfig(root=tmp_path))
    stack.processes = {"web": server}
    wrapper = start_wrapped(server)
    orphan = listener(server)
    assert orphan is not None
    try:
        # Given the wrapper killed: its server keeps the port, no pid file names it
        wrapper.kill()
        wrapper.wait()
        assert alive(orphan) and server.pid() is None
        # Then status says so, with the orphan's pid
        (row,) = stack.status()
        assert row.pid == orphan
        assert row.health.startswith("orphaned")
        # When make up runs, it stops our orphan and starts the server afresh
        said: list[str] = []
        stack.up(("web",), log=said.append)
        assert any(f"stopping pid {orphan} (" in line for line in said), said
        assert not alive(orphan)
        assert server.pid() == listener(server) not in (None, orphan)
    finally:
        wrapper.kill()
        server.stop(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)


def test_a_child_of_ours_left_behind_is_recognised_by_its_tag(tmp_path: Path) -> None:
    # Given a server whose command is a script that runs the real server as its child (the
    # shape of rabbitmq-server), and the script killed: the child keeps the port
    plain = web_server(tmp_path)
    script = ["/bin/sh", "-c", " ".join(plain.command) + "; exit 0"]
    server = web_server(tmp_path, command=script)
    server.ports, server.health = plain.ports, plain.health
    try:
        pid = server.start()
        assert server.wait_healthy(30) is None
        child = listener(server)
        assert child is not None and child != pid
        os.kill(pid, signal.SIGKILL)
        eventually_sync(lambda: alive(pid), lambda up: not up, timeout=10)
        # Then it is still known as ours, and stop (make down) ends it
        assert server.pid() is None
        assert server.orphans() == [child]
        assert server.stop(timeout=10)
        assert not alive(child)
        assert not port_open("127.0.0.1", server.ports[0])
    finally:
        server.stop(timeout=5)


def test_an_untagged_server_of_another_stack_is_left_alone(tmp_path: Path) -> None:
    # Given a server running our exact command, started by an older stack (so untagged) of
    # another checkout: the same command, other settings in its environment
    server = web_server(tmp_path)
    server.env = {"CDDS_STACK_TEST_SETTING": "ours"}
    stack = Stack(StackConfig(root=tmp_path))
    stack.processes = {"web": server}
    other = subprocess.Popen(
        server.command,
        env={**os.environ, "CDDS_STACK_TEST_SETTING": "theirs"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        eventually_sync(lambda: listener(server), lambda pid: pid == other.pid, timeout=30)
        # Then it is not taken for ours: not stopped by down, named by up
        assert server.orphans() == []
        assert not server.stop(timeout=5)
        assert other.poll() is None
        with pytest.raises(
            StackError, match=f"port {server.ports[0]} .* taken by pid {other.pid} "
        ):
            stack.up(("web",), log=lambda line: None)
        assert other.poll() is None
        # And with our settings (our own older server) it is recognised
        server.env = {"CDDS_STACK_TEST_SETTING": "theirs"}
        assert server.orphans() == [other.pid]
    finally:
        other.kill()
        other.wait()
