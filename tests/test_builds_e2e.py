"""Sdists end to end: what building them needs, and old ones, judged by pip and uv.

pip (``install --dry-run``) and uv (``pip install --target``, offline) both build an sdist
from the mirror alone: they fail if its build requirements are missing, and they see its
true dependencies. The host's Python is the target, so pip's answer counts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from oracles import build_with_pip_and_uv

from selmirror import upstream
from selmirror.cli import main

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
LINUX = ["--platform", "manylinux_2_28_x86_64", "--python-version", HOST]
LABEL = f"cp{HOST.replace('.', '')}-manylinux_2_28_x86_64"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


def mirror_of(
    index: FakeIndex, tmp: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[Path, dict[str, dict[str, object]]]:
    """Mirror ``args`` for the host; the mirror and what the report says was resolved."""
    mirror, report = tmp / "m", tmp / "report.json"
    tmp.mkdir(parents=True, exist_ok=True)
    code = main(
        [
            *args,
            *LINUX,
            "--index",
            index.url,
            "--local-folder",
            str(mirror),
            "--report",
            str(report),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (target,) = json.loads(report.read_text())["targets"]
    assert target["target"] == LABEL
    return mirror, target["resolved"]


def test_an_sdists_build_requirements_are_mirrored(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_backend("fakebuild", "1.0", requires_dist=["buildhelper"])
    fake_index.add_wheel("buildhelper", "1.0")
    fake_index.add_sdist("app", "1.0", build_requires=["fakebuild>=1"], requires_dist=["dep"])
    fake_index.add_wheel("dep", "1.0")
    mirror, resolved = mirror_of(fake_index, tmp_path, capsys, "app")
    assert set(resolved) == {"app", "dep", "fakebuild", "buildhelper"}
    assert resolved["fakebuild"]["why"] == "build requirement of app 1.0 -> fakebuild>=1"
    assert resolved["buildhelper"]["why"] == (
        "build requirement of app 1.0 -> fakebuild>=1 -> buildhelper"
    )
    build_with_pip_and_uv(mirror, ["app"], tmp_path).assert_ok("app-1.0", "dep-1.0")
    bare, resolved = mirror_of(fake_index, tmp_path / "bare", capsys, "app", "--no-build-deps")
    assert set(resolved) == {"app", "dep"}
    build_with_pip_and_uv(bare, ["app"], tmp_path).assert_failed("fakebuild", "fakebuild")


def test_an_sdist_without_pyproject_gets_setuptools_and_old_setuptools_gets_wheel(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_setuptools("80.9.0")
    fake_index.add_setuptools("65.0")
    fake_index.add_wheel("wheel", "0.45.1")
    fake_index.add_sdist("legacy", "1.0", build_requires=None)  # setup.py only
    fake_index.add_sdist(
        "pinned", "1.0", build_requires=["setuptools<70"], build_backend="setuptools.build_meta"
    )
    mirror, resolved = mirror_of(fake_index, tmp_path, capsys, "legacy", "pinned")
    assert resolved["setuptools"]["versions"] == ["80.9.0", "65.0"]
    # pip before 24.0 asks for wheel beside the default setuptools
    assert resolved["wheel"]["why"] == "build requirement of legacy 1.0 -> wheel"
    build_with_pip_and_uv(mirror, ["legacy", "pinned"], tmp_path).assert_ok(
        "legacy-1.0", "pinned-1.0"
    )
    _, resolved = mirror_of(fake_index, tmp_path / "pinned", capsys, "pinned")
    assert resolved["wheel"]["why"] == "build requirement of pinned 1.0 -> wheel"  # < 70.1
    # a wheel suits the target: nothing is built, nothing more is mirrored
    fake_index.add_wheel("legacy", "1.0")
    _, resolved = mirror_of(fake_index, tmp_path / "wheel", capsys, "legacy")
    assert set(resolved) == {"legacy"}


def test_old_sdists_are_read_from_what_setuptools_left_in_them(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_setuptools("80.9.0")
    fake_index.add_wheel("wheel", "0.45.1")
    # python-nvd3 0.16.0: PKG-INFO 2.1 without Requires-Dist, the truth in requires.txt
    fake_index.add_sdist(
        "nvd3",
        "0.16.0",
        metadata_version="2.1",
        build_requires=None,
        requires_dist=["jinja>=2.8"],
        egg_info_requires="jinja>=2.8\n\n[extra]\nunused\n",
    )
    # dill 0.3.1.1: no top-level PKG-INFO at all
    fake_index.add_sdist(
        "dilly",
        "1.0",
        metadata_version="1.2",
        build_requires=None,
        top_pkg_info=False,
        requires_dist=["helper"],
        egg_info_requires="helper\n",
    )
    fake_index.add_wheel("jinja", "3.1")
    fake_index.add_wheel("helper", "1.0")
    mirror, resolved = mirror_of(fake_index, tmp_path, capsys, "nvd3", "dilly")
    assert set(resolved) == {"nvd3", "jinja", "dilly", "helper", "setuptools", "wheel"}
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["projects"]["nvd3"]["metadata"]["0.16.0"]["files"] == {
        "nvd3-0.16.0.tar.gz": "egg-info requires.txt"
    }
    builds = build_with_pip_and_uv(mirror, ["nvd3", "dilly"], tmp_path)
    builds.assert_ok("dilly-1.0", "helper-1.0", "jinja-3.1", "nvd3-0.16.0")


def test_a_target_without_a_wheel_builds_while_the_others_do_not(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """numpy's shape: wheels for the Pythons of its day, an sdist for the rest."""
    fake_index.add_setuptools("80.9.0")
    fake_index.add_wheel("num", "1.0", tag="cp311-cp311-win_amd64", requires_dist=["a"])
    fake_index.add_sdist("num", "1.0", build_requires=["setuptools"], requires_dist=["a"])
    fake_index.add_wheel("a", "1.0")
    report = tmp_path / "report.json"
    args = [
        "num",
        "--platform",
        "win_amd64",
        "--python-version",
        "3.11",
        "--python-version",
        "3.12",
    ]
    code = main(
        [
            *args,
            "--index",
            fake_index.url,
            "--local-folder",
            str(tmp_path / "m"),
            "--report",
            str(report),
        ]
    )
    assert code == 0, capsys.readouterr().err
    resolved = {t["target"]: set(t["resolved"]) for t in json.loads(report.read_text())["targets"]}
    assert resolved == {
        "cp311-win_amd64": {"num", "a"},
        "cp312-win_amd64": {"num", "a", "setuptools"},
    }
