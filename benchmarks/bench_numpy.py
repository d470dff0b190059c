"""Benchmark: mirror every file of numpy==1.26.0 with selmirror, and fetch the same files with
curl, in the same run, alternating; print the times and their ratio.

    python benchmarks/bench_numpy.py [--rounds 3] [--index URL]

Needs the network (real PyPI or the index given) and curl. Goal: selmirror within 1.5x of
curl with the same number of parallel transfers. selmirror does more than curl: it parses
the project page, checks every hash, writes .metadata sidecars and pages.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUIREMENT = "numpy==1.26.0"


def selmirror(index: str, folder: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "selmirror",
            REQUIREMENT,
            "--index",
            index,
            "--local-folder",
            str(folder),
            "--workers",
            str(workers),
            "-qq",
        ],
        check=True,
    )
    return time.perf_counter() - start


def curl(urls: list[tuple[str, str]], folder: Path, parallel: int) -> float:
    folder.mkdir(parents=True)
    args = [
        "curl",
        "--silent",
        "--show-error",
        "--fail",
        "--parallel",
        "--parallel-max",
        str(parallel),
    ]
    for url, filename in urls:
        args += ["-o", str(folder / filename), url]
    start = time.perf_counter()
    subprocess.run(args, check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def plan(index: str) -> list[dict[str, object]]:
    """The files selmirror will mirror, from its own --dry-run report."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "selmirror",
            REQUIREMENT,
            "--index",
            index,
            "--dry-run",
            "--report",
            "-",
            "--local-folder",
            tempfile.mkdtemp(),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    files: list[dict[str, object]] = json.loads(out)["projects"]["numpy"]["files"]
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--index", default="https://pypi.org/simple/")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    files = plan(args.index)
    urls = [(str(f["url"]), str(f["filename"])) for f in files]
    total = sum(int(f["size"]) for f in files)  # type: ignore[call-overload]
    print(
        f"{REQUIREMENT}: {len(files)} files, {total / 1e6:.1f} MB; "
        f"{args.workers} parallel transfers each; {args.rounds} rounds"
    )
    times: dict[str, list[float]] = {"selmirror": [], "curl": []}
    work = Path(tempfile.mkdtemp(prefix="bench-numpy-"))
    try:
        for n in range(args.rounds):
            order = ["selmirror", "curl"] if n % 2 == 0 else ["curl", "selmirror"]
            for tool in order:
                folder = work / f"{tool}-{n}"
                if tool == "selmirror":
                    seconds = selmirror(args.index, folder, args.workers)
                else:
                    seconds = curl(urls, folder, args.workers)
                times[tool].append(seconds)
                print(
                    f"  round {n + 1}: {tool:<9} {seconds:6.2f} s  "
                    f"{total / seconds / 1e6:7.1f} MB/s"
                )
        # same bytes: curl's copies hash to what selmirror recorded
        last = work / f"curl-{args.rounds - 1}"
        for f in files:
            digest = hashlib.sha256((last / str(f["filename"])).read_bytes()).hexdigest()
            assert digest == f["sha256"], f["filename"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, theirs = statistics.median(times["selmirror"]), statistics.median(times["curl"])
    print(
        f"median: selmirror {ours:.2f} s, curl {theirs:.2f} s, "
        f"ratio selmirror/curl = {ours / theirs:.2f} (goal <= 1.5)"
    )


if __name__ == "__main__":
    main()
