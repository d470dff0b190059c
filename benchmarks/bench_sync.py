"""Benchmark: a nightly re-run that has nothing to do, next to the cold run it repeats.

Workload W3 (15 team requirements, 53 projects) for Linux x86_64 CPython 3.11 wheels: one
cold run into an empty folder, then no-op re-runs; each re-run's report must show no file
downloaded and no page rewritten.

    python benchmarks/bench_sync.py [--rounds 5] [--workload PATH]

Needs the network. Goal: a no-op re-run <= 1.0 s, fetching no file.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_WORKLOAD = HERE.parent.parent / "shared" / "workloads" / "w3-team.txt"
TARGET = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--binary-only"]


def run(workload: Path, folder: Path) -> tuple[float, dict[str, int]]:
    """One sync as cron runs it (no --report); the counts come from its summary line."""
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "selmirror",
            "sync",
            "-r",
            str(workload),
            *TARGET,
            "--local-folder",
            str(folder),
            "-q",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds = time.perf_counter() - start
    found = re.search(r"(\d+) downloaded\b.*?(\d+) page\(s\) rewritten", out)
    assert found, out
    return seconds, {"downloaded": int(found[1]), "pages_rewritten": int(found[2])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workload", type=Path, default=DEFAULT_WORKLOAD)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        folder = work / "simple"
        cold, summary = run(args.workload, folder)
        print(
            f"cold run: {cold:.2f} s, {summary['downloaded']} files downloaded, "
            f"{summary['pages_rewritten']} pages written"
        )
        times = []
        for n in range(args.rounds):
            seconds, summary = run(args.workload, folder)
            times.append(seconds)
            print(
                f"  no-op re-run {n + 1}: {seconds:.2f} s, {summary['downloaded']} files "
                f"downloaded, {summary['pages_rewritten']} pages rewritten"
            )
            assert summary["downloaded"] == 0, "a no-op re-run downloaded something"
            assert summary["pages_rewritten"] == 0, "a no-op re-run rewrote a page"
        median = statistics.median(times)
        print(
            f"median no-op re-run {median:.2f} s (goal <= 1.0), cold {cold:.2f} s, "
            f"ratio {median / cold:.2f}; no file fetched, no page rewritten"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
