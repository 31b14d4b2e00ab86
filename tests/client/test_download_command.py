"""``cdds download`` as a whole, against a stand-in gateway on a local port (manifest, listing,
ranged content, as docs/api.md describes them): every file of a run verified, a ``.part``
resumed with ``Range``, ``--decrypt --unzip`` through the CMS package, a second call skipping
what is there. The real gateway runs the same in tests/client/test_cli_stack.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from cdds_client.cli import main
from cdds_gateway.usecases.ranges import parse_range
from tests.cms.test_cms import Identity, flip, make_identity, seal

RUN = "6650f1c2a9e4b1d2c3f4a5b6"


def zipped(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        lines = [f'{{"id": "{name}-{os.urandom(16).hex()}"}}\n' for _ in range(3000)]
        archive.writestr(f"Interaction-{RUN}.jsonl", "".join(lines))  # ~150 KB that do not shrink
    return buffer.getvalue()


class _Gateway(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}  # artifact id → (name, served bytes)
    manifest_sha: ClassVar[dict[str, str]] = {}
    ranges: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        ids = sorted(self.files)
        if url.path == f"/api/v1/runs/{RUN}/manifest":
            parts = [
                {"artifact_id": i, "name": n, "size": len(b), "sha256": self.manifest_sha[i]}
                for i, (n, b) in self.files.items()
            ]
            return self._json({"run_id": RUN, "status": "completed", "parts": parts})
        if url.path == "/api/v1/artifacts":
            assert parse_qs(url.query)["run_id"] == [RUN]
            return self._json({"items": [{"id": i} for i in ids], "total": len(ids)})
        artifact_id = url.path.removeprefix("/api/v1/artifacts/").removesuffix("/content")
        _, data = self.files[artifact_id]
        self.ranges.append(self.headers.get("Range"))
        wanted = parse_range(self.headers.get("Range"), len(data))
        body = data if wanted is None else data[wanted.start : wanted.end + 1]
        self.send_response(200 if wanted is None else 206)
        if wanted is not None:
            self.send_header("Content-Range", wanted.content_range(len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture(scope="module")
def alice() -> Identity:
    return make_identity(2048, "alice")


@pytest.fixture
def gateway(alice: Identity, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    _Gateway.files = {
        f"{RUN}-000-00{n}": (f"Interaction-{RUN}-000-00{n}.zip.p7m", seal(alice.recipient, z))
        for n, z in enumerate((zipped("a"), zipped("b")))
    }
    _Gateway.manifest_sha = {
        i: hashlib.sha256(b).hexdigest() for i, (_, b) in _Gateway.files.items()
    }
    _Gateway.ranges = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("CDDS_TOKEN", "tok")
    monkeypatch.setenv("CDDS_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def test_download_resume_verify_decrypt_then_skip(
    gateway: None, alice: Identity, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = alice.write(tmp_path / "keys")[0]
    out = tmp_path / "out"
    out.mkdir()
    (first_id, (first, sealed)), (_, (second, _)) = sorted(_Gateway.files.items())
    (out / f"{first}.part").write_bytes(sealed[:1000])  # an earlier call was interrupted

    argv = ["download", RUN, "--out", str(out), "--key", str(key), "--decrypt", "--unzip"]
    assert main(argv) == 0

    said = capsys.readouterr()
    assert f"{first}: resuming at byte 1000 of {len(sealed)}" in said.err.splitlines()
    assert sorted(map(str, _Gateway.ranges)) == ["None", "bytes=1000-"]  # resumed; whole
    assert (out / first).read_bytes() == sealed
    for name in (first, second):
        stem = name.removesuffix(".zip.p7m")
        assert (out / stem / f"Interaction-{RUN}.jsonl").read_bytes().count(b"\n") == 3000
        assert str(out / name) in said.out.splitlines()
    assert not list(out.glob("*.part"))

    # Once more: nothing fetched, nothing decrypted again
    _Gateway.ranges.clear()
    assert main(argv) == 0
    again = capsys.readouterr().err
    assert again.count("already downloaded and verified") == 2
    assert again.count("already decrypted") == 2
    assert _Gateway.ranges == []
    assert first_id in _Gateway.files


def test_a_file_that_differs_from_the_manifest_is_exit_1(
    gateway: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bad_id, (bad, sealed)), (_, (good, _)) = sorted(_Gateway.files.items())
    _Gateway.files[bad_id] = (bad, flip(sealed, len(sealed) // 2))  # altered behind the manifest

    assert main(["download", RUN, "--out", str(tmp_path / "out")]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert any(
        line.startswith(f"cdds: {bad}: the SHA-256 differs from the run's") for line in lines
    )
    assert lines[-1] == "cdds: 1 of 2 files failed"
    assert os.listdir(tmp_path / "out") == [good]  # the other file is fine; nothing of the bad


def test_usage_errors(gateway: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", RUN, "--out", str(tmp_path), "--decrypt"]) == 2
    assert capsys.readouterr().err == "cdds: --decrypt needs --key KEY.pem\n"
    assert main(["download", RUN, "--out", str(tmp_path), "--unzip"]) == 2
    assert main(["download", "--out", str(tmp_path)]) == 2  # no run or file
