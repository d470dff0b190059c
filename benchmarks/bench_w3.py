"""Benchmark: workload W3 (15 team requirements, about 53 projects once resolved) for Linux
x86_64 CPython 3.11 wheels, three ways in one run, alternating:

- selmirror: resolve, download, verify and write the index in one command;
- pip's route: ``pip download --only-binary=:all: --platform ... --python-version 3.11``
  then ``dir2pi`` (pip2pi) to make the index;
- and the same selmirror run for 8 targets (4 platforms x 2 Pythons).

Also compares the projects selmirror mirrors with what ``uv pip compile`` resolves.

    python benchmarks/bench_w3.py [--rounds 3] [--workload PATH] [--reference CHECKOUT]

With ``--reference``, another checkout of selmirror (say ``git worktree add ../ref <commit>``)
runs both selmirror routes too, in the same rounds, and the ratios between the two are
printed: how a change moved the speed, measured side by side.

Needs the network. Goals: selmirror <= 2.0 s when the proxy is warm, >= 3x faster than
pip's route, the same projects as uv, and 8 targets <= 2x the one-target time.
"""

from __future__ import annotations

import argparse
import os
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
PLATFORM, PYTHON = "manylinux_2_28_x86_64", "3.11"
EIGHT = [
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_28_aarch64",
    "--platform",
    "macosx_13_0_arm64",
    "--platform",
    "win_amd64",
    "--python-version",
    "3.11",
    "--python-version",
    "3.12",
]
# pip takes only the exact platform tags it is given: list what a glibc 2.28 machine takes
PIP_PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(28, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return env | {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    # run from the temp folder: ``-m`` puts the working directory first on the path, so
    # from a checkout it would run that checkout whatever PYTHONPATH names
    subprocess.run(
        command,
        check=True,
        env=env or clean_env(),
        cwd=tempfile.gettempdir(),
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def selmirror(workload: Path, folder: Path, *targets: str, checkout: Path | None = None) -> float:
    env = clean_env() | ({"PYTHONPATH": str(checkout)} if checkout else {})
    return timed(
        [
            sys.executable,
            "-m",
            "selmirror",
            "-r",
            str(workload),
            "--binary-only",
            "--local-folder",
            str(folder),
            "-qq",
            *targets,
        ],
        env=env,
    )


def pip_route(workload: Path, folder: Path, dir2pi: Path) -> float:
    platforms = [a for p in PIP_PLATFORMS for a in ("--platform", p)]
    start = time.perf_counter()
    timed(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--isolated",
            "--no-cache-dir",
            "-q",
            "-r",
            str(workload),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            PYTHON,
            *platforms,
            "-d",
            str(folder),
        ]
    )
    timed([str(dir2pi), str(folder)])
    return time.perf_counter() - start


def projects(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir() and (p / "index.html").exists()}


def uv_projects(workload: Path, tmp: Path) -> set[str]:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    out = subprocess.run(
        [
            uv,
            "pip",
            "compile",
            "--no-config",
            "--no-header",
            "-q",
            str(workload),
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--python-version",
            PYTHON,
            "--only-binary",
            ":all:",
            "--cache-dir",
            str(tmp / "uv-cache"),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=clean_env(),
    ).stdout
    names = (line.split("==")[0] for line in out.splitlines() if "==" in line)
    return {re.sub(r"[-_.]+", "-", n).lower() for n in names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", type=Path, default=DEFAULT_WORKLOAD)
    parser.add_argument("--reference", type=Path, help="another selmirror checkout to compare")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-w3-"))
    try:
        tools = work / "tools"
        subprocess.run([sys.executable, "-m", "venv", str(tools)], check=True)
        subprocess.run(
            [str(tools / "bin" / "pip"), "install", "-q", "pip2pi"], check=True, env=clean_env()
        )
        dir2pi = tools / "bin" / "dir2pi"
        # as an installed package has them (pip compiles at install): no run pays for
        # compiling selmirror's modules, whatever PYTHONDONTWRITEBYTECODE says
        for checkout in (HERE.parent, args.reference):
            if checkout is not None:
                subprocess.run(
                    [sys.executable, "-m", "compileall", "-q", str(checkout / "selmirror")]
                )
        one_target = ["--platform", PLATFORM, "--python-version", PYTHON]
        # warm the proxy for everyone: every file any of the runs below will fetch
        selmirror(args.workload, work / "warm-up", *EIGHT)
        times: dict[str, list[float]] = {"selmirror": [], "pip+dir2pi": [], "selmirror-8": []}
        if args.reference:
            times |= {"reference": [], "reference-8": []}
        for n in range(args.rounds):
            order = list(times) if n % 2 == 0 else list(reversed(times))
            for tool in order:
                folder = work / f"{tool}-{n}"
                if tool == "selmirror":
                    seconds = selmirror(args.workload, folder, *one_target)
                elif tool == "selmirror-8":
                    seconds = selmirror(args.workload, folder, *EIGHT)
                elif tool == "reference":
                    seconds = selmirror(args.workload, folder, *one_target, checkout=args.reference)
                elif tool == "reference-8":
                    seconds = selmirror(args.workload, folder, *EIGHT, checkout=args.reference)
                else:
                    seconds = pip_route(args.workload, folder, dir2pi)
                times[tool].append(seconds)
                print(f"  round {n + 1}: {tool:<12} {seconds:6.2f} s")
        ours = projects(work / "selmirror-0")
        uv = uv_projects(args.workload, work)
        size = sum(f.stat().st_size for f in (work / "selmirror-0").rglob("*.whl"))
        median = {tool: statistics.median(ts) for tool, ts in times.items()}
        print(f"W3: {len(ours)} projects, {size / 1e6:.1f} MB of wheels (cp311, {PLATFORM})")
        print(
            f"median: selmirror {median['selmirror']:.2f} s (goal <= 2.0), "
            f"pip download + dir2pi {median['pip+dir2pi']:.2f} s, "
            f"speed-up {median['pip+dir2pi'] / median['selmirror']:.2f}x (goal >= 3)"
        )
        print(
            f"8 targets: {median['selmirror-8']:.2f} s = "
            f"{median['selmirror-8'] / median['selmirror']:.2f}x one target (goal <= 2)"
        )
        if args.reference:
            print(
                f"reference {args.reference.name}: one target {median['reference']:.2f} s, "
                f"this checkout {median['selmirror'] / median['reference']:.2f}x its time; "
                f"8 targets {median['reference-8']:.2f} s, "
                f"this checkout {median['selmirror-8'] / median['reference-8']:.2f}x its time"
            )
        print(
            f"same projects as uv pip compile: {ours == uv} "
            f"(selmirror {len(ours)}, uv {len(uv)}"
            f"{', differ: ' + ' '.join(sorted(ours ^ uv)) if ours != uv else ''})"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
