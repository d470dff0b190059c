"""Against real PyPI (opt in: ``pytest -m live``): per-project pages and files only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from oracles import assert_installable, clean_env, uv_compile
from packaging.utils import canonicalize_name
from uv import find_uv_bin

from selmirror.cli import main

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parent.parent


def test_example_requirements_mirror_and_install_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "simple"
    code = main([str(ROOT / "requirements-example.txt"), "--local-folder", str(mirror)])
    _, err = capsys.readouterr()
    assert code == 0, err
    # no target named: every environment of the matrix, the host among them
    assert_installable(
        mirror, ["requests", "click==8.1.7", "idna", "six==1.16.0", "packaging"], tmp_path
    )
    assert main([str(ROOT / "requirements-example.txt"), "--local-folder", str(mirror)]) == 0
    assert " 0 downloaded" in capsys.readouterr().out


def test_click_for_windows_and_linux(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """pip issue 11664: from Linux, pip download for win_amd64 misses colorama."""
    req = tmp_path / "req.txt"
    req.write_text("click==8.1.7\n")
    mirror = tmp_path / "simple"
    code = main(
        [
            str(req),
            "--platform",
            "win_amd64",
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.12",
            "--local-folder",
            str(mirror),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (mirror / "colorama" / "index.html").exists()
    resolved = {}
    for platform in ("x86_64-pc-windows-msvc", "x86_64-manylinux2014"):
        uv = uv_compile(
            mirror,
            ["click==8.1.7"],
            tmp_path,
            "--python-platform",
            platform,
            "--python-version",
            "3.12",
        )
        assert uv.returncode == 0, uv.stderr
        resolved[platform] = {
            line.split("==")[0] for line in uv.stdout.splitlines() if "==" in line
        }
    assert resolved == {
        "x86_64-pc-windows-msvc": {"click", "colorama"},
        "x86_64-manylinux2014": {"click"},
    }


def test_numpy_one_target_keeps_exactly_one_wheel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "simple"
    report = tmp_path / "report.json"
    code = main(
        [
            "numpy==1.26.0",
            "--local-folder",
            str(mirror),
            "--binary-only",
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.11",
            "--report",
            str(report),
        ]
    )
    assert code == 0, capsys.readouterr().err
    wheel = "numpy-1.26.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert sorted(p.name for p in (mirror / "numpy").iterdir()) == [
        "index.html",
        "index.v1_json",
        wheel,
        wheel + ".metadata",
    ]
    (entry,) = json.loads(report.read_text())["projects"]["numpy"]["files"]
    assert entry["sha256"] == "e062aa24638bb5018b7841977c360d2f5917268d125c833a686b7cbabbec496c"


def _uv_online(requirement: str, platform: str, python: str, tmp: Path) -> set[str]:
    """What uv resolves for one target straight from PyPI (the oracle)."""
    proc = subprocess.run(
        [find_uv_bin(), "pip", "compile", "--no-header", "--quiet", "--python-platform",
         platform, "--python-version", python, "-"],
        input=requirement + "\n", capture_output=True, text=True, env=clean_env(tmp), check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return {
        canonicalize_name(line.split("==")[0]) for line in proc.stdout.splitlines() if "==" in line
    }


@pytest.mark.parametrize(
    ("requirement", "python"), [("tensorflow==2.15.0", "3.11"), ("torch==2.0.1", "3.10")]
)
def test_each_target_resolves_like_uv_with_its_own_wheels_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], requirement: str, python: str
) -> None:
    """The wheels of these versions declare different dependencies per platform."""
    report = tmp_path / "report.json"
    code = main(
        [requirement, "--platform", "manylinux_2_28_x86_64", "--platform", "macosx_13_0_arm64",
         "--python-version", python, "--dry-run", "--report", str(report),
         "--local-folder", str(tmp_path / "simple")],
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    uv_names = {"manylinux": "x86_64-manylinux_2_28", "macosx": "aarch64-apple-darwin"}
    for target in json.loads(report.read_text())["targets"]:
        platform = uv_names[target["platform"].split("_")[0]]
        assert set(target["resolved"]) == _uv_online(requirement, platform, python, tmp_path)
