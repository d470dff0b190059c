"""The orchestrator: puts the stages in order and nothing else.

requirements -> resolution per target (pages and metadata from upstream) -> selection
(filter) -> download -> index pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from selmirror import (
    __version__,
    indexer,
    localfiles,
    provenance,
    prune,
    signals,
    takedowns,
    workers,
)
from selmirror.download import Downloader, Job, Outcome, plan, swap
from selmirror.errors import InputError, OutputError, SelmirrorError
from selmirror.filter import Policy, Selection, select
from selmirror.folder import (
    HTML_PAGE,
    JSON_PAGE,
    LOCK_NAME,
    TMP_PREFIX,
    MirrorFolder,
    atomic_write,
    writing,
)
from selmirror.index_writer import Keep, page_status, write_project, write_root
from selmirror.models import DistFile, RequirementSet
from selmirror.pages import ProjectPage, utc_now
from selmirror.progress import Progress
from selmirror.repository import Repository
from selmirror.resolve import MetadataUse, TargetResolution, resolve_all
from selmirror.state import (
    STATE_DIR,
    LastRun,
    PageStore,
    completed,
    fingerprint,
    last_run,
    remember_run,
)
from selmirror.takedowns import Gone
from selmirror.targets import Target
from selmirror.upstream import RawPage, Upstream

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    local_folder: Path
    targets: tuple[Target, ...]
    all_files: bool = False  # no target named: every file of each chosen version
    optional_targets: bool = False  # targets from the matrix may fail if others resolve
    follow_deps: bool = True
    build_deps: bool = True  # what building each sdist a target installs needs
    build_requirements: tuple[str, ...] = ()  # --build-requirement: for targets that build
    policy: Policy = field(default_factory=Policy)
    workers: int = 8
    processes: int = 0  # worker processes for pages and whole files (0: threads do it all)
    dry_run: bool = False
    keep_going: bool = False
    lock_timeout: float = 300.0
    download: bool = True  # False for ``selmirror prune``: decide, remove, fetch nothing
    detailed: bool = False  # a full account is wanted (--report): no shortcut when unchanged
    prune: bool = False
    keep_latest: int | None = None
    include_local: bool = False
    keep_removed: bool = False  # prune leaves the files upstream took down
    diff_file: Path | None = None
    base_url: str | None = None  # where the mirror is served (--base-url; "": forget it)


@dataclass(kw_only=True)
class RunResult:
    """Everything a run decided and did; the report and the summary are built from it."""

    requirements: RequirementSet
    options: Options
    resolutions: list[TargetResolution] = field(default_factory=list)
    skipped_targets: list[SelmirrorError] = field(default_factory=list)
    metadata: dict[tuple[NormalizedName, Version], MetadataUse] = field(default_factory=dict)
    selections: dict[NormalizedName, Selection] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[SelmirrorError] = field(default_factory=list)
    pages_written: list[NormalizedName] = field(default_factory=list)
    root_written: bool = False
    unchanged: dict[str, int] | None = None  # nothing to do: the last run's counts
    pruned: list[str] = field(default_factory=list)
    pruned_why: dict[str, str] = field(default_factory=dict)  # path -> why it went
    # files of the projects this run read that upstream no longer offers (takedowns.py)
    removed_upstream: list[Gone] = field(default_factory=list)
    # --exclude-newer: the versions newer than the one chosen whose files were all too new,
    # and how many files of those and of the chosen versions had no upload time at all
    held_back: dict[NormalizedName, list[Version]] = field(default_factory=dict)
    unknown_age: int = 0
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    def fail(self, *errors: SelmirrorError) -> None:
        """Record ``errors``; without ``--ignore-errors`` the last one ends the run."""
        for n, error in enumerate(errors):
            self.errors.append(error)
            if not self.options.keep_going and n == len(errors) - 1:
                raise error
            log.error("%s", error)


def run(
    requirements: RequirementSet,
    upstream: Upstream,
    options: Options,
    progress: Progress | None = None,
    result: RunResult | None = None,
) -> RunResult:
    """Mirror ``requirements``; raises the first error unless ``options.keep_going``.

    ``result``, if given, is filled in as the run goes, so that a failed run can still be
    reported: what it decided, and the error that ended it (in ``result.errors``).
    """
    progress = progress or Progress()
    result = result or RunResult(requirements=requirements, options=options)
    folder = MirrorFolder(options.local_folder)
    new_folder = not folder.root.exists()
    lock = contextlib.nullcontext() if options.dry_run else folder.lock(options.lock_timeout)
    # a re-run that may well find nothing to do (the nightly case) forks no processes
    maybe_unchanged = _shortcut_possible(options, last_run(folder.root))
    processes = 0 if maybe_unchanged else options.processes
    try:
        # forked first: before any thread, any connection, and the lock
        with workers.worker_processes(processes, upstream), lock:
            if not options.dry_run:
                folder.clean_stale_temps()
            try:
                with _cache(folder, options.dry_run) as cache:
                    _run_locked(requirements, upstream, options, progress, folder, cache, result)
            except BaseException:
                if not options.dry_run:  # what workers stopped mid-file left: ours to remove
                    workers.stop()
                    folder.remove_temps()
                raise
    except SelmirrorError as exc:
        if exc not in result.errors:
            result.errors.append(exc)
        if new_folder:  # a misspelled project: leave no folder holding only the lock file
            _remove_if_only_lock(folder)
        raise
    finally:
        result.elapsed = time.monotonic() - result.started
        progress.close()
    return result


def _run_locked(
    requirements: RequirementSet,
    upstream: Upstream,
    options: Options,
    progress: Progress,
    folder: MirrorFolder,
    cache: Path,
    result: RunResult,
) -> None:
    """The stages, in order, once the folder is ours (or for a dry run)."""
    if options.base_url is not None and not options.dry_run:
        _set_base_url(folder, options.base_url)
    store = PageStore(folder.root, read_only=options.dry_run)
    memory = last_run(folder.root)
    inputs = _inputs(requirements, upstream, options)
    fetched = _early_pages(upstream, store, memory, options)
    if fetched and _unchanged(folder, memory, inputs, fetched):
        result.unchanged = memory.summary
        if not options.dry_run:
            completed(folder.root)  # a run that found nothing to do completed all the same
        if options.diff_file is not None and not options.dry_run:
            atomic_write(options.diff_file, b"")
        return
    repo = Repository(
        upstream,
        targets=options.targets,
        policy=options.policy,
        workers=options.workers,
        cache_dir=cache,
        mirror=folder.root,
        store=store,
        fetched=fetched,
        narrow=_named_specifiers(requirements),
        speculate=not options.dry_run,  # a dry run downloads nothing it can avoid
        ahead=4 if workers.active() else 2,
        progress=progress,
    )
    # the named projects first (the resolver starts with them), then every other page the
    # last run needed, at once, instead of level by level as dependencies are discovered
    for root in requirements.requirements:
        repo.explore(
            root.name,
            root.requirement.specifier,
            frozenset(canonicalize_name(e) for e in root.requirement.extras),
            deep=options.follow_deps,
        )
    for name in memory.projects:
        repo.explore(name, SpecifierSet(), frozenset(), deep=False)
    try:
        try:
            resolved = resolve_all(
                repo,
                requirements,
                options.targets,
                options.policy,
                follow_deps=options.follow_deps,
                keep_going=options.keep_going,
                optional_targets=options.optional_targets,
                build_deps=options.build_deps,
                build_requirements=options.build_requirements,
            )
        finally:
            repo.stop_exploring()
        result.resolutions = resolved.targets
        result.skipped_targets = resolved.skipped
        result.metadata = resolved.metadata
        for skipped in resolved.skipped:
            log.warning("skipped: %s", skipped)
        # before the errors end a run: a takedown is noticed, and its project's pages say
        # so, even when the resolution now fails for it (a quarantined dependency)
        _notice_takedowns(folder, repo, result)
        if resolved.errors and options.prune:
            _prune(folder, requirements, result, knows_all=False)
        result.fail(*resolved.errors)
        pages = repo.pages()
        result.selections = _select(pages, result.resolutions, requirements, options)
        if options.policy.cutoff is not None:
            _held_back(pages, result, options.policy, _named_specifiers(requirements))
        result.fail(*_keep_private(folder, result.selections))
        jobs = _jobs(folder, result, repo)
        if options.dry_run or not options.download:
            result.outcomes = [plan(job, folder) for job in jobs]
        else:
            _download_and_write(folder, upstream, pages, jobs, result, progress)
        if options.prune and not resolved.errors:
            _prune(folder, requirements, result, knows_all=not result.errors)
        if not options.dry_run and options.download:
            done_well = not result.errors and not result.skipped_targets
            print_ = fingerprint(inputs, repo.digests) if done_well else None
            summary = {"projects": len(result.selections), "files": len(result.outcomes)}
            if done_well:
                completed(folder.root)
            try:
                remember_run(folder.root, repo.digests, fingerprint=print_, summary=summary)
            except (OutputError, OSError) as exc:  # memory: the next run is slower, not wrong
                log.warning("not remembering this run: %s", exc)
        if options.diff_file is not None and not options.dry_run:
            atomic_write(options.diff_file, "".join(f"{p}\n" for p in _changed(result)).encode())
    finally:
        repo.close()


def _set_base_url(folder: MirrorFolder, url: str) -> None:
    """Remember where the mirror is served; pages that link by it are rendered anew."""
    folder.root.mkdir(parents=True, exist_ok=True)
    if folder.set_base_url(url or None) and folder.projects():
        log.info("the mirror is served at %s now: rewriting its pages", url or "(unknown)")
        indexer.index(folder, full=True, rewrite=True)


def _remove_if_only_lock(folder: MirrorFolder) -> None:
    """A run that made the folder and failed before any file: it leaves no folder."""
    with contextlib.suppress(OSError):
        if {p.name for p in folder.root.iterdir()} <= {LOCK_NAME, STATE_DIR}:
            shutil.rmtree(folder.root / STATE_DIR, ignore_errors=True)
            (folder.root / LOCK_NAME).unlink(missing_ok=True)
            folder.root.rmdir()


def _prune(
    folder: MirrorFolder, requirements: RequirementSet, result: RunResult, *, knows_all: bool
) -> None:
    """Remove what the current requirements no longer need (``--prune``, ``prune``), and
    what upstream took down. A run with errors does not know all it needs (``knows_all``):
    it removes only the takedowns, which nothing can need."""
    options = result.options
    only_removed = not knows_all
    if only_removed:
        log.warning("not pruning: this run had errors, so it does not know all it needs")
        if options.keep_removed or not result.removed_upstream:
            return
        log.warning("removing only what upstream took down")
    needed = {name: {f.filename for f in s.kept} for name, s in result.selections.items()}
    named = {root.name for root in requirements.requirements}
    removal = prune.plan(
        folder,
        needed,
        named=named,
        keep_latest=options.keep_latest,
        include_local=options.include_local,
        keep_removed=options.keep_removed,
        only_removed=only_removed,
    )
    result.pruned = removal.paths
    result.pruned_why = removal.why
    for path in result.pruned:
        log.info("%s %s", "would prune" if options.dry_run else "pruning", path)
    if not options.dry_run:
        prune.apply(folder, removal)


def _notice_takedowns(folder: MirrorFolder, repo: Repository, result: RunResult) -> None:
    """Mark what upstream no longer offers, of every mirrored project whose page this run
    read (or found gone), and carry each page's PEP 792 status into the mirror's."""
    pages, missing = repo.pages(), repo.missing()
    now = utc_now()
    for name in folder.projects():
        if name not in pages and name not in missing:
            continue  # not read this run (another requirement set's, or a network failure)
        page = pages.get(name)
        records = folder.recorded(name)
        marked, gone = takedowns.mark(records, page, now)
        result.removed_upstream += gone
        for g in gone:
            if g.new:
                log.warning("%s/%s: removed upstream: %s", name, g.filename, g.why)
        status = page.project_status if page is not None else Keep.STATUS
        same_status = isinstance(status, Keep) or status == page_status(
            folder.project_dir(name) / JSON_PAGE
        )
        if result.options.dry_run or (marked == records and same_status):
            continue
        directory = folder.project_dir(name)
        write_project(
            folder, name, [r for f, r in marked.items() if (directory / f).is_file()], status
        )


def _changed(result: RunResult) -> list[str]:
    """The paths this run added or changed, relative to the mirror (``--diff-file``)."""
    paths = set()
    for o in result.outcomes:
        if o.status == "downloaded" and o.record is not None:
            f = o.record
            paths.add(f"{f.project}/{f.filename}")
            if f.core_metadata:
                paths.add(f"{f.project}/{f.filename}.metadata")
    for name in result.pages_written:
        paths |= {f"{name}/{HTML_PAGE}", f"{name}/{JSON_PAGE}"}
    if result.root_written:
        paths |= {HTML_PAGE, JSON_PAGE}
    return sorted(paths)


def _inputs(requirements: RequirementSet, upstream: Upstream, options: Options) -> object:
    """Everything besides upstream pages that decides what a run mirrors."""
    return {
        "selmirror": __version__,
        "requirements": [(str(r.requirement), sorted(r.hashes)) for r in requirements.requirements],
        "constraints": [str(r.requirement) for r in requirements.constraints],
        "pre": requirements.pre,
        "indexes": list(upstream.indexes),
        "targets": [t.label for t in options.targets],
        "abis": [list(t.abis) for t in options.targets],
        "all_files": options.all_files,
        "optional_targets": options.optional_targets,
        "follow_deps": options.follow_deps,
        "build_deps": [options.build_deps, *options.build_requirements],
        "locked": [r.locked for r in requirements.requirements],
        "policy": [
            options.policy.binary_only,
            options.policy.source_only,
            options.policy.prereleases,
            options.policy.latest,
            repr(options.policy.cutoff),  # a duration moves it: every run then resolves
            [str(rule) for rule in options.policy.deny],
        ],
    }


def _shortcut_possible(options: Options, memory: LastRun) -> bool:
    """Whether the run may end early, its result unchanged (see :func:`_unchanged`)."""
    return not (
        memory.fingerprint is None or options.detailed or options.prune or not options.download
    )


def _early_pages(
    upstream: Upstream, store: PageStore, memory: LastRun, options: Options
) -> dict[NormalizedName, tuple[RawPage, str]]:
    """When the last run left a fingerprint: every page it read, fetched at once (the
    resolution reuses them if something did change)."""
    if not _shortcut_possible(options, memory):
        return {}

    def one(name: NormalizedName) -> tuple[RawPage, str]:
        return upstream.fetch_raw(name, store.get(name))

    try:
        with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
            return dict(zip(memory.projects, pool.map(one, memory.projects), strict=True))
    except SelmirrorError:
        return {}  # the full run will say what is wrong, where


def _unchanged(
    folder: MirrorFolder,
    memory: LastRun,
    inputs: object,
    fetched: dict[NormalizedName, tuple[RawPage, str]],
) -> bool:
    """Same inputs, same pages, every file still in place: the last run's result stands."""
    digests = {n: hashlib.sha256(raw.body).hexdigest() for n, (raw, _) in fetched.items()}
    if fingerprint(inputs, digests) != memory.fingerprint:
        return False
    for name in memory.projects:
        directory = folder.project_dir(name)
        for filename, record in folder.recorded(name).items():
            try:
                if (directory / filename).stat().st_size != record.size:
                    return False
            except FileNotFoundError:
                return False
    return True


