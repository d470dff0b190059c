"""Choose which files of a project to mirror. Pure: records in, kept and rejected out.

Resolution decides the versions per target; this stage turns them into files. Every file not
kept gets exactly one :class:`Rejected` with the first rule that refused it, in this order:
deny list, file type, version not chosen, yanked, ``--hash`` list, target (wheel tags,
Requires-Python).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from packaging.utils import NormalizedName, parse_wheel_filename
from packaging.version import Version

from selmirror.cutoff import Cutoff
from selmirror.deny import Rule, denied_by
from selmirror.models import DistFile, Rejected
from selmirror.pages import ProjectPage
from selmirror.targets import Target


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """The user's file policy; ``latest=None`` keeps every matching version."""

    binary_only: bool = False
    source_only: bool = False
    prereleases: bool = False
    latest: int | None = 1
    cutoff: Cutoff | None = None  # --exclude-newer
    deny: tuple[Rule, ...] = ()  # --deny, --deny-file


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """The outcome for one project: chosen versions per target, kept and rejected files.

    ``rejected`` holds the files a rule refused; the files of versions nobody chose are
    kept as raw names in ``unchosen`` (a big project has tens of thousands) and become
    :class:`Rejected` records only when asked for, by :meth:`rejections`.
    """

    project: NormalizedName
    versions: dict[str, tuple[Version, ...]]
    kept: tuple[DistFile, ...]
    rejected: tuple[Rejected, ...]
    unchosen: tuple[tuple[Version, tuple[str, ...]], ...] = ()

    def rejections(self) -> Iterator[Rejected]:
        """Every file not kept, with its reason."""
        yield from self.rejected
        for version, filenames in self.unchosen:
            for name in filenames:
                yield Rejected(
                    project=self.project,
                    filename=name,
                    category="version",
                    reason=f"{name}: version {version} not chosen",
                )

    def counts(self) -> Counter[str]:
        """How many files were not kept, by category."""
        counts = Counter(r.category for r in self.rejected)
        counts["version"] += sum(len(names) for _, names in self.unchosen)
        return +counts


def hash_allowed(f: DistFile, allowed: Collection[tuple[str, str]]) -> bool:
    """Whether ``f`` may be one of the ``--hash`` values of its requirement.

    A file without a comparable advertised hash may be: its download is checked instead.
    """
    algorithms = {a for a, _ in allowed}
    advertised = {(a, d) for a, d in f.hashes.items() if a in algorithms}
    return not advertised or not advertised.isdisjoint(allowed)


def suits(f: DistFile, target: Target) -> bool:
    """Whether an installer on ``target`` can use ``f``."""
    if f.kind == "wheel" and not target.accepts_wheel(f.tags):
        return False
    return target.accepts_requires_python(f.requires_python)


def installs(files: Iterable[DistFile], target: Target, policy: Policy) -> DistFile | None:
    """The file of one version an installer on ``target`` takes, or ``None`` if none suits.

    The wheel whose best tag ranks highest in the target's order of preference, a higher
    build tag breaking ties (pip's and uv's rule); else an sdist, which it would build
    (``.tar.gz`` before ``.zip``). Yanked files come last. ``--binary-only`` and
    ``--source-only`` leave out sdists and wheels.
    """
    wheels: list[DistFile] = []
    sdists: list[DistFile] = []
    for f in files:
        if not suits(f, target) or _type_rule(f, policy) is not None:
            continue
        (wheels if f.kind == "wheel" else sdists).append(f)
    if wheels:
        return min(
            wheels,
            key=lambda f: (f.yanked is not None, target.wheel_rank(f.tags), _newest_build(f)),
        )
    if sdists:
        return min(sdists, key=lambda f: (f.yanked is not None, not f.filename.endswith(".tar.gz")))
    return None


def _newest_build(f: DistFile) -> tuple[int, ...]:
    """Sorts wheels with a higher build tag first (``-2-`` before ``-1-`` before none)."""
    build = parse_wheel_filename(f.filename)[2]
    return (-build[0],) if build else (0,)


def _type_rule(f: DistFile, policy: Policy) -> tuple[str, str] | None:
    if policy.deny and (rule := denied_by(policy.deny, f.project, f.version)):
        return "denied", f"{f.filename}: denied by {rule}"
    if policy.binary_only and f.kind == "sdist":
        return "binary-only", f"{f.filename}: sdist skipped (--binary-only)"
    if policy.source_only and f.kind == "wheel":
        return "source-only", f"{f.filename}: wheel skipped (--source-only)"
    if policy.cutoff is not None and policy.cutoff.holds_back(f):
        at = policy.cutoff.describe(f.project)
        if f.upload_time is None:
            return "cutoff", f"{f.filename}: no upload time, so not known to be before {at}"
        return "cutoff", f"{f.filename}: uploaded {f.upload_time}, not before {at}"
    return None


