"""Choose which files of a project to mirror. Pure: records in, kept and rejected out.

Every file that is not kept gets exactly one :class:`Rejected` with the first rule that
refused it, in this order: file type, yanked, ``--hash`` list, version specifier, target
(wheel tags, Requires-Python), prerelease rule, newest-N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.models import DistFile, ProjectPage, Rejected
from selmirror.targets import Target


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The user's file policy; ``latest=None`` keeps every matching version."""

    binary_only: bool = False
    source_only: bool = False
    prereleases: bool = False
    latest: int | None = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """What is asked of one project: the combined specifier of every line naming it."""

    name: NormalizedName
    specifier: SpecifierSet
    sources: tuple[str, ...] = ()
    allowed_hashes: frozenset[tuple[str, str]] = frozenset()

    @property
    def pinned(self) -> bool:
        """``==``/``===`` without a wildcard: the only case where yanked files count (PEP 592)."""
        return any(
            s.operator == "===" or (s.operator == "==" and not s.version.endswith(".*"))
            for s in self.specifier
        )

    def __str__(self) -> str:
        return f"{self.name}{self.specifier}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The outcome for one project: chosen versions per target, kept and rejected files.

    ``unsatisfied`` names the targets (``"any"`` without targets) for which no file matched.
    """

    project: NormalizedName
    versions: dict[str, tuple[Version, ...]]
    kept: tuple[DistFile, ...]
    rejected: tuple[Rejected, ...]
    unsatisfied: tuple[str, ...] = ()


def _file_rule(f: DistFile, wanted: Wanted, policy: Policy) -> tuple[str, str] | None:
    """Target-independent refusal ``(category, reason)`` of one file, or ``None``."""
    if policy.binary_only and f.kind == "sdist":
        return "binary-only", f"{f.filename}: sdist skipped (--binary-only)"
    if policy.source_only and f.kind == "wheel":
        return "source-only", f"{f.filename}: wheel skipped (--source-only)"
    if f.yanked is not None and not wanted.pinned:
        why = f": {f.yanked}" if f.yanked else ""
        return "yanked", f"{f.filename}: yanked{why} (kept only when pinned with ==)"
    if wanted.allowed_hashes and not _hash_allowed(f, wanted.allowed_hashes):
        return "hash", f"{f.filename}: hash not in the --hash list of {', '.join(wanted.sources)}"
    if not wanted.specifier.contains(f.version, prereleases=True):
        return "version", f"{f.filename}: {f.version} does not match {wanted}"
    return None


def _hash_allowed(f: DistFile, allowed: frozenset[tuple[str, str]]) -> bool:
    algorithms = {a for a, _ in allowed}
    advertised = {(a, d) for a, d in f.hashes.items() if a in algorithms}
    # without a comparable advertised hash the download is checked against the list instead
    return not advertised or bool(advertised & allowed)


def suits(f: DistFile, target: Target | None) -> bool:
    """Whether ``target`` (``None``: any environment) can install ``f``."""
    if target is None:
        return True
    if f.kind == "wheel" and not target.accepts_wheel(f.tags):
        return False
    return target.accepts_requires_python(f.requires_python)


def _target_reason(f: DistFile, targets: Sequence[Target]) -> tuple[str, str]:
    if f.kind == "wheel" and not any(t.accepts_wheel(f.tags) for t in targets):
        tags = ".".join(sorted({str(t) for t in f.tags}))[:120]
        return "platform", f"{f.filename}: tags {tags} suit no target"
    return "requires-python", f"{f.filename}: Requires-Python {f.requires_python} suits no target"


def choose_versions(
    files: Sequence[DistFile], wanted: Wanted, policy: Policy
) -> tuple[Version, ...]:
    """The newest ``policy.latest`` versions among ``files`` allowed by the specifier.

    PEP 440 prerelease rule: prereleases only with ``--pre``, when the specifier names one,
    or when nothing else matches (``SpecifierSet.filter(prereleases=None)``).
    """
    versions = sorted({f.version for f in files}, reverse=True)
    allowed = list(wanted.specifier.filter(versions, prereleases=policy.prereleases or None))
    return tuple(allowed if policy.latest is None else allowed[: policy.latest])


def select(
    page: ProjectPage, wanted: Wanted, targets: Sequence[Target], policy: Policy
) -> Selection:
    """Apply every rule to ``page`` for ``wanted``; see the module docstring for the order."""
    rejected: list[Rejected] = []
    eligible: list[DistFile] = []
    for f in page.files:
        rule = _file_rule(f, wanted, policy)
        if rule is None and targets and not any(suits(f, t) for t in targets):
            rule = _target_reason(f, targets)
        if rule is None:
            eligible.append(f)
        else:
            rejected.append(_rejected(f, *rule))

    envs: Sequence[Target | None] = targets or (None,)
    versions: dict[str, tuple[Version, ...]] = {}
    kept: dict[str, DistFile] = {}
    for env in envs:
        pool = [f for f in eligible if suits(f, env)]
        chosen = choose_versions(pool, wanted, policy)
        versions[env.label if env else "any"] = chosen
        kept.update((f.filename, f) for f in pool if f.version in chosen)

    all_chosen = {v for vs in versions.values() for v in vs}
    for f in eligible:
        if f.filename in kept:
            continue
        if f.version in all_chosen:
            why = f"{f.filename}: no target it suits chose {f.version}"
            rejected.append(_rejected(f, "platform", why))
        elif f.version.is_prerelease and not policy.prereleases:
            rejected.append(_rejected(f, "prerelease", f"{f.filename}: prerelease (use --pre)"))
        else:
            newest = "every" if policy.latest is None else f"the {policy.latest} newest"
            why = f"{f.filename}: {f.version} is not among {newest} matching version(s)"
            rejected.append(_rejected(f, "older", why))
    return Selection(
        project=page.name,
        versions=versions,
        kept=tuple(kept.values()),
        rejected=(*page.rejected, *rejected),
        unsatisfied=tuple(label for label, vs in versions.items() if not vs),
    )


def _rejected(f: DistFile, category: str, reason: str) -> Rejected:
    return Rejected(project=f.project, filename=f.filename, category=category, reason=reason)
