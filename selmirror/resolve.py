"""Dependency resolution per target, from metadata alone, with resolvelib (what pip uses).

For each target, one resolution over every top-level requirement together (``-c``
constraints applied), as ``pip install`` on that machine would do it: newest allowed
version first, PEP 440 prerelease rules, yanked files only when pinned, the target's
Requires-Python and wheel tags, extras bound to their project's version. Markers are
evaluated in the target's own environment, never the host's, and dependencies are read
from the metadata of the very file the target installs. With ``follow_deps=False`` the
same machinery picks versions of the named requirements alone (and of locked ones).

Then, for each sdist a target installs, what building it needs: a build environment of
its own per distinct ``[build-system]``, resolved the same way, in turn for the sdists
that brings.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version
from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import (
    RequirementInformation,
    ResolutionImpossible,
    ResolutionTooDeep,
    Result,
)
from resolvelib.structs import Matches

from selmirror import explain
from selmirror.errors import ProjectNotFound, ResolutionFailed, SelmirrorError
from selmirror.filter import Policy, hash_allowed, installs
from selmirror.metadata import CoreMetadata, parse_dependency
from selmirror.models import DistFile, RequirementSet, RootRequirement
from selmirror.sdists import BuildSystem, backend_requires
from selmirror.targets import Target

log = logging.getLogger(__name__)

PYTHON = "<python>"  # the pseudo-project a Requires-Python turns into (as pip does)
MAX_ROUNDS = 20_000


class Source(Protocol):
    """Where the resolver reads projects from: :class:`~selmirror.repository.Repository`."""

    def versions(self, name: NormalizedName) -> Mapping[Version, Sequence[DistFile]]: ...

    def status(self, name: NormalizedName) -> str | None: ...

    def metadata(self, f: DistFile) -> CoreMetadata: ...

    def explore(
        self,
        name: NormalizedName,
        specifier: SpecifierSet,
        extras: frozenset[str],
        *,
        deep: bool = True,
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Need:
    """A requirement as the resolver sees it: markers already evaluated for its target."""

    name: str
    specifier: SpecifierSet
    extras: frozenset[str] = frozenset()
    text: str = ""  # as written, for chains and messages: "werkzeug>=3.0.0"
    source: str = ""  # "req.txt:3", "command line", or the candidate that wants it
    hashes: frozenset[tuple[str, str]] = frozenset()
    via: str = (
        ""  # what a root stands for, when not named by the user: "build requirement of x 1.0"
    )

    @property
    def key(self) -> str:
        return f"{self.name}[{','.join(sorted(self.extras))}]" if self.extras else self.name


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A version, and the file of it that this target installs (whose metadata counts)."""

    name: str
    version: Version
    extras: frozenset[str] = frozenset()
    file: DistFile | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.name}[{','.join(sorted(self.extras))}]" if self.extras else self.name

    def __str__(self) -> str:
        return f"{self.key} {self.version}"


@dataclass(kw_only=True)
class TargetResolution:
    """What one target needs: versions per project, why each is there, what was left out."""

    target: Target
    versions: dict[NormalizedName, set[Version]] = field(default_factory=dict)
    yanked_ok: set[tuple[NormalizedName, Version]] = field(default_factory=set)
    chains: dict[NormalizedName, list[str]] = field(default_factory=dict)
    dropped: dict[NormalizedName, str] = field(default_factory=dict)
    # "x 1.0" -> why its dependencies are unknown
    # ("x-1.0.tar.gz: PKG-INFO 2.1, no egg-info, and no literal setup.py")
    unknown: dict[str, str] = field(default_factory=dict)
    # the file this target installs of each chosen version, and those whose metadata it read
    installs: dict[tuple[NormalizedName, Version], DistFile] = field(default_factory=dict)
    read: dict[tuple[NormalizedName, Version], tuple[str, CoreMetadata]] = field(
        default_factory=dict
    )
    errors: list[SelmirrorError] = field(default_factory=list)


def pinned(specifier: SpecifierSet) -> bool:
    """``==``/``===`` without a wildcard: the only case where yanked files count (PEP 592)."""
    return any(
        s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
        for s in specifier
    )


def root_need(root: RootRequirement) -> Need:
    req = root.requirement
    text = f"{root.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''}"
    return Need(
        name=root.name,
        specifier=req.specifier,
        extras=frozenset(canonicalize_name(e) for e in req.extras),
        text=f"{text}{req.specifier}",
        source=root.source,
        hashes=root.hashes,
    )