def _named_specifiers(requirements: RequirementSet) -> dict[str, SpecifierSet]:
    """What the named requirements and constraints allow of each project, whatever the
    target: exploring ahead of the resolver need not look past it."""
    out: dict[str, SpecifierSet] = {}
    for root in (*requirements.requirements, *requirements.constraints):
        if root.requirement.marker is None:
            out[root.name] = out.get(root.name, SpecifierSet()) & root.requirement.specifier
    return out


@contextlib.contextmanager
def _cache(folder: MirrorFolder, dry_run: bool) -> Iterator[Path]:
    """Where whole files fetched for their metadata wait: inside the mirror, so that a
    selected one moves into place without a copy; in the system's temp for a dry run."""
    if dry_run:
        with tempfile.TemporaryDirectory(prefix="selmirror-") as temporary:
            yield Path(temporary)
        return
    inside = folder.root / f"{TMP_PREFIX}cache-{os.getpid()}"
    with writing(inside):
        inside.mkdir(parents=True, exist_ok=True)
    try:
        with signals.temporary(inside):
            yield inside
    finally:
        shutil.rmtree(inside, ignore_errors=True)


def _allowed_hashes(requirements: RequirementSet) -> dict[str, frozenset[tuple[str, str]]]:
    """The ``--hash`` lists of the named requirements, by project."""
    out: dict[str, frozenset[tuple[str, str]]] = {}
    for root in requirements.requirements:
        out[root.name] = out.get(root.name, frozenset()) | root.hashes
    return out


