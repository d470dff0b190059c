"""Processes and signals: a run ends cleanly whatever ends it, and leaves nothing behind.

Each test runs selmirror as a real process (``python -m selmirror``, its worker processes
forked) against the fake index, with a throttled download to be in the middle of, and its
own TMPDIR so that what it leaves there can be seen.
"""

from __future__ import annotations

import functools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from oracles import clean_env

from selmirror import workers
from selmirror.folder import TMP_PREFIX

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="worker processes need fork")


def start(index: FakeIndex, mirror: Path, tmp: Path, *args: str) -> subprocess.Popen[bytes]:
    (tmp / "tmp").mkdir(exist_ok=True)
    env = clean_env(tmp) | {"TMPDIR": str(tmp / "tmp")}
    command = [sys.executable, "-m", "selmirror", *args, "--index", index.url]
    command += ["--local-folder", str(mirror), "--workers", "2"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
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
    """Those of ``pids`` still running (zombies count as gone)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(condition())  # type: ignore[operator]


def temps(mirror: Path) -> list[Path]:
    return list(mirror.rglob(TMP_PREFIX + "*")) if mirror.exists() else []


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def slow(fake_index: FakeIndex) -> FakeIndex:
    """A small project and a large one whose file arrives over about 4 seconds."""
    fake_index.add_wheel("alpha", "1.0")
    fake_index.add_file("beta", "beta-1.0.tar.gz", os.urandom(400_000), throttle=100_000.0)
    return fake_index


def in_the_middle(proc: subprocess.Popen[bytes], mirror: Path) -> set[int]:
    """Wait until the slow download is under way; the run's worker processes."""
    assert wait_until(lambda: temps(mirror) or proc.poll() is not None, 20)
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.3)
    kids = descendants(proc.pid)
    assert kids, "no worker processes"
    return kids


def test_kill_9_takes_the_workers_with_it_and_the_next_run_cleans_up(
    slow: FakeIndex, tmp_path: Path
) -> None:
    mirror = tmp_path / "m"
    proc = start(slow, mirror, tmp_path, "alpha", "beta", "--no-deps")
    kids = in_the_middle(proc, mirror)
    proc.kill()
    # the caller's pipes close: before, the workers held them open for ever
    proc.communicate(timeout=10)
    assert wait_until(lambda: not alive(kids), 5), f"orphans: {alive(kids)}"
    before = snapshot(mirror)
    time.sleep(1.0)
    assert snapshot(mirror) == before  # nothing written after the run died
    spills = list((tmp_path / "tmp").glob(f"selmirror-answers-{proc.pid}-*"))
    assert spills  # what a kill -9 leaves ...
    slow.files("beta")[0].throttle = None
    rerun = start(slow, mirror, tmp_path, "alpha", "beta", "--no-deps")
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert not any(p.exists() for p in spills)  # ... the next run removes
    assert not temps(mirror)


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        (signal.SIGTERM, 143, "error: terminated (SIGTERM)"),
        (signal.SIGHUP, 129, "error: hung up (SIGHUP)"),
        (signal.SIGINT, 130, "error: interrupted"),
    ],
)
def test_a_signal_ends_the_run_like_ctrl_c(
    slow: FakeIndex, tmp_path: Path, signum: int, code: int, line: str
) -> None:
    mirror = tmp_path / "m"
    proc = start(slow, mirror, tmp_path, "alpha", "beta", "--no-deps")
    kids = in_the_middle(proc, mirror)
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert proc.returncode == code, err
    assert err.decode().splitlines()[-1] == line
    assert b"Traceback" not in err
    assert took < 2.5
    assert not alive(kids)
    assert not temps(mirror)
    assert not list((tmp_path / "tmp").glob("selmirror-answers-*"))


def test_ctrl_c_at_any_moment_ends_the_run_within_a_second_or_so(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """Resolution, downloads, page writing: wherever the interrupt lands."""
    for n in range(12):
        deps = [f"p{n}x{k}" for k in range(6)]
        fake_index.add_wheel(f"app{n}", "1.0", requires_dist=deps)
        for dep in deps:
            fake_index.add_wheel(dep, "1.0", requires_dist=["leaf"])
    fake_index.add_wheel("leaf", "1.0")
    chance = random.Random(20261203)
    for n in range(8):
        mirror = tmp_path / f"m{n}"
        proc = start(fake_index, mirror, tmp_path, *(f"app{k}" for k in range(12)))
        time.sleep(chance.uniform(0.05, 1.2))
        kids = descendants(proc.pid)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
        assert b"Traceback" not in err, err.decode()
        assert proc.returncode in (0, 130), err.decode()
        if proc.returncode == 130:
            assert err.decode().splitlines()[-1] == "error: interrupted"
        assert took < 2.5, f"run {n}: {took:.1f}s"
        assert wait_until(functools.partial(lambda pids: not alive(pids), kids), 3)
        assert not temps(mirror)


def test_a_closed_output_pipe_is_not_an_error_of_ours(
    fake_index: FakeIndex, tmp_path: Path
) -> None:
    """``selmirror ... --report - | head``: the reader went away."""
    fake_index.add_wheel("alpha", "1.0")
    proc = start(fake_index, tmp_path / "m", tmp_path, "alpha", "--report", "-", "--dry-run")
    assert proc.stdout is not None
    proc.stdout.close()  # nobody reads what selmirror prints
    _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()
    assert proc.returncode == 141


def test_stale_answer_folders_of_dead_runs_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone = tmp_path / f"selmirror-answers-{dead.stdout.strip()}-abc"
    mine = tmp_path / f"selmirror-answers-{os.getpid()}-def"
    old = tmp_path / "selmirror-answers-xyz"  # named before the pid was in the name
    young = tmp_path / "selmirror-answers-uvw"
    for folder in (gone, mine, old, young):
        folder.mkdir()
    os.utime(old, (time.time() - 2 * 86_400,) * 2)
    workers.remove_stale_spills()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, young.name])