class _Provider(AbstractProvider[Need, Candidate, str]):
    def __init__(
        self,
        repo: Source,
        target: Target,
        policy: Policy,
        constraints: Mapping[str, Sequence[Need]],
        follow_deps: bool,
    ) -> None:
        self.repo = repo
        self.target = target
        self.policy = policy
        self.constraints = constraints
        self.follow_deps = follow_deps
        self.python = Version(target.python_full_version)
        self.missing: dict[str, str] = {}
        self.skipped: dict[NormalizedName, str] = {}
        self.wanted_by: dict[NormalizedName, str] = {}
        self.parent_of: dict[str, tuple[Candidate, str]] = {}  # first to want it, and how
        self.roots: dict[str, Need] = {}
        self.unknown: dict[str, str] = {}
        self.read: dict[tuple[NormalizedName, Version], tuple[str, CoreMetadata]] = {}
        self._installs: dict[tuple[str, Version, bool, frozenset[tuple[str, str]]], DistFile | None]
        self._installs = {}

    def identify(self, requirement_or_candidate: Need | Candidate) -> str:
        return requirement_or_candidate.key

    def get_preference(
        self,
        identifier: str,
        resolutions: Mapping[str, Candidate],
        candidates: Mapping[str, Iterator[Candidate]],
        information: Mapping[str, Iterator[RequirementInformation[Need, Candidate]]],
        backtrack_causes: Sequence[RequirementInformation[Need, Candidate]],
    ) -> tuple[bool, bool, bool, str]:
        causes = {c.requirement.name for c in backtrack_causes}
        is_pinned = any(pinned(i.requirement.specifier) for i in information[identifier])
        name = identifier.split("[", 1)[0]
        return identifier != PYTHON, name not in causes, not is_pinned, identifier

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Need]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> Matches[Candidate]:
        needs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        if identifier == PYTHON:
            fits = all(n.specifier.contains(self.python, prereleases=True) for n in needs)
            return [Candidate(name=PYTHON, version=self.python)] if fits else []
        name = NormalizedName(needs[0].name)
        extras = frozenset().union(*(n.extras for n in needs))
        try:
            versions = self.repo.versions(name)
        except ProjectNotFound as exc:
            self.missing[name] = exc.message
            return []
        spec = SpecifierSet()
        for n in (*needs, *self.constraints.get(name, ())):
            spec &= n.specifier
        is_pinned = any(pinned(n.specifier) for n in needs)
        allowed = frozenset().union(*(n.hashes for n in needs))
        allow_pre = self.policy.prereleases or bool(spec.prereleases)

        def candidates() -> Iterator[Candidate]:
            held_back: list[Candidate] = []
            found = False
            for version in versions:  # newest first; files are read only when needed
                if version in bad or not spec.contains(version, prereleases=True):
                    continue
                f = self.installs(name, version, versions[version], is_pinned, allowed)
                if f is None:
                    continue
                candidate = Candidate(name=name, version=version, extras=extras, file=f)
                if version.is_prerelease and not allow_pre:
                    held_back.append(candidate)  # PEP 440: only when nothing else matches
                    continue
                found = True
                yield candidate
            if not found:
                yield from held_back

        return candidates

    def installs(
        self,
        name: str,
        version: Version,
        files: Sequence[DistFile],
        is_pinned: bool,
        allowed: frozenset[tuple[str, str]],
    ) -> DistFile | None:
        """The file of ``version`` this target installs, among those it may take: yanked
        ones only when pinned (PEP 592), only those of a ``--hash`` list."""
        key = (name, version, is_pinned, allowed)
        if key not in self._installs:
            usable = (
                f
                for f in files
                if (f.yanked is None or is_pinned) and (not allowed or hash_allowed(f, allowed))
            )
            self._installs[key] = installs(usable, self.target, self.policy)
        return self._installs[key]

    def is_satisfied_by(self, requirement: Need, candidate: Candidate) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> Iterable[Need]:
        if candidate.name == PYTHON or candidate.file is None:
            return []
        needs = []
        if candidate.extras:  # X[e] and X resolve to one version
            exact = f"{candidate.name}=={candidate.version}"
            needs.append(
                Need(
                    name=candidate.name,
                    specifier=SpecifierSet(f"=={candidate.version}"),
                    text=exact,
                    source=str(candidate),
                )
            )
        if not self.follow_deps:
            return needs
        meta = self.repo.metadata(candidate.file)
        key = (NormalizedName(candidate.name), candidate.version)
        self.read[key] = (candidate.file.filename, meta)
        if meta.requires_python and not self.target.accepts_requires_python(meta.requires_python):
            try:
                spec = SpecifierSet(meta.requires_python)
                needs.append(
                    Need(name=PYTHON, specifier=spec, text=f"Python{spec}", source=str(candidate))
                )
            except InvalidSpecifier:
                pass
        if not meta.dependencies_known:
            self.unknown[f"{candidate.name} {candidate.version}"] = (
                f"{candidate.file.filename}: {meta.source}"
            )
            return needs
        for line in meta.requires_dist:
            need = self._dependency(line, candidate)
            if need is not None:
                needs.append(need)
                self.repo.explore(NormalizedName(need.name), need.specifier, need.extras)
        return needs

    def _dependency(self, line: str, parent: Candidate) -> Need | None:
        dep = parse_dependency(line)
        if dep is None:
            log.warning("%s: ignoring an invalid Requires-Dist %r", parent, line[:120])
            return None
        if dep.marker is not None and not self.target.evaluate(dep.marker, parent.extras):
            self.skipped.setdefault(dep.name, f"marker '{dep.marker}' of {parent}")
            return None
        if dep.url is not None:
            log.warning("%s depends on %s by URL: not mirrored", parent, dep.name)
            return None
        self.wanted_by.setdefault(dep.name, str(parent))
        self.parent_of.setdefault(dep.name, (parent, dep.text))
        return Need(
            name=dep.name,
            specifier=dep.specifier,
            extras=dep.extras,
            text=dep.text,
            source=str(parent),
        )


