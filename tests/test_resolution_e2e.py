"""Dependency resolution end to end: the fake index, ``main([...])``, then uv and pip as oracles.

After each run, ``uv pip compile --offline`` against the mirror must resolve for every target
(``--universal`` when no target was named), and pip ``--dry-run`` for the host.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from oracles import pip_install_dry_run, uv_compile

from selmirror import upstream
from selmirror.cli import main

# (uv's --python-platform name, our --platform value is the same string)
WINDOWS, LINUX = "x86_64-pc-windows-msvc", "x86_64-manylinux_2_28"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


def run(
    index: FakeIndex,
    mirror: Path,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, dict[str, object], str]:
    report = mirror.parent / "report.json"
    code = main(
        [*args, "--index", index.url, "--local-folder", str(mirror), "--report", str(report)]
    )
    captured = capsys.readouterr()
    err = captured.err + captured.out  # the log, then the summary
    return code, json.loads(report.read_text()) if report.exists() else {}, err


def resolved(report: dict[str, object], target: str) -> dict[str, list[str]]:
    (entry,) = [t for t in report["targets"] if t["target"] == target]  # type: ignore[attr-defined]
    return {name: r["versions"] for name, r in entry["resolved"].items()}


def uv_resolves(
    mirror: Path, requirements: Sequence[str], tmp: Path, platform: str, python: str
) -> set[str]:
    proc = uv_compile(
        mirror, requirements, tmp, "--python-platform", platform, "--python-version", python
    )
    assert proc.returncode == 0, f"uv for {platform} {python}: {proc.stderr}"
    return {line.split("==")[0] for line in proc.stdout.splitlines() if "==" in line}


def test_markers_per_target_and_uv_agrees_for_each(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    any_index.add_wheel(
        "cli",
        "1.0",
        requires_dist=[
            'winhelp; platform_system == "Windows"',
            'backport>=1; python_version < "3.11"',
        ],
    )
    any_index.add_wheel("winhelp", "1.0")
    any_index.add_wheel("backport", "1.0")
    any_index.add_wheel("backport", "2.0", requires_python=">=3.12")  # not for the 3.10 target
    mirror = tmp_path / "m"
    code, report, err = run(
        any_index,
        mirror,
        capsys,
        "cli",
        "--platform",
        WINDOWS,
        "--platform",
        LINUX,
        "--python-version",
        "3.10",
        "--python-version",
        "3.12",
    )
    assert code == 0, err
    expected = {
        (WINDOWS, "3.10"): {"cli", "winhelp", "backport"},
        (WINDOWS, "3.12"): {"cli", "winhelp"},
        (LINUX, "3.10"): {"cli", "backport"},
        (LINUX, "3.12"): {"cli"},
    }
    labels = {WINDOWS: "win_amd64", LINUX: "manylinux_2_28_x86_64"}
    for (platform, python), names in expected.items():
        label = f"cp{python.replace('.', '')}-{labels[platform]}"
        assert set(resolved(report, label)) == names, label
        assert uv_resolves(mirror, ["cli"], tmp_path, platform, python) == names
    assert resolved(report, "cp310-win_amd64")["backport"] == ["1.0"]
    assert not (mirror / "backport" / "backport-2.0-py3-none-any.whl").exists()
    linux = next(t for t in report["targets"] if t["target"] == "cp312-manylinux_2_28_x86_64")  # type: ignore[attr-defined]
    assert "platform_system" in linux["dropped"]["winhelp"]
    assert linux["environment"]["sys_platform"] == "linux"


def test_diamond_backtracking_and_why_chains(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["left", "right"])
    fake_index.add_wheel("left", "1.0", requires_dist=["base>=1"])
    fake_index.add_wheel("right", "2.0", requires_dist=["base>=3"])  # conflicts with pin below
    fake_index.add_wheel("right", "1.0", requires_dist=["base<3"])
    for v in ("1.0", "2.0", "3.0"):
        fake_index.add_wheel("base", v)
    mirror = tmp_path / "m"
    code, report, err = run(
        fake_index, mirror, capsys, "app", "base<3", "--platform", LINUX, "--python-version", "3.11"
    )
    assert code == 0, err
    entry = report["targets"][0]  # type: ignore[index]
    picked = {n: r["versions"] for n, r in entry["resolved"].items()}
    assert picked == {"app": ["1.0"], "left": ["1.0"], "right": ["1.0"], "base": ["2.0"]}
    assert entry["resolved"]["base"]["why"] == "base<3"
    assert entry["resolved"]["right"]["why"] == "app -> right"
    assert uv_resolves(mirror, ["app", "base<3"], tmp_path, LINUX, "3.11") == set(picked)
    pip = pip_install_dry_run(mirror, ["app", "base<3"], tmp_path)  # the host: linux, 3.11
    assert pip.returncode == 0, pip.stderr
    assert "Would install app-1.0 base-2.0 left-1.0 right-1.0" in pip.stdout


def test_unsolvable_conflict_is_one_error_per_cause_naming_the_targets(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["base>=2"])
    fake_index.add_wheel("base", "1.0")
    fake_index.add_wheel("base", "2.0")
    req = tmp_path / "req.txt"
    req.write_text("app\nbase<2\n")
    code, report, err = run(
        fake_index,
        tmp_path / "m",
        capsys,
        str(req),
        "--platform",
        WINDOWS,
        "--platform",
        LINUX,
        "--python-version",
        "3.12",
        "--ignore-errors",
    )
    assert code == 6
    lines = [line for line in err.splitlines() if "cannot resolve" in line]
    assert len(lines) == 1, err
    assert "cannot resolve for cp312-win_amd64, cp312-manylinux_2_28_x86_64:" in lines[0]
    assert "conflicting requirements on base:" in lines[0]
    assert "base>=2 (from app 1.0)" in lines[0]
    assert f"base<2 (from {req}:2)" in lines[0]
    assert report["errors"][0]["exit_code"] == 7  # type: ignore[index]
    assert "Traceback" not in err


def test_extras_asked_and_not_asked(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel(
        "web",
        "1.0",
        provides_extra=["socks", "speed"],
        requires_dist=['pysocks; extra == "socks"', 'fastlib; extra == "speed"'],
    )
    fake_index.add_wheel("pysocks", "1.0")
    fake_index.add_wheel("fastlib", "1.0")
    mirror = tmp_path / "m"
    code, report, err = run(
        fake_index, mirror, capsys, "web[socks]", "--platform", LINUX, "--python-version", "3.12"
    )
    assert code == 0, err
    assert set(resolved(report, "cp312-manylinux_2_28_x86_64")) == {"web", "pysocks"}
    assert not (mirror / "fastlib").exists()
    assert uv_resolves(mirror, ["web[socks]"], tmp_path, LINUX, "3.12") == {"web", "pysocks"}


def test_yanked_dependency_is_skipped_unless_pinned(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["lib"])
    fake_index.add_wheel("lib", "1.0")
    fake_index.add_wheel("lib", "2.0", yanked="broken")
    mirror = tmp_path / "m"
    code, report, err = run(
        fake_index, mirror, capsys, "app", "--platform", LINUX, "--python-version", "3.12"
    )
    assert code == 0, err
    assert resolved(report, "cp312-manylinux_2_28_x86_64")["lib"] == ["1.0"]
    assert uv_resolves(mirror, ["app"], tmp_path, LINUX, "3.12") == {"app", "lib"}


def test_sdist_dependencies_static_and_dynamic(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["static-sdist", "dynamic-sdist"])
    fake_index.add_sdist("static-sdist", "1.0", metadata_version="2.2", requires_dist=["leaf"])
    fake_index.add_sdist(
        "dynamic-sdist",
        "1.0",
        metadata_version="2.2",
        requires_dist=["hidden"],
        dynamic=["Requires-Dist"],
    )
    fake_index.add_wheel("leaf", "1.0")
    fake_index.add_wheel("hidden", "1.0")
    mirror = tmp_path / "m"
    code, report, err = run(
        fake_index, mirror, capsys, "app", "--platform", LINUX, "--python-version", "3.12"
    )
    assert code == 0, err
    picked = resolved(report, "cp312-manylinux_2_28_x86_64")
    assert set(picked) == {"app", "static-sdist", "dynamic-sdist", "leaf"}
    why = {
        "dynamic-sdist 1.0": "dynamic_sdist-1.0.tar.gz: PKG-INFO 2.2 marks Requires-Dist as "
        "Dynamic, no egg-info, and no literal setup.py"
    }
    assert report["targets"][0]["unknown_dependencies"] == why  # type: ignore[index]
    assert report["summary"]["unknown_dependencies"] == why  # type: ignore[index]
    # the sdists were downloaded once, to read them, and moved into the mirror from there
    assert len(fake_index.downloads("static_sdist-1.0.tar.gz")) == 1
    assert (mirror / "static-sdist" / "static_sdist-1.0.tar.gz").exists()


def test_summary_names_unknown_dependencies(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_sdist("old-style", "1.0", metadata_version="2.1", requires_dist=["x"])
    code = main(
        [
            "old-style",
            "--index",
            fake_index.url,
            "--local-folder",
            str(tmp_path / "m"),
            "--platform",
            LINUX,
            "--python-version",
            "3.12",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        "dependencies of old-style 1.0 unknown (old_style-1.0.tar.gz: PKG-INFO 2.1, older than "
        "2.2, no egg-info, and no literal setup.py): if it has dependencies, name them as "
        "requirements"
    ) in out


@pytest.mark.parametrize("ranges", [True, False, "lying"])
def test_metadata_without_pep658_by_range_or_whole_file(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    ranges: bool | str,
) -> None:
    """A dry run downloads nothing ahead of need: what it reads is what metadata needs. A
    server whose 206 answers are not the range asked for is not read: the whole file is."""
    fake_index.range_support = bool(ranges)
    fake_index.range_lies = ranges == "lying"
    app = fake_index.add_wheel("app", "1.0", requires_dist=["dep"], advertise_metadata=False)
    app.content = _pad_wheel(app.content, b"x" * (700 << 10))  # worth reading by range
    fake_index.add_wheel("dep", "1.0", advertise_metadata=False)
    code, report, err = run(
        fake_index,
        tmp_path / "m",
        capsys,
        "app",
        "--platform",
        LINUX,
        "--python-version",
        "3.12",
        "--dry-run",
    )
    assert code == 0, err
    assert set(resolved(report, "cp312-manylinux_2_28_x86_64")) == {"app", "dep"}
    assert not [r for r in fake_index.requests if r.kind == "metadata"]  # none advertised
    gets = fake_index.downloads(app.filename)
    ranged = [r.status for r in gets if "range" in r.headers]
    whole = [r.status for r in gets if "range" not in r.headers]
    if ranges == "lying":
        assert ranged == [206]  # the whole file, said to be a range: not read on
        assert whole == [200]
        assert "downloading the whole file instead" in err
    elif ranges:
        assert set(ranged) == {206}  # METADATA read from the wheel's tail
        assert whole == []
    else:
        assert ranged == [200]  # asked for a range, got the whole file: stopped reading
        assert whole == [200]  # then fetched it whole, once


def test_metadata_is_read_from_a_wheel_a_target_takes(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not the smallest wheel when it is another platform's: a caching proxy most likely
    holds the files the run wants, and reads of others may go all the way upstream."""
    theirs = fake_index.add_wheel("app", "1.0", tag="py3-none-win_amd64", advertise_metadata=False)
    ours = fake_index.add_wheel(
        "app",
        "1.0",
        tag="py3-none-manylinux_2_28_x86_64",
        requires_dist=["dep"],
        advertise_metadata=False,
    )
    ours.content = _pad_wheel(ours.content, b"x" * (700 << 10))  # the larger, by far
    fake_index.add_wheel("dep", "1.0")
    code, report, err = run(
        fake_index,
        tmp_path / "m",
        capsys,
        "app",
        "--platform",
        LINUX,
        "--python-version",
        "3.12",
        "--dry-run",
    )
    assert code == 0, err
    assert set(resolved(report, "cp312-manylinux_2_28_x86_64")) == {"app", "dep"}
    assert fake_index.downloads(theirs.filename) == []
    assert {r.status for r in fake_index.downloads(ours.filename)} == {206}


