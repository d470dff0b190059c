"""Benchmark: ``selmirror index`` on a synthetic tree of 10,000 projects and 200,000 files
(10 wheels and 10 sdists each, real ones, tiny), four ways:

- cold: no page yet, every file hashed and read (informational);
- ``--full``: every folder read again, recorded files not re-hashed (goal <= 10 s);
- one project changed (a wheel dropped in by hand): only that folder read (goal <= 0.5 s);
- nothing changed (informational).

    python benchmarks/bench_index.py [--projects 10000] [--files 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path


def wheel(name: str, version: str) -> bytes:
    dist = name.replace("-", "_")
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{dist}/__init__.py", "")
        z.writestr(f"{dist}-{version}.dist-info/METADATA", meta)
        z.writestr(f"{dist}-{version}.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        z.writestr(f"{dist}-{version}.dist-info/RECORD", "")
    return out.getvalue()


def sdist(name: str, version: str) -> bytes:
    dist = name.replace("-", "_")
    pkg_info = (
        f"Metadata-Version: 2.2\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n"
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return out.getvalue()


def make_project(job: tuple[Path, int, int]) -> None:
    root, n, files = job
    name = f"project-{n:05d}"
    folder = root / name
    folder.mkdir()
    for v in range(files // 2):
        version = f"1.{v}"
        (folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(
            wheel(name, version)
        )
        (folder / f"{name.replace('-', '_')}-{version}.tar.gz").write_bytes(sdist(name, version))


def index(root: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "selmirror", "index", "--local-folder", str(root), "-q", *extra],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="build the tree here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-index-")) / "simple"
    try:
        if not root.exists():
            root.mkdir(parents=True)
            start = time.perf_counter()
            with multiprocessing.Pool() as pool:
                pool.map(
                    make_project,
                    [(root, n, args.files) for n in range(args.projects)],
                    chunksize=200,
                )
            print(
                f"built {args.projects} projects x {args.files} files in "
                f"{time.perf_counter() - start:.1f} s"
            )
            print(f"cold index (every file hashed and read): {index(root):.1f} s")
        print(
            f"index --full (every folder read, nothing re-hashed): {index(root, '--full'):.2f} s"
            "  (goal <= 10 s)"
        )
        name = f"project-{args.projects // 2:05d}"
        late = root / name / f"{name.replace('-', '_')}-9.0-py3-none-any.whl"
        late.write_bytes(wheel(name, "9.0"))
        print(f"index, one project changed: {index(root):.2f} s  (goal <= 0.5 s)")
        assert "9.0-py3-none-any.whl" in (root / name / "index.html").read_text()
        print(f"index, nothing changed: {index(root):.2f} s")
    finally:
        if args.keep is None:
            shutil.rmtree(root.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