def _constraints(requirements: RequirementSet, target: Target) -> dict[str, list[Need]]:
    out: dict[str, list[Need]] = {}
    for c in requirements.constraints:
        marker = c.requirement.marker
        if marker is None or target.evaluate(marker):
            out.setdefault(c.name, []).append(root_need(c))
    return out


@dataclass(frozen=True, slots=True)
class _Run:
    """What every resolution for one target shares."""

    repo: Source
    target: Target
    constraints: Mapping[str, Sequence[Need]]
    policy: Policy
    follow_deps: bool

    def provider(self, *, follow_deps: bool | None = None) -> _Provider:
        follow = self.follow_deps if follow_deps is None else follow_deps
        return _Provider(self.repo, self.target, self.policy, self.constraints, follow)

    def for_builds(self) -> _Run:
        """A build environment: the newest of everything, with dependencies, without the
        user's constraints (pip and uv apply neither ``-c`` nor ``--latest`` there)."""
        policy = replace(self.policy, latest=1)
        return _Run(self.repo, self.target, {}, policy, follow_deps=True)


def resolve_target(
    run: _Run, roots: Sequence[Need], into: TargetResolution, *, follow_deps: bool | None = None
) -> Mapping[str, Candidate] | None:
    """One resolution; merges what it picked into ``into`` and returns it (``None``: it
    failed, and ``into.errors`` says why)."""
    target = run.target
    provider = run.provider(follow_deps=follow_deps)
    provider.roots = {need.name: need for need in roots}
    resolver: Resolver[Need, Candidate, str] = Resolver(provider, BaseReporter())
    try:
        result = resolver.resolve(roots, max_rounds=MAX_ROUNDS)
    except ResolutionImpossible as exc:
        into.errors.append(_conflict(target, exc.causes, provider))
        return None
    except ResolutionTooDeep:
        into.errors.append(ResolutionFailed(f"{target.label}: resolution took too many rounds"))
        return None
    except SelmirrorError as exc:
        into.errors.append(type(exc)(f"{target.label}: {exc.message}", hint=exc.hint))
        return None
    _merge(result, provider, into)
    if log.isEnabledFor(logging.DEBUG):  # -v: what was decided, and why
        chains = _chains(result)
        for key, candidate in sorted(result.mapping.items()):
            if candidate.name != PYTHON and candidate.file is not None:
                why = " -> ".join(chains[key])
                log.debug(
                    "%s: %s (%s) for %s", target.label, candidate, candidate.file.filename, why
                )
    return result.mapping


