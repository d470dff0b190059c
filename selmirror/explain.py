"""Why a resolution failed, said in one line a user can act on. Pure.

resolvelib hands back the requirements that could not be met together. This turns them
into a sentence per project: who wanted it, and why no version would do: a conflict
between requirements, a Requires-Python that excludes the target (in pip's words), no
wheel for the target's platform (and the platforms there are wheels for), yanked files,
a ``--hash`` list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from selmirror.deny import denied_by
from selmirror.filter import Policy, hash_allowed, installs
from selmirror.models import DistFile
from selmirror.targets import Target

SHOWN = 3  # origins listed for one requirement before "and N more"


class Wanted(Protocol):
    """A requirement as the resolver reports it (``Need``), with who asked for it."""

    @property
    def name(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def specifier(self) -> SpecifierSet: ...

    @property
    def hashes(self) -> frozenset[tuple[str, str]]: ...


def wants(causes: Sequence[tuple[Wanted, str]]) -> str:
    """``"b>=2 (from a 1.0) vs b<2 (from r.txt:2)"``: each distinct requirement once, with
    every origin (the first few named)."""
    origins: dict[str, list[str]] = {}
    for need, origin in causes:
        seen = origins.setdefault(need.text, [])
        if origin not in seen:
            seen.append(origin)
    parts = []
    for text, who in origins.items():
        more = f" and {len(who) - SHOWN} more" if len(who) > SHOWN else ""
        parts.append(f"{text} (from {', '.join(who[:SHOWN])}{more})")
    return " vs ".join(parts)


def no_version(
    name: str,
    causes: Sequence[tuple[Wanted, str]],
    versions: Mapping[Version, Sequence[DistFile]],
    target: Target,
    policy: Policy,
    pinned: Callable[[SpecifierSet], bool],
) -> str:
    """Why no version of ``name`` satisfies ``causes`` on ``target``."""
    spec = SpecifierSet()
    for need, _ in causes:
        spec &= need.specifier
    matching = [v for v in versions if spec.contains(v, prereleases=True)]
    distinct = {need.text for need, _ in causes}
    if not matching and len(distinct) > 1:
        return f"conflicting requirements on {name}: {wants(causes)}"
    head = f"no version of {name} matches {wants(causes)}"
    if not versions:
        return f"{head}: the index lists no files"
    if not matching:
        shown = ", ".join(str(v) for v in list(versions)[:3])
        return f"{head}: the index has {shown}{', ...' if len(versions) > 3 else ''}"
    is_pinned = any(pinned(need.specifier) for need, _ in causes)
    allowed = frozenset().union(*(need.hashes for need, _ in causes))
    newest = matching[0]
    why = unusable(versions[newest], target, policy, is_pinned=is_pinned, allowed=allowed)
    return f"{head}: {name} {newest} {why}"


def unusable(
    files: Sequence[DistFile],
    target: Target,
    policy: Policy,
    *,
    is_pinned: bool,
    allowed: Collection[tuple[str, str]],
) -> str:
    """Why none of ``files`` (one version's) can be installed on ``target``."""
    if not files:
        return "has no files"
    if policy.deny and (rule := denied_by(policy.deny, files[0].project, files[0].version)):
        return f"is denied by {rule}"
    if allowed:
        files = [f for f in files if hash_allowed(f, allowed)]
        if not files:
            return "has no file that matches the --hash list"
    if not is_pinned:
        if all(f.yanked is not None for f in files):
            return "is yanked (taken only when pinned with ==)"
        files = [f for f in files if f.yanked is None]
    if policy.cutoff is not None:
        young = [f for f in files if policy.cutoff.holds_back(f)]
        if young and len(young) == len(files):
            at = policy.cutoff.describe(files[0].project)
            when = young[0].upload_time or "at an unknown time"
            return f"was uploaded {when}, not before the --exclude-newer cutoff {at}"
        files = [f for f in files if f not in young]
    kinds = [f for f in files if not (policy.binary_only and f.kind == "sdist")]
    kinds = [f for f in kinds if not (policy.source_only and f.kind == "wheel")]
    if not kinds:
        return (
            "has no sdist (--source-only)" if policy.source_only else "has no wheel (--binary-only)"
        )
    python = [f for f in kinds if target.accepts_requires_python(f.requires_python)]
    if not python:
        return (
            f"requires a different Python: {target.python_full_version} "
            f"not in '{kinds[0].requires_python}'"
        )
    if installs(python, target, policy) is None:
        wheels = [f for f in python if f.kind == "wheel"]
        return f"has no wheel for {target.label}{_wheels_for(wheels)}"
    return "has no file for this target"  # pragma: no cover - installs() and the above agree


def _wheels_for(wheels: Sequence[DistFile]) -> str:
    """``"; its wheels: cp39-cp312, pp39 on macosx_10_9_x86_64, win_amd64, ..."``"""
    if not wheels:
        return "; it has no wheels"
    spans: dict[str, list[int]] = {}
    for tag in {t.interpreter for f in wheels for t in f.tags}:
        kind = tag.rstrip("0123456789")
        spans.setdefault(kind, []).append(int(tag[len(kind) :] or 0))
    interpreters = ", ".join(
        f"{kind}{min(ns)}" if min(ns) == max(ns) else f"{kind}{min(ns)}-{kind}{max(ns)}"
        for kind, ns in sorted(spans.items())
    )
    platforms = sorted({t.platform for f in wheels for t in f.tags})
    more = f", ... ({len(platforms)} platforms)" if len(platforms) > 6 else ""
    return f"; its wheels: {interpreters} on {', '.join(platforms[:6])}{more}"
