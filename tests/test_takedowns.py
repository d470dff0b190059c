"""Takedowns and quarantine: what upstream stops offering is marked, withheld, pruned."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from selmirror.cli import main
from tests.fakeindex import FakeIndex
from tests.test_e2e import selmirror


def _page(mirror: Path, name: str) -> dict[str, object]:
    return json.loads((mirror / name / "index.v1_json").read_text())  # type: ignore[no-any-return]


def _entries(mirror: Path, name: str, key: str = "files") -> dict[str, dict[str, object]]:
    return {e["filename"]: e for e in _page(mirror, name).get(key, [])}  # type: ignore[attr-defined]


def _report(tmp_path: Path) -> dict[str, object]:
    return json.loads((tmp_path / "report.json").read_text())  # type: ignore[no-any-return]


def test_a_file_removed_upstream_is_marked_reported_and_pruned(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    any_index.add_wheel("alpha", "1.0")
    any_index.add_wheel("alpha", "2.0")
    mirror = tmp_path / "simple"
    report = ["--report", str(tmp_path / "report.json")]
    assert selmirror(capsys, any_index, mirror, "alpha")[0] == 0  # both versions: --latest 0?
    assert selmirror(capsys, any_index, mirror, "alpha==1.0")[0] == 0
    assert set(_entries(mirror, "alpha")) == {
        "alpha-1.0-py3-none-any.whl",
        "alpha-2.0-py3-none-any.whl",
    }
    any_index.remove_file("alpha-1.0-py3-none-any.whl")
    code, out, err = selmirror(capsys, any_index, mirror, "alpha", *report)
    assert code == 0, err
    assert "1 file(s) were removed upstream (1 newly seen); `selmirror prune` removes them" in out
    marked = _entries(mirror, "alpha")["alpha-1.0-py3-none-any.whl"]
    since = marked["_removed-upstream"]
    assert isinstance(since, str)
    assert since.endswith("Z")
    assert "_removed-upstream" not in _entries(mirror, "alpha")["alpha-2.0-py3-none-any.whl"]
    gone = _report(tmp_path)["removed_upstream"]
    assert gone == [
        {
            "project": "alpha",
            "filename": "alpha-1.0-py3-none-any.whl",
            "since": since,
            "why": "no longer listed on its project's page",
        }
    ]
    # a later run keeps the date it was first seen gone, and says it is not new
    code, out, _ = selmirror(capsys, any_index, mirror, "alpha", "--report", str(tmp_path / "r2"))
    assert "1 file(s) were removed upstream (0 newly seen)" in out
    assert _entries(mirror, "alpha")["alpha-1.0-py3-none-any.whl"]["_removed-upstream"] == since
    # --keep-removed: a prune leaves it
    assert selmirror(capsys, any_index, mirror, "prune", "alpha", "--keep-removed")[0] == 0
    assert (mirror / "alpha" / "alpha-1.0-py3-none-any.whl").is_file()
    # a prune removes it, even under --keep-latest, and the report says why
    code, out, _ = selmirror(
        capsys, any_index, mirror, "prune", "alpha", "--keep-latest", "5", *report
    )
    assert code == 0
    assert not (mirror / "alpha" / "alpha-1.0-py3-none-any.whl").exists()
    assert set(_entries(mirror, "alpha")) == {"alpha-2.0-py3-none-any.whl"}
    assert _report(tmp_path)["pruned_why"] == {
        "alpha/alpha-1.0-py3-none-any.whl": f"removed upstream (seen gone {since})"
    }
    assert main(["verify", "--local-folder", str(mirror)]) == 0


def test_a_file_that_comes_back_is_unmarked(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "simple"
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    taken = fake_index.remove_file("alpha-1.0-py3-none-any.whl")
    fake_index.add_wheel("alpha", "0.9")
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    assert "_removed-upstream" in _entries(mirror, "alpha")["alpha-1.0-py3-none-any.whl"]
    fake_index.add_file("alpha", taken.filename, taken.content)
    # unmarked by a run that reads the page, even one that no longer selects the file
    assert selmirror(capsys, fake_index, mirror, "alpha==0.9")[0] == 0
    assert "_removed-upstream" not in _entries(mirror, "alpha")["alpha-1.0-py3-none-any.whl"]


def test_a_project_gone_upstream_is_marked_and_a_prune_removes_only_takedowns(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0", requires_dist=["beta"])
    fake_index.add_wheel("beta", "1.0")
    fake_index.add_wheel("gamma", "1.0")
    mirror = tmp_path / "simple"
    assert selmirror(capsys, fake_index, mirror, "alpha", "gamma")[0] == 0
    fake_index.page_status["beta"] = 404
    fake_index.add_wheel("gamma", "2.0")
    code, _out, err = selmirror(capsys, fake_index, mirror, "alpha", "gamma", "--prune")
    # alpha needs beta, which is gone: the run fails, and removes only what upstream took
    # down, not gamma 1.0, which an incomplete resolution cannot know it no longer needs
    assert code != 0
    assert "project beta not found" in err
    assert not (mirror / "beta").exists()
    assert (mirror / "gamma" / "gamma-1.0-py3-none-any.whl").is_file()
    assert "beta" not in (mirror / "index.html").read_text()
    assert main(["verify", "--local-folder", str(mirror)]) == 0


def test_a_quarantined_project_offers_no_files_and_a_prune_removes_them(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    any_index.add_wheel("alpha", "1.0")
    any_index.add_wheel("beta", "1.0")
    mirror = tmp_path / "simple"
    assert selmirror(capsys, any_index, mirror, "alpha", "beta")[0] == 0
    any_index.project_status["alpha"] = {"status": "quarantined", "reason": "malware"}
    code, out, err = selmirror(capsys, any_index, mirror, "alpha", "beta", "--ignore-errors")
    assert code != 0
    assert "alpha is quarantined on the index" in err
    assert "1 file(s) were removed upstream (1 newly seen)" in out
    # the page offers nothing, in either form, and says why; the file waits for a prune
    page = _page(mirror, "alpha")
    assert page["files"] == []
    assert page["versions"] == []
    assert page["project-status"] == {"status": "quarantined", "reason": "malware"}
    assert "alpha-1.0" not in (mirror / "alpha" / "index.html").read_text()
    assert set(_entries(mirror, "alpha", "_withheld")) == {"alpha-1.0-py3-none-any.whl"}
    assert (mirror / "alpha" / "alpha-1.0-py3-none-any.whl").is_file()
    assert main(["verify", "--local-folder", str(mirror)]) == 0
    # an index run leaves it withheld, not listed again as a file placed by hand
    assert main(["index", "--local-folder", str(mirror), "--full"]) == 0
    assert _page(mirror, "alpha")["files"] == []
    capsys.readouterr()
    # the next prune removes it (the run still fails: alpha is still asked for)
    code, out, _ = selmirror(
        capsys, any_index, mirror, "prune", "alpha", "beta", "--report", str(tmp_path / "r.json")
    )
    assert not (mirror / "alpha").exists()
    assert "alpha" not in (mirror / "index.html").read_text()
    assert (mirror / "beta" / "beta-1.0-py3-none-any.whl").is_file()
    why = json.loads((tmp_path / "r.json").read_text())["pruned_why"]
    assert list(why.values()) == [why["alpha/alpha-1.0-py3-none-any.whl"]]
    assert why["alpha/alpha-1.0-py3-none-any.whl"].startswith("removed upstream")


def test_a_lock_never_takes_a_file_taken_down_or_a_quarantined_project(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    fake_index.add_wheel("alpha", "2.0")
    fake_index.add_wheel("beta", "1.0")
    mirror = tmp_path / "simple"
    target = ["--platform", "linux", "--python-version", "3.12"]
    assert selmirror(capsys, fake_index, mirror, "alpha>=1", "alpha<2", "beta", *target)[0] == 0
    assert selmirror(capsys, fake_index, mirror, "alpha", "beta", *target)[0] == 0
    fake_index.remove_file("alpha-2.0-py3-none-any.whl")
    fake_index.project_status["beta"] = {"status": "quarantined"}
    selmirror(capsys, fake_index, mirror, "alpha", "beta", *target, "--ignore-errors")
    out = tmp_path / "pylock.toml"
    lock = ["lock", "--local-folder", str(mirror), *target, "-o", str(out)]
    assert main([*lock, "alpha"]) == 0
    locked = tomllib.loads(out.read_text())["packages"]
    assert [(p["name"], p["version"]) for p in locked] == [("alpha", "1.0")]  # 2.0: marked
    capsys.readouterr()
    assert main([*lock, "beta"]) == 7
    assert "beta is quarantined on the mirror" in capsys.readouterr().err
