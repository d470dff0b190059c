"""--exclude-newer: reading cutoffs, and which files they hold back."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.cli import main
from selmirror.cutoff import BadCutoff, Cutoff, parse
from selmirror.models import DistFile

NOW = datetime(2026, 12, 4, 18, 0, 0, tzinfo=timezone.utc)
TARGET = ["--platform", "linux", "--python-version", "3.12"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-06-01", utc(2024, 6, 2)),  # the whole day counts, as uv reads a date
        ("2024-06-01T12:00:00Z", utc(2024, 6, 1, 12)),
        ("2024-06-01t12:00:00z", utc(2024, 6, 1, 12)),
        ("2024-06-01T12:00:00.5Z", utc(2024, 6, 1, 12, 0, 0, 500000)),
        ("2024-06-01T14:00:00+02:00", utc(2024, 6, 1, 12)),
        ("P7D", utc(2026, 11, 27, 18)),
        ("p2w", utc(2026, 11, 20, 18)),
        ("PT36H", utc(2026, 12, 3, 6)),
        ("P1DT12H30M", utc(2026, 12, 3, 5, 30)),
        (" P0D ", NOW),
    ],
)
def test_cutoffs_are_read_as_uv_and_pip_write_them(text: str, expected: datetime) -> None:
    assert parse(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "P1DT",
        "P1Y",  # a year or a month has no fixed length: say it in days
        "yesterday",
        "2024-13-01",
        "2024-06-01T12:00:00",  # no zone: whose noon?
        "2024-06-01 12:00",
        "P99999D",
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(BadCutoff):
        parse(text, NOW)


def _file(project: str, upload_time: str | None) -> DistFile:
    return DistFile(
        project=NormalizedName(project),
        filename=f"{project}-1.0.tar.gz",
        url="https://x/",
        version=Version("1.0"),
        kind="sdist",
        upload_time=upload_time,
    )


def test_a_cutoff_holds_back_newer_and_unknown_files_with_exemptions() -> None:
    cut = Cutoff.build(
        utc(2025, 1, 1),
        allow_unknown=False,
        packages={NormalizedName("pinned"): None, NormalizedName("later"): utc(2026, 1, 1)},
    )
    assert cut is not None
    assert not cut.holds_back(_file("a", "2024-12-31T23:59:59.999999Z"))
    assert cut.holds_back(_file("a", "2025-01-01T00:00:00Z"))  # at the cutoff: not before it
    assert cut.holds_back(_file("a", None))
    assert not cut.holds_back(_file("pinned", "2026-01-01T00:00:00Z"))
    assert not cut.holds_back(_file("later", "2025-06-01T00:00:00Z"))
    assert cut.holds_back(_file("later", "2026-06-01T00:00:00Z"))
    lenient = Cutoff.build(utc(2025, 1, 1), allow_unknown=True, packages={})
    assert lenient is not None
    assert not lenient.holds_back(_file("a", None))
    assert Cutoff.build(None, allow_unknown=False, packages={NormalizedName("x"): None}) is None


# --- end to end, against the fake index --------------------------------------------------


@pytest.fixture
def aged(fake_index: FakeIndex) -> FakeIndex:
    """alpha (which needs beta) and beta, each with a version before 2025 and one after."""
    for version, when in (("1.0", "2024-03-01T00:00:00Z"), ("2.0", "2025-03-01T00:00:00Z")):
        fake_index.add_wheel("alpha", version, requires_dist=["beta"], upload_time=when)
        fake_index.add_wheel("beta", version, upload_time=when)
    fake_index.add_sdist("beta", "2.0", upload_time=None)
    return fake_index


def mirrored(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*/*.whl")} | {p.name for p in folder.glob("*/*.tar.gz")}


def run(index: FakeIndex, folder: Path, *args: str) -> int:
    return main([*args, *TARGET, "--index", index.url, "--local-folder", str(folder)])


def test_exclude_newer_resolves_with_what_was_there_at_the_cutoff(
    aged: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    assert (
        run(aged, tmp_path / "m", "alpha", "--exclude-newer", "2025-01-01", "--report", str(report))
        == 0
    )
    out = capsys.readouterr().out
    assert mirrored(tmp_path / "m") == {"alpha-1.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl"}
    assert (
        "--exclude-newer 2025-01-02T00:00:00Z: 2 newer version(s) of 2 project(s) held back; "
        "1 file(s) without an upload time left out" in out
    )
    held = json.loads(report.read_text())["inputs"]["exclude_newer"]
    assert held["cutoff"] == "2025-01-02T00:00:00Z"
    assert held["held_back"] == {"alpha": ["2.0"], "beta": ["2.0"]}


def test_a_pin_is_exempt_unless_named_and_packages_have_their_own_cutoff(
    aged: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(aged, tmp_path / "a", "alpha==2.0", "--exclude-newer", "2025-01-01") == 0
    assert mirrored(tmp_path / "a") == {"alpha-2.0-py3-none-any.whl", "beta-1.0-py3-none-any.whl"}
    args = ["alpha", "--exclude-newer", "2025-01-01", "--exclude-newer-package", "Beta=false"]
    assert run(aged, tmp_path / "b", *args) == 0
    assert mirrored(tmp_path / "b") == {
        "alpha-1.0-py3-none-any.whl",
        "beta-2.0-py3-none-any.whl",
        "beta-2.0.tar.gz",
    }
    args = ["alpha==2.0", "--exclude-newer", "P7D", "--exclude-newer-package", "alpha=2025-01-01"]
    assert run(aged, tmp_path / "c", *args) == 7
    err = capsys.readouterr().err
    assert (
        "alpha 2.0 was uploaded 2025-03-01T00:00:00Z, not before the --exclude-newer cutoff "
        "2025-01-02T00:00:00Z" in err
    )


def test_files_of_unknown_age_only_with_allow_unknown(
    aged: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["beta", "--exclude-newer", "2026-01-01", "--exclude-newer-allow-unknown"]
    assert run(aged, tmp_path / "m", *args) == 0
    assert mirrored(tmp_path / "m") == {"beta-2.0-py3-none-any.whl", "beta-2.0.tar.gz"}
    assert run(aged, tmp_path / "n", "beta", "--exclude-newer", "2026-01-01") == 0
    assert mirrored(tmp_path / "n") == {"beta-2.0-py3-none-any.whl"}
    assert "1 file(s) without an upload time left out" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--exclude-newer", "soon"], "error: --exclude-newer: 'soon' is not a cutoff"),
        (["--exclude-newer-package", "beta"], "error: --exclude-newer-package 'beta': write"),
        (["--exclude-newer-package", "beta=P1Y"], "error: --exclude-newer-package beta: 'P1Y'"),
    ],
)
def test_a_bad_cutoff_is_one_line_exit_2(
    aged: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert run(aged, tmp_path / "m", "alpha", *args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_version_the_requirement_excludes_is_not_counted_as_held_back(
    aged: FakeIndex, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    args = ["alpha<2.0", "--exclude-newer", "2025-01-01", "--report", str(report)]
    assert run(aged, tmp_path / "m", *args) == 0
    held = json.loads(report.read_text())["inputs"]["exclude_newer"]["held_back"]
    assert held == {"beta": ["2.0"]}  # alpha 2.0: out of range anyway, not the cutoff's doing
