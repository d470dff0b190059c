"""A ``selmirror serve`` process for the tests, and the mirror it serves."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakeindex import FakeIndex

from selmirror.cli import main

JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html; charset=utf-8"
PIP_ACCEPT = f"{JSON}, {V1_HTML}; q=0.1, text/html; q=0.01"  # pip 26 and uv send this
WHEEL = "alpha-2.0-py3-none-any.whl"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int
    root: Path
    log_path: Path
    prefix: str = "/simple/"
    extra: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, the path sent exactly as given; headers by lower-case name."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            if body:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, {k.replace("_", "-"): v for k, v in headers.items()})

    def log(self) -> str:
        return self.log_path.read_text()


def build_mirror(index: FakeIndex, root: Path) -> None:
    for version in ("1.0", "2.0"):
        index.add_wheel("alpha", version)
        index.add_sdist("alpha", version)
    index.add_wheel("Typing_Extras", "1.0")
    index.add_wheel("gamma", "1.0+local")
    code = main(
        ["alpha", "typing-extras", "gamma", "--index", index.url, "--local-folder", str(root)]
    )
    assert code == 0


def start_server(
    root: Path, log_path: Path, *args: str, env: dict[str, str] | None = None
) -> Server:
    """``selmirror serve`` on a free loopback port; returns once it answers /health."""
    log_file = open(log_path, "w")  # noqa: SIM115 - the child writes it; closed with the test
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selmirror",
            "serve",
            "--local-folder",
            str(root),
            "--port",
            "0",
            "--workers",
            "1",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        env=env,
    )
    log_file.close()
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"at http://127\.0\.0\.1:(\d+)(/\S*)", line)
    assert match, f"no 'serving' line: {line!r}; log: {log_path.read_text()}"
    server = Server(process, int(match.group(1)), root, log_path, prefix=match.group(2))
    deadline = time.monotonic() + 20
    while True:
        try:
            if server.get("/health")[0] == 200:
                return server
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise AssertionError(f"the server did not start: {log_path.read_text()}")
        time.sleep(0.05)


def stop(server: Server) -> int:
    """SIGTERM, then wait; no worker process may outlive the server."""
    try:
        return stop_process(server.process, "selmirror serve")
    finally:
        if server.process.stdout:
            server.process.stdout.close()


def stop_process(process: subprocess.Popen[Any], name: str) -> int:
    """SIGTERM ``process``, wait for it, and check that none of its children is left."""
    workers = children(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    left = [pid for pid in workers if alive(pid)]
    assert not left, f"{name} left processes behind: {left}"
    return code


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
