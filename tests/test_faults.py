"""A full disk, a read-only file system: one ``error:`` line naming the path, exit 5, and
a mirror that stays valid, wherever the write fails.

``os.fsync`` is where a full disk shows on most file systems (the data was only cached
until then); failing it from its k-th call onward, for every k a run reaches, walks the
failure through the downloads, the sidecars, the pages and the fsyncs of the end.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fakeindex import FakeIndex

from selmirror import state, upstream
from selmirror.cli import main
from selmirror.errors import OutputError, UpstreamError
from selmirror.upstream import read_body


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


@pytest.fixture
def index(fake_index: FakeIndex) -> FakeIndex:
    fake_index.add_wheel("alpha", "1.0", requires_dist=["beta"])
    fake_index.add_wheel("beta", "1.0")
    fake_index.add_sdist("beta", "1.0")
    return fake_index


def run(index: FakeIndex, mirror: Path, *extra: str) -> int:
    return main(["alpha", "--index", index.url, "--local-folder", str(mirror), *extra])


@pytest.mark.parametrize("processes", ["0", "2"])
def test_a_full_disk_at_any_fsync_is_one_line_and_the_mirror_stays_valid(
    index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    processes: str,
) -> None:
    real = os.fsync
    calls = 0

    def counting(fd: int) -> None:
        nonlocal calls
        calls += 1
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    assert run(index, tmp_path / "probe", "--processes", "0") == 0
    capsys.readouterr()
    reached = calls
    assert reached >= 8
    # with worker processes each process counts its own fsyncs: fewer moments, each a fork
    for k in range(0, reached, 1 if processes == "0" else 3):
        monkeypatch.setattr(os, "fsync", _full_after(k, real))
        mirror = tmp_path / f"m{k}"
        code = run(index, mirror, "--processes", processes)
        err = capsys.readouterr().err
        assert "Traceback" not in err, f"k={k}: {err}"
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        if processes != "0" and code == 0:  # no process got to its k-th fsync
            assert errors == []
            continue
        assert code == 5, f"k={k}: {err}"
        assert len(errors) == 1, err
        assert errors[0].startswith("error: cannot write ")
        assert errors[0].endswith(": No space left on device")
        monkeypatch.setattr(os, "fsync", real)
        if mirror.exists():  # (a fresh folder that got no file is not left behind)
            assert main(["verify", "--local-folder", str(mirror)]) in (0, 4)  # never a crash
        assert run(index, mirror) == 0, capsys.readouterr().err  # room again: it completes
        assert main(["verify", "--local-folder", str(mirror)]) == 0
        capsys.readouterr()


def _full_after(k: int, real: Callable[[int], None]) -> Callable[[int], None]:
    """``os.fsync`` on a disk that fills up after ``k`` more fsyncs."""
    seen = 0

    def full(fd: int) -> None:
        nonlocal seen
        seen += 1
        if seen > k:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    return full


def test_a_page_store_that_cannot_be_written_costs_speed_not_the_run(
    index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def read_only(path: Path, data: bytes, *, sync: bool = True) -> None:
        raise OutputError(f"cannot write {path}: Read-only file system")

    monkeypatch.setattr(state, "atomic_write", read_only)
    assert run(index, tmp_path / "m", "--processes", "0") == 0
    err = capsys.readouterr().err
    assert "not keeping the page of alpha: cannot write" in err
    assert "not remembering this run: cannot write" in err


def test_a_trickling_upstream_is_cut_off_not_waited_for(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A byte every so often answers each socket read in time: --timeout alone never fired.
    Files are read in blocks (here 25,000 bytes, half the grace at the least rate): a
    watchdog cuts the one blocking read off, 1 s in, not when the file ends, 100 s in."""
    fake_index.add_file("slow", "slow-1.0.tar.gz", os.urandom(20_000), throttle=200.0)
    started = time.monotonic()
    code = main(
        ["slow", "--no-deps", "--index", fake_index.url, "--local-folder", str(tmp_path / "m"),
         "--timeout", "0.25", "--processes", "0"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert time.monotonic() - started < 30, "waited for the trickle to end"
    assert code == 3, err
    assert err.splitlines()[-1].startswith("error: too slow: ")
    assert "kB/s after 1s" in err.splitlines()[-1]


def test_a_file_of_unknown_size_stops_at_max_file_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeIndex(page_format="html") as html:  # HTML pages give no size
        html.add_file("big", "big-1.0.tar.gz", os.urandom(3 << 20))
        code = main(
            ["big", "--no-deps", "--index", html.url, "--local-folder", str(tmp_path / "m"),
             "--max-file-size", "1M"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.splitlines()[-1] == (
        "error: big-1.0.tar.gz: larger than --max-file-size (1048576 bytes), and its page "
        "gives no size"
    )
    assert not list((tmp_path / "m").rglob("big-1.0.tar.gz"))


class _Endless:
    """A response whose body never ends, counting what was read of it."""

    url = "https://x/y.metadata"

    def __init__(self) -> None:
        self.read = 0
        self.raw = self

    def read1(self, size: int, decode_content: bool = False) -> bytes:
        self.read += size
        return b"x" * size


def test_an_answer_larger_than_asked_is_refused_as_it_streams() -> None:
    """A 1 GiB answer to a question worth 10 MiB is never held whole."""
    answer = _Endless()
    with pytest.raises(UpstreamError, match=r"^larger than 10 MiB: https://x/y.metadata$"):
        read_body(answer, "https://x/y.metadata", 30.0, 10 << 20)  # type: ignore[arg-type]
    assert answer.read <= (10 << 20) + (64 << 10)
