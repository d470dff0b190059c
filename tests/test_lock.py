"""``selmirror lock``: a PEP 751 lock for one target, from the mirror alone.

The pure part (records to a :class:`Pylock`) with records built here; then end to end: a
mirror made from the fake index, a lock made from the mirror with no index at all, and
uv and pip installing that lock with no network and no index.
"""

from __future__ import annotations

import hashlib
import re
import sys
from datetime import datetime, timezone

import pytest
from packaging.pylock import Pylock
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName
from packaging.version import Version

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
