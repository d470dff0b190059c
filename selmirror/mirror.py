"""The orchestrator: puts the stages in order and nothing else.

requirements -> upstream pages -> selection (filter) -> download -> index pages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import NormalizedName

from selmirror import localfiles
from selmirror.download import Downloader, Job, Outcome, plan
from selmirror.errors import SelmirrorError, UpstreamError
from selmirror.filter import Policy, Selection, Wanted, select
from selmirror.folder import MirrorFolder
from selmirror.index_writer import write_project, write_root
from selmirror.models import DistFile, ProjectPage, RequirementSet
from selmirror.progress import Progress
from selmirror.resolve import wanted_projects
from selmirror.targets import Target
from selmirror.upstream import Upstream

log = logging.getLogger(__name__)


class NoMatch(UpstreamError):
    """No file of a project satisfies the requirement for some target."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    local_folder: Path
    targets: tuple[Target, ...] = ()
    policy: Policy = field(default_factory=Policy)
    workers: int = 8
    dry_run: bool = False
    keep_going: bool = False
    lock_timeout: float = 300.0


@dataclass(kw_only=True)
class RunResult:
    """Everything a run decided and did; the report and the summary are built from it."""

    requirements: RequirementSet
    options: Options
    wanted: dict[NormalizedName, Wanted] = field(default_factory=dict)
    selections: dict[NormalizedName, Selection] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[SelmirrorError] = field(default_factory=list)
    pages_written: list[NormalizedName] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    def fail(self, error: SelmirrorError) -> None:
        """Record ``error``; without ``--ignore-errors`` it ends the run."""
        self.errors.append(error)
        if not self.options.keep_going:
            raise error
        log.error("%s", error)


def run(
    requirements: RequirementSet,
    upstream: Upstream,
    options: Options,
    progress: Progress | None = None,
) -> RunResult:
    """Mirror ``requirements``; raises the first error unless ``options.keep_going``."""
    progress = progress or Progress()
    result = RunResult(requirements=requirements, options=options)
    try:
        result.wanted = wanted_projects(requirements)
        pages = _fetch_pages(upstream, list(result.wanted), options.workers, progress, result)
        for name, page in pages.items():
            selection = select(page, result.wanted[name], options.targets, options.policy)
            result.selections[name] = selection
            for target in selection.unsatisfied:
                result.fail(_no_match(result.wanted[name], selection, target))
        folder = MirrorFolder(options.local_folder)
        if options.dry_run:
            result.outcomes = [plan(job, folder) for job in _jobs(folder, result)[1]]
        else:
            with folder.lock(options.lock_timeout):
                folder.clean_stale_temps()
                _download_and_write(folder, upstream, pages, result, progress)
    finally:
        result.elapsed = time.monotonic() - result.started
        progress.close()
    return result


def _fetch_pages(
    upstream: Upstream,
    names: Sequence[NormalizedName],
    workers: int,
    progress: Progress,
    result: RunResult,
) -> dict[NormalizedName, ProjectPage]:
    progress.pages_start(len(names))

    def one(name: NormalizedName) -> ProjectPage | SelmirrorError:
        try:
            return upstream.project_page(name)
        except SelmirrorError as exc:
            return exc
        finally:
            progress.page_done(name)

    pages: dict[NormalizedName, ProjectPage] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(names)))) as pool:
        for name, page in zip(names, pool.map(one, names), strict=True):
            if isinstance(page, SelmirrorError):
                result.fail(page)
            else:
                pages[name] = page
    return pages


def _no_match(wanted: Wanted, selection: Selection, target: str) -> NoMatch:
    counts: dict[str, int] = {}
    for r in selection.rejected:
        counts[r.category] = counts.get(r.category, 0) + 1
    why = ", ".join(f"{n} {c}" for c, n in sorted(counts.items(), key=lambda i: -i[1])[:4])
    where = "" if target == "any" else f" for target {target}"
    return NoMatch(
        f"no file of {wanted.name} matches {wanted}{where} "
        f"({', '.join(wanted.sources)}; rejected: {why or 'no files upstream'})"
    )


def _jobs(
    folder: MirrorFolder, result: RunResult
) -> tuple[dict[NormalizedName, dict[str, DistFile]], list[Job]]:
    """What the mirror recorded per project, and one job per kept file."""
    recorded = {name: folder.recorded(name) for name in result.selections}
    jobs = [
        Job(
            file=f,
            recorded=recorded[name].get(f.filename),
            allowed_hashes=result.wanted[name].allowed_hashes,
        )
        for name, selection in result.selections.items()
        for f in selection.kept
    ]
    return recorded, jobs


def _download_and_write(
    folder: MirrorFolder,
    upstream: Upstream,
    pages: dict[NormalizedName, ProjectPage],
    result: RunResult,
    progress: Progress,
) -> None:
    recorded, jobs = _jobs(folder, result)
    progress.downloads_start(len(jobs), sum(j.file.size or 0 for j in jobs))
    downloader = Downloader(upstream, folder, progress)
    result.outcomes = downloader.run(
        jobs, workers=result.options.workers, keep_going=result.options.keep_going
    )
    # pages after files: every page lists only files that are in place, and on disk
    for name in result.selections:
        done = [o for o in result.outcomes if o.job.file.project == name]
        files = _listing(folder, name, recorded[name], pages[name], done)
        write_project(folder, name, files)
        result.pages_written.append(name)
    write_root(folder)
    for outcome in result.outcomes:
        if outcome.error is not None:
            result.fail(outcome.error)


def _listing(
    folder: MirrorFolder,
    name: NormalizedName,
    recorded: dict[str, DistFile],
    page: ProjectPage,
    outcomes: Sequence[Outcome],
) -> list[DistFile]:
    """Every file in the project folder, with what is known about it.

    This run's files as verified; earlier runs' files as recorded, their yanked mark
    refreshed from the upstream page; unrecorded distributions found on disk, described
    from their own bytes.
    """
    directory = folder.project_dir(name)
    upstream_now = {f.filename: f for f in page.files}
    listing = {o.record.filename: o.record for o in outcomes if o.record is not None}
    for filename, old in recorded.items():
        if filename in listing or not (directory / filename).is_file():
            continue
        fresh = upstream_now.get(filename)
        listing[filename] = replace(old, yanked=fresh.yanked) if fresh else old
    for path in localfiles.candidates(directory, set(listing)):
        if record := localfiles.record_from_disk(path, name):
            listing[record.filename] = record
    return list(listing.values())