def _select(
    pages: dict[NormalizedName, ProjectPage],
    resolutions: Sequence[TargetResolution],
    requirements: RequirementSet,
    options: Options,
) -> dict[NormalizedName, Selection]:
    hashes = _allowed_hashes(requirements)
    chosen: dict[NormalizedName, dict[str, set[Version]]] = {}
    yanked_ok: dict[NormalizedName, set[Version]] = {}
    for resolution in resolutions:
        for name, versions in resolution.versions.items():
            chosen.setdefault(name, {})[resolution.target.label] = versions
        for name, version in resolution.yanked_ok:
            yanked_ok.setdefault(name, set()).add(version)
    return {
        name: select(
            pages[name],
            chosen[name],
            options.targets,
            options.policy,
            all_files=options.all_files,
            yanked_ok=yanked_ok.get(name, set()),
            allowed_hashes=hashes.get(name, frozenset()),
        )
        for name in sorted(chosen)
    }


def _held_back(
    pages: dict[NormalizedName, ProjectPage],
    result: RunResult,
    policy: Policy,
    named: Mapping[str, SpecifierSet],
) -> None:
    """What ``--exclude-newer`` kept from each selected project: every version newer than
    the newest chosen, within what the user asked of it, whose files are all too new (or
    of unknown age)."""
    cutoff = policy.cutoff
    if cutoff is None:
        return
    for name, selection in result.selections.items():
        page = pages[name]
        chosen = [v for vs in selection.versions.values() for v in vs]
        newest = max(chosen, default=None)
        result.unknown_age += sum(
            1 for r in selection.rejected if r.category == "cutoff" and "no upload time" in r.reason
        )
        for version in page.versions():  # newest first
            if newest is not None and version <= newest:
                break
            if version.is_prerelease and not policy.prereleases:
                continue
            if name in named and not named[name].contains(version, prereleases=True):
                continue
            files = page.files_of(version)
            if files and all(cutoff.holds_back(f) for f in files):
                result.held_back.setdefault(name, []).append(version)
                result.unknown_age += sum(1 for f in files if f.upload_time is None)