def test_a_file_read_whole_for_its_metadata_is_not_downloaded_again(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.range_support = False
    app = fake_index.add_wheel("app", "1.0", requires_dist=["dep"], advertise_metadata=False)
    app.content = _pad_wheel(app.content, b"x" * (700 << 10))
    fake_index.add_wheel("dep", "1.0", advertise_metadata=False)
    mirror = tmp_path / "m"
    code, _, err = run(
        fake_index, mirror, capsys, "app", "--platform", LINUX, "--python-version", "3.12"
    )
    assert code == 0, err
    whole = [r for r in fake_index.downloads(app.filename) if "range" not in r.headers]
    assert [r.status for r in whole] == [200]
    assert (mirror / "app" / app.filename).read_bytes() == app.content


def _pad_wheel(wheel: bytes, padding: bytes) -> bytes:
    """The same wheel with a large extra member first, so METADATA sits past the first 64 KiB."""
    import io
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(wheel))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        target.writestr("app/blob.bin", padding)
        for info in source.infolist():
            target.writestr(info, source.read(info))
    return out.getvalue()


def test_no_target_keeps_every_file_and_uv_universal_resolves(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=['winhelp; sys_platform == "win32"'])
    fake_index.add_wheel("winhelp", "1.0", tag="py3-none-win_amd64")
    fake_index.add_wheel("winhelp", "1.0", tag="py3-none-win32")  # outside the matrix: kept too
    mirror = tmp_path / "m"
    code, report, err = run(fake_index, mirror, capsys, "app")
    assert code == 0, err
    assert len(report["targets"]) == 30  # type: ignore[arg-type]
    assert {p.name for p in (mirror / "winhelp").glob("*.whl")} == {
        "winhelp-1.0-py3-none-win_amd64.whl",
        "winhelp-1.0-py3-none-win32.whl",
    }
    proc = uv_compile(mirror, ["app"], tmp_path, "--universal")
    assert proc.returncode == 0, proc.stderr
    assert "winhelp==1.0 ; sys_platform == 'win32'" in proc.stdout


