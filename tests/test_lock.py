"""``selmirror lock``: a PEP 751 lock for one target, from the mirror alone.

The pure part (records to a :class:`Pylock`) with records built here; then end to end: a
mirror made from the fake index, a lock made from the mirror with no index at all, and
uv and pip installing that lock with no network and no index.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from oracles import clean_env
from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from uv import find_uv_bin

from selmirror.cli import main
from selmirror.errors import InputError, IntegrityError
from selmirror.filter import Policy
from selmirror.lock.pylock import Chosen, Where, build, render
from selmirror.models import DistFile
from selmirror.targets import make_target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LINUX = make_target("manylinux_2_28_x86_64", (3, 12))
WINDOWS = make_target("win_amd64", (3, 12))
BETA = NormalizedName("beta")


def _sha(filename: str) -> str:
    return hashlib.sha256(filename.encode()).hexdigest()


def _file(filename: str, **extra: object) -> DistFile:
    wheel = filename.endswith(".whl")
    fields: dict[str, object] = {
        "project": BETA,
        "filename": filename,
        "url": f"file:///m/beta/{filename}",
        "version": Version(re.sub(r"\.(tar\.gz|zip)$", "", filename.split("-")[1])),
        "kind": "wheel" if wheel else "sdist",
        "tags": frozenset(parse_tag(filename.removesuffix(".whl").split("-", 2)[2]))
        if wheel
        else frozenset(),
        "hashes": {"sha256": _sha(filename)},
        "size": len(filename),
        "upload_time": "2024-05-06T07:08:09.123456Z",
    }
    return DistFile(**(fields | extra))  # type: ignore[arg-type]


FILES = (
    _file("beta-1.0-py3-none-manylinux_2_17_x86_64.whl"),
    _file("beta-1.0-py3-none-win_amd64.whl"),
    _file("beta-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),  # another Python
    _file("beta-1.0-py3-none-any.whl", requires_python=">=3.13"),  # not for 3.12
    _file("beta-1.0-py2.py3-none-any.whl", yanked="broken"),
    _file("beta-1.0.tar.gz"),
    _file("beta-1.0.zip"),
    _file("beta-2.0-py3-none-any.whl"),  # not the version chosen
)
BETA_1 = Chosen(name=BETA, version=Version("1.0"), files=FILES)


def _names(lock: Pylock) -> list[str | None]:
    (package,) = lock.packages
    files = [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]
    return [f.name for f in files]


def test_each_wheel_the_target_installs_and_the_sdist() -> None:
    lock = build(LINUX, [BETA_1], Where())
    assert _names(lock) == ["beta-1.0-py3-none-manylinux_2_17_x86_64.whl", "beta-1.0.tar.gz"]
    assert _names(build(WINDOWS, [BETA_1], Where())) == [
        "beta-1.0-py3-none-win_amd64.whl",
        "beta-1.0.tar.gz",
    ]
    (package,) = lock.packages
    assert (package.name, package.version) == ("beta", Version("1.0"))


def test_a_yanked_file_only_for_a_pinned_version_and_the_policy_applies() -> None:
    pinned = Chosen(name=BETA, version=Version("1.0"), files=FILES, yanked_ok=True)
    assert "beta-1.0-py2.py3-none-any.whl" in _names(build(LINUX, [pinned], Where()))
    binary = build(LINUX, [BETA_1], Where(), Policy(binary_only=True))
    assert _names(binary) == ["beta-1.0-py3-none-manylinux_2_17_x86_64.whl"]


def test_hashes_named_keep_only_their_files() -> None:
    wheel = "beta-1.0-py3-none-manylinux_2_17_x86_64.whl"
    allowed = frozenset(
        {("sha256", _sha(wheel)), ("sha256", _sha("beta-1.0-py3-none-win_amd64.whl"))}
    )
    chosen = Chosen(name=BETA, version=Version("1.0"), files=FILES, hashes=allowed)
    assert _names(build(LINUX, [chosen], Where())) == [wheel]
    others = frozenset({("sha256", "9" * 64)})
    none_left = Chosen(name=BETA, version=Version("1.0"), files=FILES, hashes=others)
    with pytest.raises(IntegrityError, match="no file of it for cp312-manylinux_2_28_x86_64"):
        build(LINUX, [none_left], Where())


def test_paths_relative_to_the_lock_hashes_sizes_and_upload_times() -> None:
    lock = build(LINUX, [BETA_1], Where(folder="../simple"))
    (package,) = lock.packages
    (wheel,) = package.wheels or ()
    assert wheel.path == "../simple/beta/beta-1.0-py3-none-manylinux_2_17_x86_64.whl"
    assert wheel.url is None
    assert wheel.hashes == {"sha256": _sha("beta-1.0-py3-none-manylinux_2_17_x86_64.whl")}
    assert wheel.size == len("beta-1.0-py3-none-manylinux_2_17_x86_64.whl")
    assert wheel.upload_time == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    assert package.sdist is not None
    assert package.sdist.path == "../simple/beta/beta-1.0.tar.gz"
    here = build(LINUX, [BETA_1], Where(folder="."))
    assert here.packages[0].sdist is not None
    assert here.packages[0].sdist.path == "beta/beta-1.0.tar.gz"


def test_urls_under_a_base_url_are_quoted_as_the_index_writer_quotes() -> None:
    local = _file("beta-1.0+cu121-py3-none-any.whl", version=Version("1.0+cu121"))
    chosen = Chosen(name=BETA, version=Version("1.0+cu121"), files=(local,))
    lock = build(LINUX, [chosen], Where(base_url="https://mirror.example/simple"))
    (wheel,) = lock.packages[0].wheels or ()
    assert wheel.url == "https://mirror.example/simple/beta/beta-1.0%2Bcu121-py3-none-any.whl"
    assert wheel.path is None
    assert wheel.name == "beta-1.0+cu121-py3-none-any.whl"
    with pytest.raises(InputError, match="--base-url"):
        Where(base_url="mirror.example/simple/")


def test_unknown_upload_time_and_size_are_left_out() -> None:
    bare = _file("beta-1.0.tar.gz", upload_time=None, size=None)
    lock = build(LINUX, [Chosen(name=BETA, version=Version("1.0"), files=(bare,))], Where())
    document = tomllib.loads(render(lock).decode())
    assert set(document["packages"][0]["sdist"]) == {"name", "path", "hashes"}


def test_the_lock_says_its_target_and_reads_back_valid() -> None:
    lock = build(WINDOWS, [BETA_1], Where())
    document = tomllib.loads(render(lock).decode())
    again = Pylock.from_dict(document)
    assert again == lock
    assert document["lock-version"] == "1.0"
    assert document["created-by"] == "selmirror"
    assert document["requires-python"] == "==3.12.*"
    # CPython on Windows says AMD64, uv says x86_64: one environment each
    assert [str(m) for m in again.environments or ()] == [
        f'sys_platform == "win32" and platform_machine == "{machine}" and '
        'implementation_name == "cpython" and python_version == "3.12"'
        for machine in ("AMD64", "x86_64")
    ]
    # what an installer on the target selects from it: the target's wheel
    selected = list(
        again.select(
            environment=WINDOWS.environments[0],
            tags=sorted(WINDOWS.tags, key=WINDOWS.tag_rank.__getitem__),
        )
    )
    assert [f.name for _, f in selected] == ["beta-1.0-py3-none-win_amd64.whl"]
    patch = build(make_target("linux_x86_64", (3, 12, 4)), [], Where())
    assert patch.requires_python == SpecifierSet("==3.12.*,>=3.12.4")


# --------------------------------------------------------------------------------------------
# End to end: a mirror, a lock made from it alone, installs from the lock alone

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
LINUX_HOST = ["--platform", "linux", "--python-version", HOST]  # this machine (x86_64 Linux)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions of alpha (which needs beta, and winonly on Windows), beta with wheels
    for three platforms, gamma as an sdist only, delta with a local version; mirrored for
    Linux, Windows and macOS. The index is gone before any lock is made."""
    root = tmp_path_factory.mktemp("lock") / "simple"
    with FakeIndex(page_format="json") as index:
        for version in ("1.0", "2.0"):
            index.add_wheel(
                "alpha", version, requires_dist=["beta>=1", 'winonly; sys_platform == "win32"']
            )
        for tag in ("win_amd64", "manylinux_2_17_x86_64", "macosx_11_0_arm64"):
            index.add_wheel("beta", "1.0", tag=f"py3-none-{tag}")
        index.add_wheel("winonly", "1.0")
        index.add_sdist("gamma", "1.0")
        index.add_wheel("delta", "1.0+local")
        # a wheel for Windows only; elsewhere the sdist, whose PKG-INFO 2.1 cannot be trusted
        index.add_wheel("epsilon", "1.0", tag="py3-none-win_amd64", requires_dist=["gamma"])
        index.add_sdist("epsilon", "1.0", metadata_version="2.1", requires_dist=["gamma"])
        code = main(
            [
                *("alpha", "gamma", "delta", "epsilon", "--latest", "2", "--index", index.url),
                *("--local-folder", str(root), "--python-version", HOST),
                *("--platform", "linux", "--platform", "windows", "--platform", "macos"),
            ]
        )
    assert code == 0
    return root


