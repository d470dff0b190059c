"""Nightly runs: a run that changes nothing fetches no file and rewrites no page; what
changed upstream or in the requirements is picked up; the mirror's memory is optional."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from fakeindex import FakeIndex

from selmirror import upstream
from selmirror.cli import main
from selmirror.state import STATE_DIR

TARGET = ["--platform", "linux", "--python-version", "3.12"]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


def run(index: FakeIndex, mirror: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main([*args, *TARGET, "--index", index.url, "--local-folder", str(mirror)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def pages(mirror: Path) -> dict[str, int]:
    """Every index page and its modification time in nanoseconds."""
    return {str(p.relative_to(mirror)): p.stat().st_mtime_ns for p in mirror.rglob("index.*")}


def test_a_run_that_changes_nothing_fetches_no_file_and_rewrites_no_page(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["lib"])
    fake_index.add_wheel("lib", "1.0")
    fake_index.add_sdist("lib", "1.0")
    mirror = tmp_path / "m"
    run(fake_index, mirror, capsys, "app")
    before = pages(mirror)
    fake_index.reset_log()
    memory = mirror / ".selmirror" / "completed"
    os.utime(memory, (0, 0))

    out = run(fake_index, mirror, capsys, "app")

    assert fake_index.downloads() == []
    assert not [r for r in fake_index.requests if r.kind == "metadata"]
    statuses = {r.project: r.status for r in fake_index.page_requests()}
    assert statuses == {"app": 304, "lib": 304}  # conditional requests, answered "unchanged"
    assert pages(mirror) == before
    assert out.startswith(
        "nothing changed upstream or in the requirements: 2 project(s), "
        "3 file(s) in place, 0 downloaded, 0 page(s) rewritten"
    )
    assert time.time() - memory.stat().st_mtime < 60  # it completed: serve's /ready says so


def test_a_new_release_in_range_is_picked_up_and_only_its_pages_rewritten(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["lib>=1"])
    fake_index.add_wheel("lib", "1.0")
    mirror = tmp_path / "m"
    run(fake_index, mirror, capsys, "app")
    before = pages(mirror)
    fake_index.reset_log()
    new = fake_index.add_wheel("lib", "1.1")

    out = run(fake_index, mirror, capsys, "app")

    assert [r.filename for r in fake_index.downloads()] == [new.filename]
    after = pages(mirror)
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {"lib/index.html", "lib/index.v1_json"}
    assert "1 downloaded" in out
    assert (mirror / "lib" / "lib-1.0-py3-none-any.whl").exists()  # earlier files stay listed
    assert "lib-1.0-py3-none-any.whl" in (mirror / "lib" / "index.html").read_text()


def test_a_requirement_added_is_picked_up(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0")
    fake_index.add_wheel("extra-tool", "2.0")
    req = tmp_path / "req.txt"
    req.write_text("app\n")
    mirror = tmp_path / "m"
    run(fake_index, mirror, capsys, str(req))
    req.write_text("app\nextra-tool\n")
    run(fake_index, mirror, capsys, str(req))
    assert (mirror / "extra-tool" / "extra_tool-2.0-py3-none-any.whl").exists()
    assert "extra-tool" in (mirror / "index.html").read_text()


def test_the_mirrors_memory_is_only_a_speed_up(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0")
    mirror = tmp_path / "m"
    run(fake_index, mirror, capsys, "app")
    body = mirror / STATE_DIR / "pages" / "app.body"
    body.write_bytes(b"garbage")  # torn or tampered: refetched, not trusted
    fake_index.reset_log()
    run(fake_index, mirror, capsys, "app")
    assert [r.status for r in fake_index.page_requests("app")] == [200]
    shutil.rmtree(mirror / STATE_DIR)
    out = run(fake_index, mirror, capsys, "app")
    assert "0 downloaded" in out


def test_the_nothing_changed_shortcut_never_hides_a_change(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same requirements, options and upstream pages, and every file in place: only then."""
    lib = fake_index.add_wheel("lib", "1.0")
    mirror = tmp_path / "m"
    run(fake_index, mirror, capsys, "lib")
    assert run(fake_index, mirror, capsys, "lib").startswith("nothing changed")
    # a file gone from the mirror: fetched again
    (mirror / "lib" / lib.filename).unlink()
    assert "1 downloaded" in run(fake_index, mirror, capsys, "lib")
    # other options: a full run
    assert "nothing changed" not in run(fake_index, mirror, capsys, "lib", "--pre")
    # a report wants the full account
    report = tmp_path / "r.json"
    out = run(fake_index, mirror, capsys, "lib", "--report", str(report))
    assert "nothing changed" not in out
    assert json.loads(report.read_text())["projects"]["lib"]["files"][0]["status"] == "present"
    # an upstream change: a full run
    run(fake_index, mirror, capsys, "lib")
    fake_index.add_wheel("lib", "2.0")
    assert "1 downloaded" in run(fake_index, mirror, capsys, "lib")
