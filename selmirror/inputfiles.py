"""Input files besides requirements.txt: pylock.toml, uv.lock, pyproject.toml, PEP 723 scripts.

Each reader turns one file's bytes into a :class:`RequirementSet`. Locks (PEP 751
``pylock.toml``, uv's ``uv.lock``) give ``locked`` requirements, ``name==version`` with the
hashes of its files. Projects (PEP 621 ``[project]``, PEP 735 ``[dependency-groups]``) and
scripts (PEP 723) give requirements read by :func:`~selmirror.requirements.parse_requirement`.
Every error is one ``InputError`` line naming the file and the place in it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from packaging.dependency_groups import DependencyGroupResolver
from packaging.errors import ExceptionGroup
from packaging.markers import Marker
from packaging.pylock import Pylock, PylockValidationError, is_valid_pylock_path
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from selmirror.errors import InputError
from selmirror.models import RequirementSet, RootRequirement
from selmirror.requirements import parse_requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

logger = logging.getLogger(__name__)

FileKind = Literal["requirements", "pylock", "uv-lock", "pyproject", "script"]
Node = tuple[int, str | None]  # a uv.lock package (by position) with one of its extras, or none
Edge = tuple[Node, str | None]  # to a node, under a marker (None: always)
Clauses = frozenset[frozenset[str]]  # OR of ANDs of edge markers
_T = TypeVar("_T")

MAX_BYTES = 50 * 1024 * 1024
_ALWAYS: Clauses = frozenset({frozenset()})
_MAX_CLAUSES = 32  # beyond: always (the mirror then holds more, never less)
_MAX_UPDATES = 64  # per node: bounds the fixpoint whatever the graph
_MAX_EXPANSIONS = 1000  # self-references read in one pyproject
_STRONG = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_BLOCK_RE = re.compile(  # PEP 723's reference expression
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)
_SCRIPT_RE = re.compile(r"(?m)^# /// script$")
# `[table]` or `key =`; not `--option=` nor `name==1.0`
_TOMLISH_RE = re.compile(r"""(?m)^[ \t]*(?:\[|[A-Za-z0-9_"'][A-Za-z0-9_"'.-]*[ \t]*=(?!=))""")
_TABLE_RE = re.compile(r"(?m)^[ \t]*\[")
_TOML_ERROR_RE = re.compile(r"(?s)(.*) \(at (?:line (\d+), column (\d+)|end of document)\)")
_QUOTED_RE = re.compile(r"'[^']*'|\"[^\"]*\"")
_CHOICE_RE = re.compile(r"\b(?:extras?|dependency_groups)\b")
_CREDENTIALS_RE = re.compile(r"(?<=://)[^/@\s]+@")
_SOURCES = {"registry": "", "editable": "", "virtual": "", "directory": "a local directory",
            "path": "a local path", "git": "git", "url": "a URL"}  # fmt: skip
_TYPES = {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer"}
_UNKNOWN_TOML = "a TOML file, but not a pylock.toml, uv.lock or pyproject.toml"


class _Problem(Exception):
    """What is wrong, and where in the file; the public function adds the file's name."""


_FILE: ContextVar[str] = ContextVar("_FILE", default="?")  # for log lines deep inside


@contextmanager
def _in(shown: str) -> Iterator[None]:
    token = _FILE.set(shown)
    try:
        yield
    except _Problem as exc:
        raise InputError(f"{shown}: {exc}") from None
    finally:
        _FILE.reset(token)


def kind_of(name: str, data: bytes) -> FileKind:
    """Tell what an input file is: by its name first, then by its content.

    ``pylock.toml`` / ``pylock.NAME.toml`` (PEP 751), ``uv.lock``, ``pyproject.toml`` and
    ``*.py`` (PEP 723) are known by name. Otherwise TOML tells by its keys, a ``# /// script``
    line makes a script, and anything else is a requirements file. A ``*.toml`` file, or TOML
    with tables, that is none of these is refused, never guessed. TOML is parsed only when a
    line looks like TOML, so requirements files stay cheap.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    by_name: dict[str, FileKind] = {"uv.lock": "uv-lock", "pyproject.toml": "pyproject"}
    if is_valid_pylock_path(Path(base)) or base in by_name:
        return by_name.get(base, "pylock")
    if base.endswith(".py"):
        return "script"  # even without a block: read_script says what is missing
    with _in(name):
        if base.endswith(".toml"):
            kind = _toml_kind(_load_toml(_decode(data)))
            if kind is None:
                raise _Problem(_UNKNOWN_TOML)
            return kind
        _check_size(data)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return "requirements"  # it may declare another encoding, as pip allows
        if _TOMLISH_RE.search(text):
            try:
                document: dict[str, Any] | None = tomllib.loads(text)
            except (ValueError, RecursionError):
                document = None
            kind = None if document is None else _toml_kind(document)
            if kind is not None:
                return kind
            if document is not None and _TABLE_RE.search(text):  # `foo = 1.0` is a legacy pin
                raise _Problem(_UNKNOWN_TOML)
    return "script" if _SCRIPT_RE.search(text) else "requirements"


def read_pylock(data: bytes, shown: str) -> RequirementSet:
    """Read a PEP 751 lock: each package locked to its version, with its files' hashes.

    ``packaging.pylock`` validates. ``directory`` packages (the user's own projects) are
    skipped; ``vcs`` and ``archive`` ones cannot come from an index and are refused. A
    package's ``marker`` becomes its requirement's; ``environments`` are ignored.
    """
    with _in(shown):
        try:
            lock = Pylock.from_dict(_load_toml(_decode(data)))
        except PylockValidationError as exc:  # its context is the place: packages[3].sdist
            where = f"{exc.context}: " if exc.context else ""
            raise _Problem(where + _sentence(exc.message)) from None
        except (KeyError, TypeError, ValueError) as exc:  # packaging wraps its own: a last guard
            raise _Problem(f"not a valid pylock file: {_sentence(str(exc))}") from None
        if lock.environments:
            logger.debug("%s: environments ignored: %s", shown, [str(e) for e in lock.environments])
        requirements = []
        for i, package in enumerate(lock.packages):
            where = f"packages[{i}]"
            if package.directory is not None:
                logger.info("%s: %s: %s skipped: a local directory", shown, where, package.name)
                continue
            if package.vcs is not None or package.archive is not None:
                what = "a VCS repository" if package.vcs else "an archive URL or path"
                raise _Problem(f"{where}: {package.name} comes from {what}, not an index")
            wheels = package.wheels or ()
            files = [(f"{where}.wheels[{j}]", wheel.hashes) for j, wheel in enumerate(wheels)]
            versions = {parse_wheel_filename(wheel.filename)[1] for wheel in wheels}
            if package.sdist:
                files.append((f"{where}.sdist", package.sdist.hashes))
                versions.add(parse_sdist_filename(package.sdist.filename)[1])
            hashes = {h for place, found in files for h in _hashes(found.items(), place)}
            version = package.version or (versions.pop() if len(versions) == 1 else None)
            if version is None:
                raise _Problem(f"{where}: no version, and its files name several")
            marker = _marker(str(package.marker) if package.marker else None, where)
            source = f"{shown}:{where}"
            requirements.append(_locked(package.name, str(version), marker, hashes, source))
    python = ((str(lock.requires_python), shown),) if lock.requires_python else ()
    return RequirementSet(requirements=tuple(requirements), requires_python=python)


@dataclass(frozen=True, slots=True, kw_only=True)
class _UvPackage:
    """One ``[[package]]`` of a uv.lock; a ``root`` is a workspace member (not mirrored)."""

    index: int
    name: str
    version: str | None
    kind: str  # its source's: registry, editable, virtual, directory, path, git or url
    source: Mapping[str, Any]
    table: Mapping[str, Any]
    root: bool


def read_uv_lock(data: bytes, shown: str) -> RequirementSet:
    """Read a ``uv.lock``: each registry package the workspace can install, locked.

    The roots are the workspace members (editable or virtual packages, and ``directory`` or
    ``path`` ones named in ``[manifest] members``) with all their extras and groups, and the
    ``[manifest]`` requirements and groups (script locks, virtual workspace roots). uv puts
    markers on edges: a package's marker is the OR, over the paths to it, of the AND of their
    edges' markers. Unreached packages are left out; reached ones from git, a URL or a path
    outside the workspace are refused.
    """
    with _in(shown):
        document = _load_toml(_decode(data))
        if type(document.get("version")) is not int or document["version"] != 1:
            raise _Problem(f"uv.lock version {document.get('version')!r} is not supported (only 1)")
        packages, clauses = _uv_reached(document)
        requirements = []
        for i in sorted({i for i, _ in clauses}):
            p = packages[i]
            if p.root:
                continue
            where = f"package[{i}]: {p.name} {p.version or ''}".rstrip()
            if p.kind != "registry":
                raise _Problem(
                    f"{where} comes from {_SOURCES[p.kind]} {_clip(p.source[p.kind])}, not an index"
                )
            wheels = _expect(p.table.get("wheels", []), list, f"package[{i}].wheels")
            files = [("sdist", p.table["sdist"])] if "sdist" in p.table else []
            files += [(f"wheels[{j}]", wheel) for j, wheel in enumerate(wheels)]
            if p.version is None or not files:
                raise _Problem(
                    f"{where}: {'missing version' if p.version is None else 'no sdist or wheels'}"
                )
            hashes: set[tuple[str, str]] = set()
            for place, file in files:
                text = _expect(file, dict, f"package[{i}].{place}").get("hash")
                algorithm, _, digest = (
                    text.partition(":") if isinstance(text, str) else ("", "", "")
                )
                hashes |= _hashes([(algorithm, digest)], f"package[{i}].{place}")
            marker = _or_of_ands(clauses.get((i, None), _ALWAYS))
            source = f"{shown}:{p.name} {p.version}"
            requirements.append(_locked(p.name, p.version, marker, hashes, source))
        python = _requires_python(document.get("requires-python"), "requires-python", shown)
    return RequirementSet(requirements=tuple(requirements), requires_python=python)


def read_pyproject(
    data: bytes,
    shown: str,
    *,
    extras: Sequence[str] = (),
    all_extras: bool = False,
    groups: Sequence[str] = (),
) -> RequirementSet:
    """Read a ``pyproject.toml``: its dependencies, chosen extras and dependency groups.

    ``[project] dependencies`` (PEP 621) always; ``[project.optional-dependencies]`` of each of
    ``extras`` (every one with ``all_extras``); ``[dependency-groups]`` (PEP 735, includes
    resolved by ``packaging``) of each of ``groups``. A requirement naming the project itself
    stands for its extras' requirements, as pip reads it. Dynamic dependencies are refused.
    """
    with _in(shown):
        document = _load_toml(_decode(data))
        if "project" not in document and "dependency-groups" not in document:
            raise _Problem("neither [project] nor [dependency-groups]: nothing to mirror")
        project = _expect(document.get("project", {}), dict, "[project]")
        dynamic = _strings(project.get("dynamic", []), "[project] dynamic")
        fields = ["dependencies"] + (["optional-dependencies"] if extras or all_extras else [])
        for field in fields:
            if field in dynamic:
                raise _Problem(
                    f"[project] {field} is dynamic: "
                    "selmirror cannot know them without building the project"
                )
        reader = _ProjectReader(shown, project)
        wanted = list(reader.optional) if all_extras else [canonicalize_name(e) for e in extras]
        _check_known(wanted, reader.optional, "no extra {!r} in [project] optional-dependencies")
        roots = reader.read(project.get("dependencies", []), "[project] dependencies")
        for extra in wanted:
            roots += reader.read_extra(extra, None, ())
        if groups:
            table = _expect(document.get("dependency-groups", {}), dict, "[dependency-groups]")
            _check_known(groups, {canonicalize_name(g) for g in table}, "no dependency group {!r}")
            try:
                resolver = DependencyGroupResolver(table)
                resolved = [(group, resolver.resolve(group)) for group in groups]
            except ExceptionGroup as exc:  # packaging gathers its errors flat
                raise _Problem(
                    f"[dependency-groups]: {_sentence(str(exc.exceptions[0]))}"
                ) from None
            for group, found in resolved:
                roots += reader.read([str(r) for r in found], f"[dependency-groups] {group}")
        where = "[project] requires-python"
        python = _requires_python(project.get("requires-python"), where, shown)
    return RequirementSet(requirements=tuple(roots), requires_python=python)


def read_script(data: bytes, shown: str) -> RequirementSet:
    """Read the ``# /// script`` metadata block of a single-file script (PEP 723).

    The block is found and unprefixed as the PEP's reference code does, after universal
    newlines; its ``dependencies`` and ``requires-python`` are read.
    """
    with _in(shown):
        text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
        blocks = [m for m in _BLOCK_RE.finditer(text) if m.group("type") == "script"]
        if len(blocks) > 1:
            raise _Problem("more than one '# /// script' block (PEP 723 allows one)")
        if not blocks and _SCRIPT_RE.search(text):
            raise _Problem("its '# /// script' line starts no block PEP 723 can read")
        if not blocks:
            raise _Problem("no '# /// script' metadata block (PEP 723)")
        lines = blocks[0].group("content").splitlines(keepends=True)
        content = "".join(line[2:] if line.startswith("# ") else line[1:] for line in lines)
        before = text.count("\n", 0, blocks[0].start("content"))
        metadata = _load_toml(content, line_offset=before, column_offset=2)
        items = _strings(metadata.get("dependencies", []), "script dependencies")
        python = _requires_python(metadata.get("requires-python"), "script requires-python", shown)
    roots = tuple(parse_requirement(item, f"{shown}:script dependencies") for item in items)
    return RequirementSet(requirements=roots, requires_python=python)


class _ProjectReader:
    """Reads a project's requirement lists; a self-reference stands for its extras' lists."""

    def __init__(self, shown: str, project: Mapping[str, Any]) -> None:
        self.shown, self.expansions = shown, 0
        self.done: set[tuple[str, str]] = set()  # (extra, marker) already read: not again
        name = project.get("name")
        self.name = canonicalize_name(name) if isinstance(name, str) else None
        where = "[project] optional-dependencies"
        table = _expect(project.get("optional-dependencies", {}), dict, where)
        self.optional = {str(canonicalize_name(k)): (k, v) for k, v in table.items()}

    def read(
        self, items: object, place: str, outer: Marker | None = None, stack: tuple[str, ...] = ()
    ) -> list[RootRequirement]:
        """Parse ``items``, ANDing ``outer`` (a self-reference's marker) to their markers."""
        roots = []
        for text in _strings(items, place):
            root = parse_requirement(text, f"{self.shown}:{place}")
            if outer is not None:
                inner = root.requirement.marker
                both = f"({inner}) and ({outer})" if inner else str(outer)
                head = str(root.requirement).split(";", 1)[0]
                root = replace(root, requirement=Requirement(f"{head}; {both}"))
            if root.name != self.name:
                roots.append(root)
                continue
            # Each extra named, but not one already being read: that would be a cycle.
            for extra in sorted({canonicalize_name(e) for e in root.requirement.extras} - {*stack}):
                if extra not in self.optional:
                    raise _Problem(f"{place}: {text!r} names an unknown extra {extra!r}")
                roots += self.read_extra(extra, root.requirement.marker, stack)
        return roots

    def read_extra(
        self, extra: str, outer: Marker | None, stack: tuple[str, ...]
    ) -> list[RootRequirement]:
        if (extra, str(outer)) in self.done:
            return []
        self.done.add((extra, str(outer)))
        self.expansions += 1
        if self.expansions > _MAX_EXPANSIONS:  # markers on self-references defeat `done`
            raise _Problem("[project] extras name each other too many times")
        key, items = self.optional[extra]
        return self.read(items, f"[project.optional-dependencies] {key}", outer, (*stack, extra))


def _uv_reached(document: Mapping[str, Any]) -> tuple[list[_UvPackage], dict[Node, Clauses]]:
    """The lock's packages, and the clauses of each node reached from the roots."""
    manifest = _expect(document.get("manifest", {}), dict, "manifest")
    members = {
        canonicalize_name(m) for m in _strings(manifest.get("members", []), "manifest.members")
    }
    packages = []
    for i, value in enumerate(_expect(document.get("package", []), list, "package")):
        table = _expect(value, dict, f"package[{i}]")
        name = canonicalize_name(_expect(table.get("name"), str, f"package[{i}].name"))
        version = table.get("version")
        if version is not None:
            _parse(Version, _expect(version, str, f"package[{i}].version"), f"package[{i}].version")
        source = _expect(table.get("source"), dict, f"package[{i}].source")
        kind = next((k for k in _SOURCES if k in source), None)
        if kind is None:
            raise _Problem(f"package[{i}].source: expected one of {', '.join(_SOURCES)}")
        root = kind in ("editable", "virtual") or (
            kind in ("directory", "path") and name in members
        )
        packages.append(
            _UvPackage(
                index=i,
                name=name,
                version=version,
                kind=kind,
                source=source,
                table=table,
                root=root,
            )
        )
    by_name: dict[str, list[_UvPackage]] = {}
    for p in packages:
        by_name.setdefault(p.name, []).append(p)
    graph: dict[Node, list[Edge]] = {}
    for p in packages:
        place = f"package[{p.index}]"
        lists = {f"{place}.dependencies": p.table.get("dependencies", [])}
        for key in ("optional-dependencies", "dev-dependencies"):
            for name, value in _expect(p.table.get(key, {}), dict, f"{place}.{key}").items():
                where = f"{place}.{key}.{name}"
                if key == "optional-dependencies":
                    graph[(p.index, canonicalize_name(name))] = _edges(value, where, by_name)
                if p.root:  # every extra and group of a member: the mirror must hold them all
                    lists[where] = value
        graph[(p.index, None)] = [e for k, v in lists.items() for e in _edges(v, k, by_name)]
    seeds: list[Edge] = [((p.index, None), None) for p in packages if p.root]
    seeds += _edges(manifest.get("requirements", []), "manifest.requirements", by_name)
    groups = _expect(manifest.get("dependency-groups", {}), dict, "manifest.dependency-groups")
    for name, value in groups.items():
        seeds += _edges(value, f"manifest.dependency-groups.{name}", by_name)
    if not seeds:
        raise _Problem("no workspace member or [manifest] requirements to start from")
    return packages, _propagate(graph, seeds)


def _edges(value: object, where: str, by_name: Mapping[str, list[_UvPackage]]) -> list[Edge]:
    """Dependency entries (``[manifest]`` ones have ``extras`` and ``specifier``): an edge to
    each package that ``name``, ``version`` and ``source`` match, and to each extra of it."""
    edges: list[Edge] = []
    for j, item in enumerate(_expect(value, list, where)):
        here = f"{where}[{j}]"
        entry = _expect(item, dict, here)
        name = canonicalize_name(_expect(entry.get("name"), str, f"{here}.name"))
        marker = _marker(entry.get("marker"), f"{here}.marker")
        key = "extras" if where.startswith("manifest") else "extra"
        extras = [canonicalize_name(e) for e in _strings(entry.get(key, []), f"{here}.{key}")]
        found = [
            p
            for p in by_name.get(name, [])
            if entry.get("version", p.version) == p.version
            and entry.get("source", p.source) == p.source
        ]
        if "specifier" in entry:
            text = _expect(entry["specifier"], str, f"{here}.specifier")
            specifier = _parse(SpecifierSet, text, f"{here}.specifier")
            found = [
                p
                for p in found
                if p.version is None or specifier.contains(p.version, prereleases=True)
            ]
        if not found:
            wanted = f"{name} {entry['version']}" if "version" in entry else name
            raise _Problem(f"{here}: no locked package matches {_clip(wanted)}")
        edges += [((p.index, extra), marker) for p in found for extra in (None, *extras)]
    return edges


def _propagate(graph: Mapping[Node, list[Edge]], seeds: Iterable[Edge]) -> dict[Node, Clauses]:
    """The clauses under which each reached node is installed: a fixpoint, bounded.

    A node gains, for each clause of a parent, that clause AND the edge's marker. Clauses
    that contain another are dropped; past ``_MAX_CLAUSES`` clauses or ``_MAX_UPDATES``
    changes a node is always installed, which ends every cycle.
    """
    clauses: dict[Node, Clauses] = {}
    updates: Counter[Node] = Counter()
    queue: list[Node] = []

    def offer(node: Node, new: Iterable[frozenset[str]]) -> None:
        old = clauses.get(node, frozenset())
        pool = old | frozenset(new)
        merged = frozenset(c for c in pool if not any(other < c for other in pool))
        if len(merged) > _MAX_CLAUSES or updates[node] >= _MAX_UPDATES:
            merged = _ALWAYS
        if merged != old:
            clauses[node], updates[node] = merged, updates[node] + 1
            queue.append(node)

    for node, marker in seeds:
        offer(node, [frozenset([marker] if marker else [])])
    while queue:
        node = queue.pop()
        for target, marker in graph.get(node, []):
            offer(target, [c | {marker} if marker else c for c in clauses[node]])
    return clauses


def _or_of_ands(clauses: Clauses) -> str | None:
    """``(a and b) or c``; ``None`` when a clause is empty (always)."""
    if frozenset() in clauses:
        return None
    ands = []
    for clause in clauses:
        terms = [f"({m})" if " or " in m else m for m in sorted(clause)]
        text = " and ".join(terms)
        ands.append(f"({text})" if len(terms) > 1 and len(clauses) > 1 else text)
    return " or ".join(sorted(ands))


def _marker(value: object, where: str) -> str | None:
    """A normalized marker; ``None`` also when an installer's choice of extras or groups
    decides it (uv's conflict markers, PEP 751's ``extras``): the mirror holds either side."""
    if value is None:
        return None
    text = str(_parse(Marker, _expect(value, str, where), where))
    if _CHOICE_RE.search(_QUOTED_RE.sub("", text)):
        logger.debug("%s: %s: %s taken as always true", _FILE.get(), where, text)
        return None
    return text


def _hashes(pairs: Iterable[tuple[str, str]], where: str) -> set[tuple[str, str]]:
    """The strong ``(algorithm, hex)`` hashes of one file, which must have one."""
    found = set()
    for algorithm, digest in pairs:
        length = _STRONG.get(algorithm)
        if length is not None and (len(digest) != length or not _HEX_RE.fullmatch(digest)):
            raise _Problem(f"{where}: {algorithm} needs {length} hex digits, not {_clip(digest)}")
        if length is not None:
            found.add((algorithm, digest.lower()))
    if not found:
        raise _Problem(f"{where}: missing hash (sha256, sha384 or sha512)")
    return found


def _locked(
    name: str, version: str, marker: str | None, hashes: set[tuple[str, str]], source: str
) -> RootRequirement:
    text = f"{name}=={version}" + (f"; {marker}" if marker else "")
    return RootRequirement(
        requirement=parse_requirement(text, source).requirement,
        name=canonicalize_name(name),
        source=source,
        hashes=frozenset(hashes),
        locked=True,
    )


def _toml_kind(document: Mapping[str, Any]) -> FileKind | None:
    if "lock-version" in document and "packages" in document:
        return "pylock"
    if "version" in document and isinstance(document.get("package"), list):
        return "uv-lock"
    if "project" in document or "dependency-groups" in document:
        return "pyproject"
    return None


def _check_size(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise _Problem(f"larger than {MAX_BYTES // 2**20} MiB: not read")


def _decode(data: bytes) -> str:
    _check_size(data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _Problem(f"not UTF-8 (byte {exc.start}: {exc.reason})") from None


def _load_toml(text: str, *, line_offset: int = 0, column_offset: int = 0) -> dict[str, Any]:
    """Parse TOML; errors say ``line L column C`` (offset for a script's block)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_ERROR_RE.fullmatch(str(exc))
        reason, line, column = match.groups() if match else (str(exc), None, None)
        where = "end of document: " if match and line is None else ""
        if line is not None and column is not None:
            where = f"line {int(line) + line_offset} column {int(column) + column_offset}: "
        raise _Problem(f"not valid TOML: {where}{_sentence(reason)}") from None
    except RecursionError:
        raise _Problem("not valid TOML: nested too deeply") from None
    except ValueError as exc:  # an integer past Python's digit limit, say
        raise _Problem(f"not valid TOML: {_sentence(str(exc))}") from None


def _requires_python(value: object, where: str, shown: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    text = _expect(value, str, where)
    _parse(SpecifierSet, text, where)
    return ((text, shown),)


def _check_known(names: Iterable[str], known: Iterable[str], message: str) -> None:
    for name in names:
        if canonicalize_name(name) not in known:
            raise _Problem(f"{message.format(name)} (known: {', '.join(sorted(known)) or 'none'})")


def _parse(parser: Callable[[str], _T], text: str, where: str) -> _T:
    """``Version``, ``SpecifierSet`` or ``Marker`` of ``text``; their errors are ValueErrors."""
    try:
        return parser(text)
    except ValueError as exc:
        reason = _sentence(str(exc))
        quoted = "" if text in reason else f" in {_clip(text)}"  # a marker's error does not
        raise _Problem(f"{where}: {reason}{quoted}") from None


def _expect(value: object, kind: type[_T], where: str) -> _T:
    """``value``, if it has the TOML type ``kind`` (a table, an array or a string)."""
    if not isinstance(value, kind):
        got = "nothing" if value is None else _TYPES.get(type(value), f"a {type(value).__name__}")
        raise _Problem(f"{where}: expected {_TYPES[kind]}, not {got}")
    return value


def _strings(value: object, where: str) -> list[str]:
    return [_expect(v, str, f"{where}[{i}]") for i, v in enumerate(_expect(value, list, where))]


def _sentence(text: str) -> str:
    """A library's message: its first line, lowercased as ours are (``Invalid`` -> ``invalid``)."""
    line = text.strip().split("\n", 1)[0]
    return line[:1].lower() + line[1:] if line[1:2].islower() else line


def _clip(value: object) -> str:
    """A value from the file, for a message: quoted, cut short, URL credentials hidden."""
    text = _CREDENTIALS_RE.sub("****@", str(value))
    return repr(text if len(text) <= 60 else text[:60] + "...")
