"""Against real PyPI (opt in: ``pytest -m live``): per-project pages and files only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from oracles import assert_installable, uv_compile

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
