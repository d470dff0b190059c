"""An index that re-serves new bytes under a filename the mirror already has (devpi and
Artifactory allow it): no page may ever list the name with bytes other than those it says,
and a run killed at any moment converges on the next."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fakeindex import FakeIndex, build_wheel
from packaging.utils import NormalizedName

from selmirror import upstream
from selmirror.cli import main
from selmirror.folder import MirrorFolder

ALPHA = NormalizedName("alpha")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


def run(index: FakeIndex, mirror: Path) -> int:
    return main(["alpha", "--index", index.url, "--local-folder", str(mirror), "--processes", "0"])


def lies(mirror: Path) -> list[str]:
    """Every listed file (and sidecar) of alpha whose bytes are not what its page says."""
    found = []
    directory = mirror / "alpha"
    for filename, record in MirrorFolder(mirror).recorded(ALPHA).items():
        path = directory / filename
        if hashlib.sha256(path.read_bytes()).hexdigest() != record.sha256:
            found.append(filename)
        if record.core_metadata and "sha256" in record.core_metadata:
            sidecar = path.with_name(filename + ".metadata")
            digest = hashlib.sha256(sidecar.read_bytes()).hexdigest()
            if digest != record.core_metadata["sha256"]:
                found.append(sidecar.name)
    return found


def _record_lies(seen: list[list[str]], mirror: Path) -> None:
    seen.append(lies(mirror))


def reserve(index: FakeIndex) -> None:
    """alpha 1.0's wheel, re-served with other bytes: it now depends on beta."""
    (wheel,) = index.files("alpha")
    _, content, metadata = build_wheel("alpha", "1.0", requires_dist=["beta"])
    wheel.content, wheel.metadata = content, metadata
    index.add_wheel("beta", "1.0")


class Watching:
    """os.replace, with ``check`` after every call; a kill (Ctrl-C) after call ``stop_at``.

    Downloads replace files from several threads: each call takes its number under a lock,
    so exactly one call is the ``stop_at``-th.
    """

    def __init__(self, check: Callable[[], None], stop_at: int | None = None) -> None:
        self.real, self.check, self.stop_at, self.calls = os.replace, check, stop_at, 0
        self.lock = threading.Lock()

    def __call__(self, src: Any, dst: Any) -> None:
        with self.lock:
            self.real(src, dst)
            self.calls += 1
            number = self.calls
            self.check()
        if number == self.stop_at:
            raise KeyboardInterrupt


def test_new_bytes_never_show_under_a_listed_name_before_the_page_says_so(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "m"
    assert run(fake_index, mirror) == 0
    reserve(fake_index)
    seen: list[list[str]] = []
    monkeypatch.setattr(os, "replace", Watching(lambda: seen.append(lies(mirror))))
    assert run(fake_index, mirror) == 0, capsys.readouterr().err
    assert len(seen) > 3
    assert all(found == [] for found in seen), seen
    assert (mirror / "beta" / "index.html").exists()  # the new bytes' dependency
    assert lies(mirror) == []


def test_a_run_killed_at_any_moment_of_a_replacement_converges(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    base = tmp_path / "base"
    assert run(fake_index, base) == 0
    reserve(fake_index)
    real = os.replace
    counted = Watching(lambda: None)
    monkeypatch.setattr(os, "replace", counted)
    probe = tmp_path / "probe"
    shutil.copytree(base, probe, symlinks=True)
    assert run(fake_index, probe) == 0
    total = counted.calls
    assert total > 3
    killed = []
    for stop in range(1, total + 1):
        mirror = tmp_path / f"m{stop}"
        shutil.copytree(base, mirror, symlinks=True)
        seen: list[list[str]] = []
        check = functools.partial(_record_lies, seen, mirror)
        watching = Watching(check, stop)
        monkeypatch.setattr(os, "replace", watching)
        # Downloads run in threads, so a run may replace a file or two fewer than the probe
        # did: a run that ended before its stop was not killed, and must have succeeded.
        assert run(fake_index, mirror) == (130 if watching.calls >= stop else 0)
        if watching.calls >= stop:
            killed.append(stop)
        assert all(found == [] for found in seen), (stop, seen)
        monkeypatch.setattr(os, "replace", real)
        assert run(fake_index, mirror) == 0, capsys.readouterr().err
        assert lies(mirror) == []
        (wheel,) = fake_index.files("alpha")
        listed = MirrorFolder(mirror).recorded(ALPHA)[wheel.filename]
        assert listed.sha256 == wheel.sha256
        assert main(["verify", "--local-folder", str(mirror)]) == 0
        capsys.readouterr()
    assert len(killed) >= total - 2, (killed, total)