def _merge(
    result: Result[Need, Candidate, str], provider: _Provider, into: TargetResolution
) -> None:
    chains = _chains(result)
    for key, candidate in result.mapping.items():
        if candidate.name == PYTHON:
            continue
        name = NormalizedName(candidate.name)
        into.versions.setdefault(name, set()).add(candidate.version)
        if candidate.file is not None:
            into.installs[(name, candidate.version)] = candidate.file
        needs = [i.requirement for i in result.criteria[key].information]
        if any(pinned(n.specifier) for n in needs):
            into.yanked_ok.add((name, candidate.version))
        into.chains.setdefault(name, chains[key])
    into.unknown.update(provider.unknown)
    into.read.update(provider.read)
    for name, why in {**provider.wanted_by, **provider.skipped}.items():
        if name not in into.versions and name not in into.dropped:
            reason = (
                f"not needed on {into.target.label}: {why}"
                if name in provider.skipped and why.startswith("marker")
                else f"wanted only by versions not chosen ({why})"
            )
            into.dropped[name] = reason
    for name in into.versions:
        into.dropped.pop(name, None)


def _chains(result: Result[Need, Candidate, str]) -> dict[str, list[str]]:
    """Per identifier, the requirements that brought it: root first."""
    parent_of: dict[str, tuple[Need, Candidate | None]] = {}
    for key, criterion in result.criteria.items():
        infos = list(criterion.information)
        root = next((i for i in infos if i.parent is None), None)
        chosen = root or next(
            (i for i in infos if i.parent is not None and i.parent.key in result.mapping), infos[0]
        )
        parent_of[key] = (chosen.requirement, chosen.parent)

    def chain(key: str, seen: frozenset[str]) -> list[str]:
        need, parent = parent_of[key]
        if parent is None or parent.key in seen or parent.key not in parent_of:
            return [need.via, need.text] if need.via else [need.text]
        return [*chain(parent.key, seen | {key}), need.text]

    return {key: chain(key, frozenset()) for key in result.mapping}


def _conflict(
    target: Target,
    causes: Collection[RequirementInformation[Need, Candidate]],
    provider: _Provider,
) -> ResolutionFailed:
    by_name: dict[str, list[tuple[Need, str]]] = {}
    for cause in causes:
        need = cause.requirement
        origin = need.source if cause.parent is None else str(cause.parent)
        by_name.setdefault(need.name, []).append((need, origin))
    parts = []
    for name, wanted in by_name.items():
        constraints = provider.constraints.get(name, ())
        wanted += [(c, f"constraint {c.source}") for c in constraints]
        if name in provider.missing:
            parts.append(f"{provider.missing[name]} (wanted: {explain.wants(wanted)})")
        elif name == PYTHON:
            parts.append(f"Python {target.python_full_version} is outside {explain.wants(wanted)}")
        else:
            try:
                versions = provider.repo.versions(NormalizedName(name))
            except SelmirrorError as exc:
                parts.append(f"{exc.message} (wanted: {explain.wants(wanted)})")
                continue
            if (
                provider.repo.status(NormalizedName(name)) == "quarantined"
            ):  # PEP 792: it offers no files, by design
                parts.append(
                    f"{name} is quarantined on the index (wanted: {explain.wants(wanted)})"
                )
                continue
            why = explain.no_version(name, wanted, versions, target, provider.policy, pinned)
            if " is denied by " in why and (path := _needed_through(name, provider)):
                why += f"; needed through {path}"  # a policy, not a conflict: say who
            parts.append(why)
    return ResolutionFailed(f"cannot resolve for {target.label}: {'; '.join(parts)}")


def _needed_through(name: str, provider: _Provider) -> str | None:
    """``"alpha (from command line) -> alpha 1.0 requires beta -> beta 2.0 requires evil"``:
    the first path by which the resolution came to want ``name`` (``None``: it was named)."""
    steps: list[str] = []
    current, seen = name, {name}
    while current in provider.parent_of:
        parent, text = provider.parent_of[current]
        steps.append(f"{parent} requires {text}")
        current = parent.name
        if current in seen:
            break
        seen.add(current)
    if not steps:
        return None
    root = provider.roots.get(current)
    head = f"{root.text} (from {root.source})" if root else current
    return " -> ".join([head, *reversed(steps)])


