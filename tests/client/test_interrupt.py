"""Ctrl-C ends ``cdds run watch`` with exit status 130 and one line, the run left alone. The
gateway here is a stand-in on a local port that always answers "running" (the real gateway's
watch stories are in tests/client/test_cli_stack.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.waiting import eventually_sync

RUN = "6650f1c2a9e4b1d2c3f4a5b6"
RUNNING = {"id": RUN, "status": "running", "progress": {"percent": 5.0, "records": 50}}


class _Running(BaseHTTPRequestHandler):
    polls = 0

    def do_GET(self) -> None:
        type(self).polls += 1
        body = json.dumps(RUNNING).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def always_running() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Running)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_ctrl_c_is_exit_130(always_running: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDDS_")}
    env |= {"XDG_CONFIG_HOME": str(tmp_path), "CDDS_TOKEN": "tok", "CDDS_URL": always_running}
    _Running.polls = 0
    watching = subprocess.Popen(
        [Path(sys.executable).parent / "cdds", "run", "watch", RUN, "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # As from a terminal: a shell's background job (CI's, say) inherits SIGINT ignored, and
        # Python then installs no handler for it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        eventually_sync(lambda: _Running.polls, lambda n: n >= 2, timeout=30, what="two polls")
        watching.send_signal(signal.SIGINT)
        _, err = watching.communicate(timeout=30)
    finally:
        watching.kill()
    assert watching.returncode == 130
    assert err.splitlines()[-1] == "cdds: interrupted"
    assert f"run {RUN}: running 5.0% 50 records" in err