def _keep_private(
    folder: MirrorFolder, selections: dict[NormalizedName, Selection]
) -> list[SelmirrorError]:
    """Drop the projects that have files uploaded to this mirror (``selmirror serve``) from
    ``selections``: the mirror is their first index, and upstream's files of the same name
    never go beside them (a public project named like a private one is how dependency
    confusion starts). Each is an error that names it."""
    errors: list[SelmirrorError] = []
    for name in sorted(selections):
        if any(r.origin == "upload" for r in folder.recorded(name).values()):
            del selections[name]
            errors.append(
                InputError(
                    f"{name} has files uploaded to this mirror: upstream's {name} is not "
                    "mirrored beside them",
                    hint=f"the requirements or a dependency name the private project {name}; "
                    "drop it from them, or remove its uploads to mirror the public one",
                )
            )
    return errors


def _jobs(folder: MirrorFolder, result: RunResult, repo: Repository) -> list[Job]:
    hashes = _allowed_hashes(result.requirements)
    jobs = []
    for name, selection in result.selections.items():
        recorded = folder.recorded(name)
        for f in selection.kept:
            jobs.append(
                Job(
                    file=f,
                    recorded=recorded.get(f.filename),
                    allowed_hashes=hashes.get(name, frozenset()),
                    prefetched=repo.fetched(f.filename),
                )
            )
    return jobs