def lock(
    mirror: Path, capsys: pytest.CaptureFixture[str], *args: str, code: int = 0
) -> tuple[str, str]:
    """``selmirror lock`` on ``mirror``: its stdout and stderr."""
    status = main(["lock", "--local-folder", str(mirror), *args])
    out, err = capsys.readouterr()
    assert status == code, err
    return out, err


def read_lock(path: Path) -> Pylock:
    return Pylock.from_dict(tomllib.loads(path.read_text()))


def locked(lock: Pylock) -> set[tuple[str, str]]:
    return {(p.name, str(p.version)) for p in lock.packages}


def installed(folder: Path) -> set[tuple[str, str]]:
    """(name, version) of every distribution installed into ``folder`` (a --target)."""
    found = set()
    for info in folder.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").split("-")
        found.add((canonicalize_name(name), version))
    return found


def install(tool: str, lock: Path, tmp: Path) -> Path:
    """Install ``lock`` into a fresh --target with ``tool``: no index, no network."""
    target = tmp / f"installed-{tool}"
    nowhere = "http://127.0.0.1:9"  # a proxy that refuses: any network use would fail
    env = clean_env(tmp) | {"UV_PYTHON_DOWNLOADS": "never", "NO_PROXY": ""}
    env |= {"HTTP_PROXY": nowhere, "HTTPS_PROXY": nowhere, "ALL_PROXY": nowhere}
    if tool == "uv":
        command = [find_uv_bin(), "pip", "install", "--offline", "--no-index", "--no-cache"]
        command += ["--python", sys.executable]
    else:
        command = [sys.executable, "-m", "pip", "install", "--no-index"]
    proc = subprocess.run(
        [*command, "--target", str(target), "-r", lock.name],
        cwd=lock.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return target


def entries(package: Package) -> list[PackageWheel | PackageSdist]:
    return [*(package.wheels or ()), *([package.sdist] if package.sdist else [])]


@pytest.mark.parametrize("tool", ["uv", "pip"])
def test_uv_and_pip_install_exactly_the_lock_with_no_index(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tool: str
) -> None:
    out = tmp_path / "out" / "pylock.toml"
    out.parent.mkdir()
    lock(mirror, capsys, "alpha", "gamma", "delta", *LINUX_HOST, "-o", str(out))
    written = read_lock(out)
    assert locked(written) == {
        ("alpha", "2.0"),
        ("beta", "1.0"),
        ("gamma", "1.0"),
        ("delta", "1.0+local"),
    }  # winonly only on Windows
    by_name = {p.name: entries(p) for p in written.packages}
    assert [f.name for f in by_name["beta"]] == ["beta-1.0-py3-none-manylinux_2_17_x86_64.whl"]
    assert [f.name for f in by_name["gamma"]] == ["gamma-1.0.tar.gz"]
    for name, files in by_name.items():
        for f in files:
            assert f.path is not None
            assert not Path(f.path).is_absolute()
            assert (out.parent / f.path).resolve() == (mirror / name / str(f.name)).resolve()
    assert installed(install(tool, out, tmp_path)) == locked(written)


def test_a_dependency_whose_marker_holds_on_the_target_is_locked(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pylock.windows.toml"
    lock(mirror, capsys, "alpha", "--platform", "windows", "--python-version", HOST, "-o", str(out))
    written = read_lock(out)
    assert locked(written) == {("alpha", "2.0"), ("beta", "1.0"), ("winonly", "1.0")}
    beta = next(p for p in written.packages if p.name == "beta")
    assert [f.name for f in entries(beta)] == ["beta-1.0-py3-none-win_amd64.whl"]
    # and an installer on another machine (this one) refuses it
    with pytest.raises(AssertionError, match="not supported by the lockfile"):
        install("uv", out, tmp_path)


def test_an_sdist_without_static_dependencies_takes_those_of_a_wheel_of_its_version(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, _ = lock(mirror, capsys, "epsilon", *LINUX_HOST, "-o", "-")
    written = Pylock.from_dict(tomllib.loads(text))
    assert locked(written) == {("epsilon", "1.0"), ("gamma", "1.0")}
    epsilon = next(p for p in written.packages if p.name == "epsilon")
    assert [f.name for f in entries(epsilon)] == ["epsilon-1.0.tar.gz"]


def test_urls_under_base_url_to_stdout_and_the_requirements_read_as_the_mirror_reads_them(
    mirror: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("req.txt").write_text("alpha\ndelta\n")
    Path("constraints.txt").write_text("alpha<2\n")
    base = mirror.resolve().as_uri() + "/"
    text, err = lock(
        mirror,
        capsys,
        "-r",
        "req.txt",
        "-c",
        "constraints.txt",
        *LINUX_HOST,
        "-o",
        "-",
        "--base-url",
        base,
    )
    assert err.startswith("stdout: 3 package(s) for cp")
    Path("pylock.toml").write_text(text)
    written = read_lock(Path("pylock.toml"))
    assert locked(written) == {("alpha", "1.0"), ("beta", "1.0"), ("delta", "1.0+local")}
    delta = next(p for p in written.packages if p.name == "delta")
    (wheel,) = entries(delta)
    assert wheel.path is None
    assert wheel.url == f"{base}delta/delta-1.0%2Blocal-py3-none-any.whl"
    assert installed(install("uv", Path("pylock.toml").resolve(), tmp_path)) == locked(written)


def test_a_lock_read_in_gives_the_same_lock(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "pylock.toml", tmp_path / "pylock.again.toml"
    (tmp_path / "old.txt").write_text("alpha<2\n")
    lock(
        mirror,
        capsys,
        "alpha",
        "gamma",
        "-c",
        str(tmp_path / "old.txt"),
        *LINUX_HOST,
        "-o",
        str(first),
    )
    assert ("alpha", "1.0") in locked(read_lock(first))
    lock(mirror, capsys, str(first), *LINUX_HOST, "-o", str(second))  # its versions, not the newest
    assert read_lock(second) == read_lock(first)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nosuch"], 3, "error: nosuch is not in the mirror {mirror}\n"),
        (
            ["alpha>2"],
            7,
            "error: cannot resolve for cp{nodot}-manylinux_2_28_x86_64: no version of alpha "
            "matches alpha>2 (from command line): the mirror has 2.0, 1.0\n",
        ),
        (
            ["alpha", "--platform", "windows"],
            2,
            "error: a lock is for one target: name --platform exactly once (got windows, linux)\n",
        ),
        (
            ["alpha", "-o", "lock.toml"],
            2,
            "error: -o lock.toml: a lock file is named pylock.toml or pylock.NAME.toml",
        ),
    ],
)
def test_errors_are_one_line(
    mirror: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # where the default -o would go
    _, err = lock(mirror, capsys, *args, *LINUX_HOST, code=code)
    assert list(tmp_path.iterdir()) == []
    nodot = HOST.replace(".", "")
    assert err.startswith(message.format(mirror=mirror, nodot=nodot)), err


def test_a_dependency_missing_from_the_mirror_is_named_with_who_wants_it(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(mirror, partial)
    shutil.rmtree(partial / "beta")
    _, err = lock(partial, capsys, "alpha", *LINUX_HOST, "-o", "-", code=7)
    assert err == (
        f"error: cannot resolve for cp{HOST.replace('.', '')}-manylinux_2_28_x86_64: beta is not "
        f"in the mirror {partial} (wanted: beta>=1 (from alpha 2.0, alpha 1.0))\n"
    )


def test_a_file_on_its_page_but_not_on_disk_is_an_error(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(mirror, partial)
    (partial / "gamma" / "gamma-1.0.tar.gz").unlink()
    _, err = lock(partial, capsys, "gamma", *LINUX_HOST, "-o", "-", code=4)
    assert "gamma-1.0.tar.gz is on its page but not on disk" in err