def test_no_deps(fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_index.add_wheel("app", "1.0", requires_dist=["dep"])
    fake_index.add_wheel("dep", "1.0")
    mirror = tmp_path / "m"
    code, _, err = run(fake_index, mirror, capsys, "app", "--no-deps")
    assert code == 0, err
    assert not (mirror / "dep").exists()
    assert not [r for r in fake_index.requests if r.project == "dep"]


def test_matrix_targets_a_pin_cannot_serve_are_skipped_not_failed(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """numpy==1.26.0 has no wheel for Python 3.13: a mirror for the Pythons it supports."""
    fake_index.add_wheel("lib", "1.0", tag="cp311-cp311-win_amd64", requires_python="<3.13")
    fake_index.add_wheel("lib", "1.0", tag="cp312-cp312-win_amd64", requires_python="<3.13")
    mirror = tmp_path / "m"
    code = main(
        [
            "lib==1.0",
            "--binary-only",
            "--platform",
            "win_amd64",
            "--index",
            fake_index.url,
            "--local-folder",
            str(mirror),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert len(list((mirror / "lib").glob("*.whl"))) == 2
    assert "skipped (matrix targets it cannot serve): cannot resolve for" in captured.out
    assert "cp313-win_amd64" in captured.out
    # named in full, the same target is an error
    code = main(
        [
            "lib==1.0",
            "--binary-only",
            "--platform",
            "win_amd64",
            "--python-version",
            "3.13",
            "--index",
            fake_index.url,
            "--local-folder",
            str(tmp_path / "n"),
        ]
    )
    assert code == 7


def test_each_target_resolves_with_the_metadata_of_the_wheel_it_installs(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tensorflow 2.15's shape: a Windows stub wheel that depends on nothing, Linux and
    macOS wheels that do, and not on the same things. Each wheel's metadata is read once."""
    stub = any_index.add_wheel("tf", "2.15.0", tag="cp311-cp311-win_amd64")
    any_index.add_wheel(
        "tf", "2.15.0", tag="cp311-cp311-manylinux_2_17_x86_64", requires_dist=["keras>=2"]
    )
    any_index.add_wheel(
        "tf", "2.15.0", tag="cp311-cp311-macosx_11_0_arm64", requires_dist=["keras>=2", "metal"]
    )
    any_index.add_wheel("keras", "3.0")
    any_index.add_wheel("metal", "1.0")
    mirror = tmp_path / "m"
    macos = "aarch64-apple-darwin"
    platforms = [a for p in (WINDOWS, LINUX, macos) for a in ("--platform", p)]
    code, report, err = run(any_index, mirror, capsys, "tf", *platforms, "--python-version", "3.11")
    assert code == 0, err
    expected = {WINDOWS: {"tf"}, LINUX: {"tf", "keras"}, macos: {"tf", "keras", "metal"}}
    for platform, names in expected.items():
        assert uv_resolves(mirror, ["tf"], tmp_path, platform, "3.11") == names
    labels = {
        "cp311-win_amd64": {"tf"},
        "cp311-manylinux_2_28_x86_64": {"tf", "keras"},
        "cp311-macosx_13_0_arm64": {"tf", "keras", "metal"},
    }
    for label, names in labels.items():
        assert set(resolved(report, label)) == names
    # each file's metadata is read at most once (or taken from its whole download)
    reads = [r.filename for r in any_index.requests if r.kind == "metadata"]
    assert len(reads) == len(set(reads))
    use = report["projects"]["tf"]["metadata"]["2.15.0"]  # type: ignore[index]
    assert use["differ"] is True
    assert set(use["files"]) == {f.filename for f in any_index.files("tf")}
    assert stub.filename in use["files"]
    assert "the files of tf 2.15.0 declare different dependencies" in err


def test_a_python_before_3_8_takes_its_pymalloc_wheels(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """black on 3.7 needs typed-ast, which has cp37-cp37m wheels only for 3.7."""
    fake_index.add_wheel(
        "black", "23.3.0", requires_dist=['typed-ast>=1.4.2; python_version < "3.8"']
    )
    fake_index.add_wheel("typed-ast", "1.5.5", tag="cp37-cp37m-win_amd64")
    fake_index.add_wheel("typed-ast", "1.5.5", tag="cp37-cp37m-manylinux_2_17_x86_64")
    fake_index.add_wheel("typed-ast", "1.5.5", tag="cp38-cp38-win_amd64")
    mirror = tmp_path / "m"
    code, _, err = run(
        fake_index, mirror, capsys, "black", "--platform", WINDOWS, "--platform", LINUX,
        "--python-version", "3.7",
    )  # fmt: skip
    assert code == 0, err
    for platform in (WINDOWS, LINUX):
        assert uv_resolves(mirror, ["black"], tmp_path, platform, "3.7") == {"black", "typed-ast"}
    kept = sorted(p.name for p in (mirror / "typed-ast").glob("*.whl"))
    assert kept == [
        "typed_ast-1.5.5-cp37-cp37m-manylinux_2_17_x86_64.whl",
        "typed_ast-1.5.5-cp37-cp37m-win_amd64.whl",
    ]