def _build_environments(run: _Run, into: TargetResolution, extra: Sequence[str]) -> None:
    """Resolve what building each sdist this target installs needs, and in turn what the
    sdists that brings need.

    Each build has an isolated environment of its own (PEP 517/518), resolved on its own,
    as pip and uv do: its ``[build-system] requires`` (or the setuptools default), plus
    what the backend asks for at build time (:func:`~selmirror.sdists.backend_requires`).
    ``extra`` (``--build-requirement``) is one more environment, for a target that builds
    anything.
    """
    build = run.for_builds()
    read: set[str] = set()
    environments: set[tuple[str, ...]] = set()
    pending_extra = bool(extra)
    while True:
        sdists = [f for f in into.installs.values() if f.kind == "sdist" and f.filename not in read]
        for f in sdists:
            read.add(f.filename)
            system = run.repo.metadata(f).build or BuildSystem()
            why = f"build requirement of {f.project} {f.version}"
            _environment(build, system, why, environments, into)
        if not sdists and pending_extra and read:
            pending_extra = False
            system = BuildSystem(requires=tuple(extra), backend="", source="--build-requirement")
            _environment(build, system, "--build-requirement", environments, into)
        elif not sdists:
            return


def _environment(
    run: _Run,
    system: BuildSystem,
    why: str,
    seen: set[tuple[str, ...]],
    into: TargetResolution,
) -> None:
    """One build environment, unless an identical one was resolved for this target."""
    requires = (*system.requires, *system.asks)
    roots = [need for line in requires if (need := _build_need(line, why, run.target))]
    key = (*sorted(n.text for n in roots), system.backend)
    if not roots or key in seen:
        return
    seen.add(key)
    chosen = resolve_target(run, roots, into)
    if chosen is None:
        return
    more = backend_requires(system.backend, {c.name: c.version for c in chosen.values()})
    extra = [need for line in more if (need := _build_need(line, why, run.target))]
    if extra:
        resolve_target(run, [*roots, *extra], into)