def _download_and_write(
    folder: MirrorFolder,
    upstream: Upstream,
    pages: dict[NormalizedName, ProjectPage],
    jobs: list[Job],
    result: RunResult,
    progress: Progress,
) -> None:
    # every byte this run fetches, those fetched ahead during resolution too: the summary's
    to_fetch = [j for j in jobs if plan(j, folder).status == "planned"]
    progress.downloads_start(len(jobs), sum(j.file.size or 0 for j in to_fetch))
    downloader = Downloader(upstream, folder, progress)
    result.outcomes = downloader.run(
        jobs, workers=result.options.workers, keep_going=result.options.keep_going
    )
    # PEP 740: each file's provenance, fetched again (it may change), before pages list it
    refreshed = provenance.refresh(
        upstream,
        folder,
        [replace(o.record, provenance=o.job.file.provenance) for o in result.outcomes if o.record],
        result.options.workers,
    )
    by_name = {f.filename: f for f in refreshed}
    result.outcomes = [
        replace(o, record=by_name[o.record.filename]) if o.record is not None else o
        for o in result.outcomes
    ]
    # pages after files: every page lists only files that are in place, and on disk
    for name in result.selections:
        directory = folder.project_dir(name)
        done = [o for o in result.outcomes if o.job.file.project == name]
        recorded = folder.recorded(name)  # what the page said before this run
        _replace_staged(folder, name, recorded, done)
        listing = _listing(folder, name, recorded, pages[name], done) if directory.is_dir() else []
        if not listing and not (directory / HTML_PAGE).exists():
            # none of its files got in (a failure stopped the run first): no page, no folder
            with contextlib.suppress(OSError):
                directory.rmdir()
            continue
        if write_project(folder, name, listing, pages[name].project_status):
            result.pages_written.append(name)
    result.root_written = write_root(folder)
    result.fail(*[o.error for o in result.outcomes if o.error is not None])


