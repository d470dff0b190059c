"""Benchmark: peak memory of one run facing three pages or answers that used to cost
gigabytes, side by side with a reference checkout:

- a valid PEP 691 JSON page of about 110 MiB (one real wheel, and 200,000 other files of
  other versions, as the pages of projects with nightly builds grow);
- a PEP 658 ``.metadata`` answer of 1 GiB (the cap is 10 MiB);
- a server that answers range requests with a ``Content-Range`` it does not keep: 1 GiB
  of body for a 64 KiB range.

Each case runs ``selmirror NAME==1.0`` for one target against a local server (a process of
its own, on loopback), in a child process whose peak resident size (``ru_maxrss`` of the
process tree, from ``wait4``) is printed with its exit code and time. This process stays
small: Linux carries a parent's peak over a fork and exec into the child's figure.

    python benchmarks/bench_memory.py [--reference CHECKOUT] [--mib 110]

Goal: the 110 MiB page within a small multiple of its size; the other two within tens of
MiB, whatever the answer's size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fakeindex import build_wheel  # noqa: E402 - the tests' wheel builder

GIB = 1 << 30
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
TAGS = [
    f"cp3{m}-cp3{m}-{p}"
    for m in range(9, 14)
    for p in ("manylinux_2_17_x86_64.manylinux2014_x86_64", "win_amd64", "macosx_11_0_arm64")
]


class Site:
    """What the server answers: pages by project, files by name, and how to misbehave."""

    def __init__(self, mib: int) -> None:
        self.pages: dict[str, bytes] = {}
        self.files: dict[str, bytes] = {}
        self.huge_metadata: set[str] = set()  # .metadata answers of 1 GiB
        self.lying_ranges: set[str] = set()  # range answers of 1 GiB
        filename, content, metadata = build_wheel("big", "1.0")
        self.files[filename] = content
        self.files[filename + ".metadata"] = metadata
        self.pages["big"] = page("big", filename, content, metadata, filler_mib=mib)
        # a wheel over 512 KiB, so that its METADATA is read by range when no PEP 658 file
        lazy_name, lazy, _lazy_meta = build_wheel("lazy", "1.0")
        lazy = _padded(lazy)
        self.files[lazy_name] = lazy
        self.pages["lazy"] = page("lazy", lazy_name, lazy, None)
        self.lying_ranges.add(lazy_name)
        meta_name, meta, meta_meta = build_wheel("meta", "1.0")
        self.files[meta_name] = meta
        self.pages["meta"] = page("meta", meta_name, meta, meta_meta)
        self.huge_metadata.add(meta_name + ".metadata")


def _padded(wheel: bytes) -> bytes:
    """The same wheel with 1 MiB of data before it: a zip reader skips a prefix."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(wheel)) as src, zipfile.ZipFile(out, "w") as dst:
        dst.writestr("big/padding.bin", os.urandom(1 << 20))
        for info in src.infolist():
            dst.writestr(info, src.read(info))
    return out.getvalue()


def page(
    name: str, filename: str, content: bytes, metadata: bytes | None, filler_mib: int = 0
) -> bytes:
    """A PEP 691 page: the real file, then filler files of other versions up to the size."""
    real: dict[str, Any] = {
        "filename": filename,
        "url": f"../../files/{filename}",
        "hashes": {"sha256": hashlib.sha256(content).hexdigest()},
        "size": len(content),
        "upload-time": "2024-01-01T00:00:00.000000Z",
    }
    if metadata is not None:
        real["core-metadata"] = {"sha256": hashlib.sha256(metadata).hexdigest()}
    files = [real]
    budget, v = filler_mib << 20, 0
    while budget > 0:
        v += 1
        for tag in TAGS:
            fn = f"{name}-2.{v}-{tag}.whl"
            h = hashlib.sha256(fn.encode()).hexdigest()
            entry = {
                "filename": fn,
                "url": f"https://files.example/packages/{h[:2]}/{h[2:4]}/{h[4:]}/{fn}",
                "hashes": {"sha256": h},
                "requires-python": ">=3.9",
                "core-metadata": {"sha256": h},
                "data-dist-info-metadata": {"sha256": h},
                "size": 1234567,
                "upload-time": "2025-01-01T00:00:00.000000Z",
                "yanked": False,
            }
            files.append(entry)
            budget -= len(json.dumps(entry)) + 2
    body = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
    return json.dumps(body).encode()


def serve(site: Site) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts[0] == "simple" and len(parts) == 2 and parts[1] in site.pages:
                self._send(200, site.pages[parts[1]], JSON_TYPE)
            elif parts[0] == "files" and len(parts) == 2:
                self._file(parts[1])
            else:
                self._send(404, b"not found", "text/plain")

        def _file(self, name: str) -> None:
            if name in site.huge_metadata:
                self._stream(200, GIB, {})
            elif name in site.lying_ranges and self.headers.get("Range"):
                # a "range" of the whole file, said to be 1 GiB, and 1 GiB sent
                self._stream(206, GIB, {"Content-Range": f"bytes 0-{GIB - 1}/{GIB}"})
            elif name in site.files:
                self._send(200, site.files[name], "application/octet-stream")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, code: int, size: int, headers: dict[str, str]) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Connection", "close")  # no Content-Length: read until the end
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            chunk = b"A" * (1 << 20)
            try:
                for _ in range(size >> 20):
                    self.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading: what it should do
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(checkout: Path, project: str, index: str) -> tuple[int, float, float]:
    """Run one case; (exit code, peak RSS in MiB, seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PYTHONPATH"] = str(checkout)
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable, "-m", "selmirror", f"{project}==1.0",
            "--index", index, "--local-folder", folder,
            "--platform", "manylinux_2_28_x86_64", "--python-version", "3.12",
        ]  # fmt: skip
        start = time.perf_counter()
        child = subprocess.Popen(
            command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )  # not run from a checkout: ``-m`` puts the working directory first on the path
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        return child.returncode, usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, help="another checkout, run side by side")
    parser.add_argument("--mib", type=int, default=110, help="size of the large JSON page")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the server's side
    args = parser.parse_args()
    if args.serve:
        site = Site(args.mib)
        server = serve(site)
        sizes = {name: len(body) for name, body in site.pages.items()}
        args.serve.write_text(json.dumps([server.server_address[1], sizes]))
        threading.Event().wait()
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "port"
        command = [sys.executable, __file__, "--mib", str(args.mib), "--serve", str(ready)]
        server_process = subprocess.Popen(command)
        try:
            while not ready.exists() or not ready.read_text():
                time.sleep(0.2)
            port, sizes = json.loads(ready.read_text())
            compare(f"http://127.0.0.1:{port}/simple/", sizes, args.reference)
        finally:
            server_process.kill()


def compare(index: str, sizes: dict[str, int], reference: Path | None) -> None:
    checkouts = {"this": HERE.parent}
    if reference:
        checkouts["reference"] = reference.resolve()
    cases = {
        "big": f"JSON page of {sizes['big'] / (1 << 20):.0f} MiB",
        "meta": "1 GiB .metadata answer",
        "lazy": "Content-Range lying (1 GiB body)",
    }
    print(f"{'case':36} " + " ".join(f"{name:>26}" for name in checkouts))
    for project, label in cases.items():
        cells = []
        for checkout in checkouts.values():
            code, rss, seconds = measure(checkout, project, index)
            cells.append(f"{rss:7.0f} MiB {seconds:5.1f} s exit {code:<3}")
        print(f"{label:36} " + " ".join(f"{c:>26}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