def _build_need(line: str, why: str, target: Target) -> Need | None:
    dep = parse_dependency(line)
    if dep is None or dep.url is not None:
        log.warning("%s: ignoring %r: not a requirement on an index", why, line[:120])
        return None
    if dep.marker is not None and not target.evaluate(dep.marker):
        return None
    return Need(
        name=dep.name,
        specifier=dep.specifier,
        extras=dep.extras,
        text=dep.text,
        source=why,
        via=why,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataUse:
    """Whose metadata the targets read for one version, and whether those disagree.

    ``files`` maps each file read to where its metadata came from; ``differ`` is true when
    the files declare different dependencies (each target used its own file's).
    """

    files: Mapping[str, str]
    differ: bool


@dataclass(kw_only=True)
class Resolutions:
    """Every target's resolution, and the errors, each said once (not once per target).

    ``skipped`` are the failures of targets the user did not name (matrix targets) while
    others resolved: not errors, but said in the summary and the report.
    """

    targets: list[TargetResolution] = field(default_factory=list)
    errors: list[SelmirrorError] = field(default_factory=list)
    skipped: list[SelmirrorError] = field(default_factory=list)
    metadata: dict[tuple[NormalizedName, Version], MetadataUse] = field(default_factory=dict)


def resolve_all(
    repo: Source,
    requirements: RequirementSet,
    targets: Sequence[Target],
    policy: Policy,
    *,
    follow_deps: bool = True,
    keep_going: bool = True,
    optional_targets: bool = False,
    build_deps: bool = True,
    build_requirements: Sequence[str] = (),
) -> Resolutions:
    """Resolve every target. ``--latest N``/``--all-versions`` resolve each extra version of a
    named requirement on its own too, so that each one is installable. Locked requirements
    (from lock files) are resolved without their dependencies. With ``build_deps``, what
    building each sdist a target installs needs is resolved for that target too.

    A named project the index cannot serve is one error, and the other targets and
    requirements go on only with ``keep_going``. With ``optional_targets`` (targets that
    come from the matrix, not from the user), targets that cannot resolve are skipped as
    long as one target resolves: ``numpy==1.26.0`` has no wheel for Python 3.13, which
    is no reason to refuse a mirror for the Pythons it supports.
    """
    out = Resolutions()
    roots = [(root, root_need(root)) for root in requirements.requirements]
    for root, need in roots:  # every page at once; with dependencies, their metadata too
        deep = follow_deps and not root.locked
        repo.explore(NormalizedName(need.name), need.specifier, need.extras, deep=deep)
    unavailable = set()
    for root, _ in roots:
        try:
            repo.versions(root.name)
        except SelmirrorError as exc:
            if root.name not in unavailable:
                out.errors.append(exc)
            unavailable.add(root.name)
    if out.errors and not keep_going:
        return out
    roots = [(root, need) for root, need in roots if root.name not in unavailable]
    for target in targets:
        into = TargetResolution(target=target)
        free: list[Need] = []
        locked: list[Need] = []
        for root, need in roots:
            marker = root.requirement.marker
            if marker is None or target.evaluate(marker):
                (locked if root.locked else free).append(need)
            else:
                into.dropped[root.name] = f"marker '{marker}' is false on {target.label}"
        run = _Run(repo, target, _constraints(requirements, target), policy, follow_deps)
        if free and resolve_target(run, free, into) is not None and policy.latest != 1:
            _older_versions(run, free, into)
        if locked and not into.errors:
            resolve_target(run, locked, into, follow_deps=False)
        if build_deps and not into.errors:
            _build_environments(run, into, build_requirements)
        out.targets.append(into)
        if into.errors and not keep_going and not optional_targets:
            break
    failed = [r for r in out.targets if r.errors]
    if optional_targets and len(failed) < len(out.targets):
        out.skipped += _grouped(failed)
        out.targets = [r for r in out.targets if not r.errors]
    else:
        out.errors += _grouped(failed)
    out.metadata = _metadata_use(out.targets)
    return out


def _metadata_use(
    resolutions: Sequence[TargetResolution],
) -> dict[tuple[NormalizedName, Version], MetadataUse]:
    """Per version, the files whose metadata the targets read, and whether they disagree."""
    read: dict[tuple[NormalizedName, Version], dict[str, CoreMetadata]] = {}
    for resolution in resolutions:
        for key, (filename, meta) in resolution.read.items():
            read.setdefault(key, {})[filename] = meta
    return {
        key: MetadataUse(
            files={filename: meta.source for filename, meta in sorted(metas.items())},
            differ=len({frozenset(m.requires_dist) for m in metas.values()}) > 1,
        )
        for key, metas in sorted(read.items())
    }


def _grouped(failed: Sequence[TargetResolution]) -> list[SelmirrorError]:
    """One error per distinct failure, naming every target it hit."""
    groups: dict[tuple[type[SelmirrorError], str], list[str]] = {}
    for resolution in failed:
        label = resolution.target.label
        for error in resolution.errors:
            text = error.message.replace(f" for {label}:", ":", 1).replace(f"{label}: ", "", 1)
            groups.setdefault((type(error), text), []).append(label)
    errors = []
    for (kind, text), labels in groups.items():
        where = (
            ", ".join(labels) if len(labels) <= 3 else f"{len(labels)} targets ({labels[0]}, ...)"
        )
        head, sep, rest = text.partition(": ")
        resolving = sep and head.startswith("cannot resolve")
        message = f"{head} for {where}: {rest}" if resolving else f"{where}: {text}"
        errors.append(kind(message))
    return errors


def _older_versions(run: _Run, roots: Sequence[Need], into: TargetResolution) -> None:
    provider = run.provider(follow_deps=False)
    policy = run.policy
    for need in roots:
        matches = provider.find_matches(need.key, {need.key: iter([need])}, {need.key: iter(())})
        versions = [c.version for c in (matches() if callable(matches) else matches)]
        extra = versions if policy.latest is None else versions[: policy.latest]
        for version in extra:
            if version in into.versions.get(NormalizedName(need.name), set()):
                continue
            exact = Need(
                name=need.name,
                specifier=SpecifierSet(f"=={version}"),
                extras=need.extras,
                text=f"{need.key}=={version}",
                source=f"{need.source}, an older version kept by --latest/--all-versions",
                hashes=need.hashes,
            )
            before = len(into.errors)
            if resolve_target(run, [exact], into) is None:
                for error in into.errors[before:]:
                    log.warning("%s", error)
                del into.errors[before:]  # an older version that cannot resolve is skipped