def _replace_staged(
    folder: MirrorFolder,
    name: NormalizedName,
    recorded: dict[str, DistFile],
    outcomes: Sequence[Outcome],
) -> None:
    """Put new bytes under names the mirror lists (an index re-served a file) in place, so
    that no page ever lists a name whose bytes are not the ones it says: first the pages
    let go of the old files, then the files (and sidecars) change, then the pages list
    them anew (the caller writes those). A kill in between leaves them unlisted, and the
    next run, finding them unrecorded, checks them and lists them again."""
    staged = {o.job.file.filename: o.staged for o in outcomes if o.staged is not None}
    if not staged:
        return
    directory = folder.project_dir(name)
    keep = [f for n, f in recorded.items() if n not in staged and (directory / n).is_file()]
    write_project(folder, name, keep)
    for filename, path in staged.items():
        swap(path, directory / filename)


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
    listing = {o.record.filename: o.record for o in outcomes if o.record is not None}
    for filename, old in recorded.items():
        if filename in listing or not (directory / filename).is_file():
            continue
        fresh = page.find(filename)
        listing[filename] = provenance.held(
            directory, replace(old, yanked=fresh.yanked) if fresh else old
        )
    for path in localfiles.candidates(directory, set(listing)):
        if record := localfiles.record_from_disk(path, name):
            listing[record.filename] = record
    return list(listing.values())
