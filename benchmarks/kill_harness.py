"""Harness: kill -9 selmirror at random moments of sync, prune, export and import, and
count what a kill may never leave: orphan processes, writes after death, listed files
that are missing or corrupt, and a next run that does not converge.

A fake index on loopback (the tests' own) serves 40 small projects and a few throttled
files, so that each kind of run lasts a second or two; each round starts the command,
sends SIGKILL after a random delay inside its usual duration, then checks:

- orphans: processes of the run still alive 3 s after the kill;
- writes after death: any file of the folder that changes in the 1.5 s after that;
- corrupt: files a project's page lists that are missing or not the bytes its sha256 says
  (stray temp files and pages not yet written are the next run's to finish);
- converged: the same command again exits 0, and ``verify`` then reports nothing.

    python benchmarks/kill_harness.py [--rounds 8] [--seed 1]

Loopback only; needs no network. Prints one line per kind, and the totals.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fakeindex import FakeIndex  # noqa: E402 - the tests' fake index


def env(tmp: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return clean | {"TMPDIR": str(tmp)}


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                children = {int(c) for c in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += children - found
            found |= children
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    found = {}
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                st = path.stat()
                found[str(path)] = (st.st_size, st.st_mtime_ns)
        except OSError:
            continue
    return found


def selmirror(*args: str, tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "selmirror", *args],
        env=env(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def verify(folder: Path, tmp: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "selmirror", "verify", "--local-folder", str(folder)],
        env=env(tmp),
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def listed_problems(folder: Path) -> list[str]:
    """Files a page lists that are missing, or whose bytes are not the sha256 it says."""
    problems = []
    for page in folder.glob("[!.]*/index.v1_json"):  # not a run's temp folders
        try:
            files = json.loads(page.read_bytes())["files"]
        except (OSError, ValueError, KeyError):
            problems.append(f"{page}: unreadable")
            continue
        for entry in files:
            path = page.parent / entry["filename"]
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                problems.append(f"{path}: listed, missing")
                continue
            if digest != entry["hashes"].get("sha256"):
                problems.append(f"{path}: listed, other bytes")
    return problems


class Tally:
    def __init__(self) -> None:
        self.rounds = self.orphans = self.writes = self.corrupt = self.diverged = 0
        self.killed_mid_run = 0


def one_round(
    start: Callable[[], subprocess.Popen[bytes]],
    again: Callable[[], int],
    folder: Path,
    delay: float,
    tmp: Path,
    tally: Tally,
) -> None:
    proc = start()
    time.sleep(delay)
    kids = descendants(proc.pid)
    finished = proc.poll() is not None
    proc.kill()
    proc.wait()
    tally.rounds += 1
    tally.killed_mid_run += not finished
    deadline = time.monotonic() + 3
    while alive(kids) and time.monotonic() < deadline:
        time.sleep(0.05)
    tally.orphans += len(alive(kids))
    before = snapshot(folder)
    time.sleep(1.5)
    if snapshot(folder) != before:
        tally.writes += 1
    if problems := listed_problems(folder):
        tally.corrupt += 1
        print(f"    after a kill at {delay:.2f}s: {problems[:3]}")
    if again() != 0 or (folder.exists() and verify(folder, tmp)[0] != 0):
        tally.diverged += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="kills per kind of run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    chance = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-harness-"))
    try:
        with FakeIndex(page_format="json") as index:
            names = [f"proj{n}" for n in range(40)]
            for n, name in enumerate(names):
                index.add_wheel(name, "1.0", requires_dist=[f"dep{n % 7}"])
                index.add_sdist(name, "1.0")
            for n in range(7):
                index.add_wheel(f"dep{n}", "1.0")
            index.add_setuptools("80.9.0")  # the big sdists' default build requirements
            index.add_wheel("wheel", "0.45.1")
            for n in range(3):
                index.add_file(
                    f"big{n}", f"big{n}-1.0.tar.gz", os.urandom(200_000), throttle=400_000.0
                )
            req = work / "req.txt"
            req.write_text("\n".join([*names, "big0", "big1", "big2"]) + "\n")
            fewer = work / "fewer.txt"
            fewer.write_text("\n".join(names[:10]) + "\n")
            common = ["--index", index.url, "--platform", "linux", "--python-version", "3.12"]
            tallies: dict[str, Tally] = {}

            def sync_cmd(folder: Path, requirements: Path, *extra: str) -> list[str]:
                return ["-r", str(requirements), *common, "--local-folder", str(folder), *extra]

            # a full mirror to copy from, and a bundle of it
            base = work / "base"
            subprocess.run(
                [sys.executable, "-m", "selmirror", *sync_cmd(base, req)],
                env=env(work),
                check=True,
                capture_output=True,
            )
            bundle = work / "full.tar"
            subprocess.run(
                [sys.executable, "-m", "selmirror", "export", "--local-folder", str(base),
                 "--output", str(bundle), "--full"],
                env=env(work), check=True, capture_output=True,
            )  # fmt: skip

            def rerun(*command: str) -> int:
                return subprocess.run(
                    [sys.executable, "-m", "selmirror", *command],
                    env=env(work),
                    capture_output=True,
                    check=False,
                ).returncode

            for kind in ("sync", "prune", "export", "import"):
                tally = tallies[kind] = Tally()
                took = 0.0
                for n in range(-1, args.rounds):  # round -1: not killed, it times the command
                    folder = work / f"{kind}-{n}"
                    if kind == "sync":
                        command = sync_cmd(folder, req)
                    elif kind == "prune":
                        shutil.copytree(base, folder, symlinks=True)
                        command = ["prune", *sync_cmd(folder, fewer)]
                    elif kind == "export":
                        shutil.copytree(base, folder, symlinks=True)
                        out = work / f"export-{n}.tar"
                        command = ["export", "--local-folder", str(folder), "--output",
                                   str(out), "--full"]  # fmt: skip
                    else:
                        command = ["import", str(bundle), "--local-folder", str(folder)]
                    if n < 0:
                        started = time.monotonic()
                        if rerun(*command) != 0:
                            raise SystemExit(f"{kind} fails without a kill: {command}")
                        took = time.monotonic() - started
                        continue
                    delay = chance.uniform(0.1, max(0.2, took))  # somewhere inside the run
                    one_round(
                        lambda c=command: selmirror(*c, tmp=work),
                        lambda c=command: rerun(*c),
                        folder,
                        delay,
                        work,
                        tally,
                    )
                print(
                    f"{kind:<7} kills {tally.rounds} ({tally.killed_mid_run} mid-run): "
                    f"orphans {tally.orphans}, writes after death {tally.writes}, "
                    f"listed files missing or corrupt {tally.corrupt}, "
                    f"next run not converging {tally.diverged}"
                )
            total = Tally()
            for t in tallies.values():
                for field in vars(total):
                    setattr(total, field, getattr(total, field) + getattr(t, field))
            print(
                f"total   kills {total.rounds} ({total.killed_mid_run} mid-run): orphans "
                f"{total.orphans}, writes after death {total.writes}, corrupt {total.corrupt}, "
                f"diverged {total.diverged}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