def _target_reason(f: DistFile, targets: Sequence[Target]) -> tuple[str, str]:
    if f.kind == "wheel" and not any(t.accepts_wheel(f.tags) for t in targets):
        tags = ".".join(sorted({str(t) for t in f.tags}))[:120]
        return "platform", f"{f.filename}: tags {tags} suit no target that chose {f.version}"
    return "requires-python", (
        f"{f.filename}: Requires-Python {f.requires_python} suits no target that chose {f.version}"
    )


def _file_rule(
    f: DistFile,
    chosen: Mapping[str, Collection[Version]],
    by_label: Mapping[str, Target],
    policy: Policy,
    all_files: bool,
    yanked_ok: Collection[Version],
    allowed_hashes: Collection[tuple[str, str]],
) -> tuple[str, str] | None:
    """Why a file of a chosen version is not kept, or ``None``."""
    rule = _type_rule(f, policy)
    if rule is None and f.yanked is not None and f.version not in yanked_ok:
        rule = "yanked", f"{f.filename}: yanked (kept only when pinned with ==)"
    if rule is None and allowed_hashes and not hash_allowed(f, allowed_hashes):
        rule = "hash", f"{f.filename}: hash not in the requirement's --hash list"
    if rule is None and not all_files:
        choosers = [by_label[label] for label, vs in chosen.items() if f.version in vs]
        if not any(suits(f, t) for t in choosers):
            rule = _target_reason(f, choosers)
    return rule


def select(
    page: ProjectPage,
    chosen: Mapping[str, Collection[Version]],
    targets: Sequence[Target],
    policy: Policy,
    *,
    all_files: bool = False,
    yanked_ok: Collection[Version] = (),
    allowed_hashes: Collection[tuple[str, str]] = (),
) -> Selection:
    """The files of ``page`` that the chosen versions need.

    ``chosen`` maps target labels to that target's versions of this project. A file is kept
    when a target that chose its version can install it; with ``all_files`` every file of a
    chosen version is kept (the no-target mode: a mirror for every environment). Yanked
    files count only for versions in ``yanked_ok`` (pinned with ``==``); with
    ``allowed_hashes`` (a ``--hash`` list) only files that may have one of them.
    """
    by_label = {t.label: t for t in targets}
    wanted = {v for versions in chosen.values() for v in versions}
    kept: list[DistFile] = []
    folded: dict[str, str] = {}  # kept names, case-folded
    rejected: list[Rejected] = []
    unchosen: list[tuple[Version, tuple[str, ...]]] = []
    for version in page.versions():
        if version not in wanted and (denial := denied_by(policy.deny, page.name, version)):
            # a denied version is said to be denied, not merely not chosen
            rejected += [
                Rejected(
                    project=page.name,
                    filename=name,
                    category="denied",
                    reason=f"{name}: denied by {denial}",
                )
                for name in page.filenames_of(version)
            ]
            continue
        if version not in wanted:
            # never validated, never used: refused for its version alone (unless validating
            # it, for some other purpose, found something worse)
            known = page.rejected_of(version)
            refused = {r.filename for r in known}
            rejected += known
            names = tuple(n for n in page.filenames_of(version) if n not in refused)
            unchosen.append((version, names))
            continue
        rejected += page.rejected_of(version)
        for f in page.files_of(version):
            rule = _file_rule(f, chosen, by_label, policy, all_files, yanked_ok, allowed_hashes)
            if rule is None and (twin := folded.get(f.filename.casefold())) is not None:
                # one of them would overwrite the other on a case-insensitive file system
                rule = "case-clash", f"{f.filename}: differs from {twin} only by case"
            if rule is None:
                kept.append(f)
                folded[f.filename.casefold()] = f.filename
            else:
                category, reason = rule
                rejected.append(
                    Rejected(
                        project=f.project, filename=f.filename, category=category, reason=reason
                    )
                )
    return Selection(
        project=page.name,
        versions={label: tuple(sorted(vs, reverse=True)) for label, vs in chosen.items()},
        kept=tuple(kept),
        rejected=(*page.refused, *rejected),
        unchosen=tuple(unchosen),
    )
