"""The inputs users already have, end to end: lock files, project files, scripts, URLs.

Locks are made by uv itself against the fake index; the mirror must hold exactly their
files, and uv must install the project's dependencies from it alone.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from oracles import clean_env
from uv import find_uv_bin

from selmirror import upstream
from selmirror.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
PROJECT = """\
[project]
name = "proj"
version = "0.1"
requires-python = ">=3.10"
dependencies = ["alpha>=1", 'winonly; sys_platform == "win32"']

[project.optional-dependencies]
fancy = ["gamma"]

[dependency-groups]
dev = ["delta"]
"""


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


@pytest.fixture
def index(fake_index: FakeIndex) -> FakeIndex:
    """Projects for PROJECT, with versions and files a lock leaves out."""
    for version in ("1.0", "2.0"):
        fake_index.add_wheel("alpha", version, requires_dist=["beta"])
    fake_index.add_sdist("alpha", "2.0")
    fake_index.add_wheel("beta", "1.0", tag="py3-none-win_amd64")
    fake_index.add_wheel("beta", "1.0", tag="py3-none-manylinux_2_17_x86_64")
    fake_index.add_wheel("beta", "1.0")
    for name in ("winonly", "gamma", "delta"):
        fake_index.add_wheel(name, "1.0")
    return fake_index


def uv(*args: str, cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [find_uv_bin(), *args],
        cwd=cwd,
        env=clean_env(tmp) | {"UV_PYTHON_DOWNLOADS": "never"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def locked_project(index: FakeIndex, tmp: Path) -> Path:
    """PROJECT, locked by uv against the index (uv.lock) and exported (pylock.toml)."""
    project = tmp / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(PROJECT)
    uv("lock", "--index-url", index.url, cwd=project, tmp=tmp)
    uv(
        "export", "--format", "pylock.toml", "--all-extras", "--all-groups", "--frozen",
        "-o", "pylock.toml", cwd=project, tmp=tmp,
    )  # fmt: skip
    return project


def lock_hashes(lock: Path) -> set[str]:
    """The sha256 of every file ``lock`` (a uv.lock or a pylock.toml) names."""
    document = tomllib.loads(lock.read_text())
    packages = document.get("package", document.get("packages", []))
    files = [f for p in packages for f in (*p.get("wheels", ()), p.get("sdist")) if f]
    return {
        f["hash"].removeprefix("sha256:") if "hash" in f else f["hashes"]["sha256"] for f in files
    }


def file_hashes(mirror: Path) -> set[str]:
    """sha256 of every distribution file in the mirror."""
    return {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in mirror.glob("[!.]*/*")
        if not p.name.startswith("index.") and not p.name.endswith(".metadata")
    }


def run(index: FakeIndex, mirror: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main([*args, "--index", index.url, "--local-folder", str(mirror)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.err + captured.out


@pytest.mark.parametrize("lock", ["uv.lock", "pylock.toml"])
def test_a_lock_is_mirrored_to_exactly_its_files(
    index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str], lock: str
) -> None:
    project = locked_project(index, tmp_path)
    locked = lock_hashes(project / lock)
    # alpha 2.0's wheel and sdist, beta's three wheels, gamma, delta, winonly; not alpha 1.0
    assert locked == {f.sha256 for f in index.files() if not f.filename.startswith("alpha-1")}
    index.add_wheel("alpha", "2.0", tag="py3-none-win_amd64")  # uploaded after the lock
    mirror = tmp_path / "m"
    run(index, mirror, capsys, str(project / lock))  # no target: every environment
    assert file_hashes(mirror) == locked
    # the dependencies install from the mirror alone, extras and groups too
    target = tmp_path / "target"
    uv(
        "pip", "install", "--offline", "--no-cache", "--python", sys.executable,
        "--target", str(target), "--index-url", mirror.resolve().as_uri(),
        "-r", "pyproject.toml", "--all-extras", "--group", "dev", cwd=project, tmp=tmp_path,
    )  # fmt: skip
    assert {"alpha", "beta", "gamma", "delta"} <= {p.name for p in target.iterdir()}


def test_a_locks_markers_are_evaluated_per_target(
    index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = locked_project(index, tmp_path)
    mirror = tmp_path / "m"
    linux = ["--platform", "manylinux_2_28_x86_64", "--python-version", HOST]
    run(index, mirror, capsys, str(project / "uv.lock"), *linux)
    assert not (mirror / "winonly").exists()  # sys_platform == "win32"
    assert sorted(p.name for p in (mirror / "beta").glob("*.whl")) == [
        "beta-1.0-py3-none-any.whl",
        "beta-1.0-py3-none-manylinux_2_17_x86_64.whl",
    ]
    windows = ["--platform", "win_amd64", "--python-version", HOST]
    run(index, mirror, capsys, str(project / "pylock.toml"), *windows)
    assert (mirror / "winonly" / "winonly-1.0-py3-none-any.whl").exists()


def test_a_pyproject_and_a_script(
    index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(PROJECT)
    mirror = tmp_path / "m"
    linux = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"]
    run(index, mirror, capsys, str(project / "pyproject.toml"), "--group", "dev", *linux)
    assert {p.name for p in mirror.iterdir() if p.is_dir()} == {
        ".selmirror", "alpha", "beta", "delta"
    }  # fmt: skip
    run(index, mirror, capsys, str(project / "pyproject.toml"), "--extra", "fancy", *linux)
    assert (mirror / "gamma").is_dir()
    script = tmp_path / "tool.py"
    script.write_text(
        '# /// script\n# requires-python = ">=3.12"\n# dependencies = ["gamma"]\n# ///\n'
        "print('hi')\n"
    )
    both = ["--platform", "linux", "--python-version", "3.11", "--python-version", "3.12"]
    report = tmp_path / "report.json"
    out = run(index, tmp_path / "m2", capsys, str(script), *both, "--report", str(report))
    assert (
        "cp311-manylinux_2_28_x86_64 left out: Python 3.11.0 is outside requires-python "
        f">=3.12 of {script}"
    ) in out
    assert [t["target"] for t in json.loads(report.read_text())["targets"]] == [
        "cp312-manylinux_2_28_x86_64"
    ]


def test_requirements_and_constraints_by_url(
    index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index.add_file("hosted", "constraints-3.12.txt", b"alpha==1.0\n")
    index.add_file("hosted", "base.txt", b"-r more.txt\n")  # nested: relative to the URL
    index.add_file("hosted", "more.txt", b"alpha\n")
    mirror = tmp_path / "m"
    linux = ["--platform", "linux", "--python-version", "3.12"]
    run(
        index, mirror, capsys, "-r", index.file_url("base.txt"),
        "-c", index.file_url("constraints-3.12.txt"), *linux,
    )  # fmt: skip
    assert [p.name for p in (mirror / "alpha").glob("*.whl")] == ["alpha-1.0-py3-none-any.whl"]
    code = main(["-c", index.file_url("nope.txt"), "alpha", *linux, "--index", index.url])
    err = capsys.readouterr().err
    assert code == 3
    assert err.splitlines()[-1] == (
        f"error: cannot fetch constraints file: HTTP 404 from {index.file_url('nope.txt')}"
    )


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "req.txt",
            "version = 1\n",
            "error: req.txt:1: invalid requirement 'version = 1': Expected semicolon (after "
            "name with no version specifier) or end\nhint: a 'key = value' line is TOML",
        ),
        (
            "settings.toml",
            "[tool.black]\nline-length = 100\n",
            "error: settings.toml: a TOML file, but not a pylock.toml, uv.lock or pyproject.toml",
        ),
        (
            "pyproject.toml",
            '[project]\nname = "x"\ndynamic = ["dependencies"]\n',
            "error: pyproject.toml: [project] dependencies is dynamic: selmirror cannot know "
            "them without building the project",
        ),
    ],
)
def test_refused_inputs_say_why_in_one_line(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    text: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(text)
    code = main([name, "--index", fake_index.url, "--local-folder", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message), err
