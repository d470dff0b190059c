"""Project pages and core metadata: each fetched once per run, concurrently, ahead of need.

The resolver is single-threaded and asks for one thing at a time. This repository answers
from futures, and explores the likely dependency graph in the background (the newest
matching version of every dependency, its metadata, its dependencies) so that the answers
are usually there before the resolver asks.

Metadata comes, in order of preference, from the PEP 658 ``.metadata`` file (hash-checked);
from the wheel itself read by HTTP range requests; from the whole wheel downloaded (kept for
the mirror if it is selected); from an sdist's PKG-INFO when it can be trusted.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror import hashes, signals, workers
from selmirror.download import Fetched, Job, fetch_verified
from selmirror.errors import OutputError, ProjectNotFound, SelmirrorError, UpstreamError
from selmirror.filter import Policy, installs, suits
from selmirror.folder import MirrorFolder
from selmirror.lazywheel import RangeNotSupported, remote_wheel_metadata
from selmirror.metadata import (
    MAX_METADATA_BYTES,
    BadDistribution,
    CoreMetadata,
    parse_core_metadata,
    parse_dependency,
    sdist_core_metadata,
    wheel_metadata,
)
from selmirror.models import DistFile
from selmirror.pages import ProjectPage
from selmirror.progress import Progress
from selmirror.state import PageStore
from selmirror.targets import Target
from selmirror.upstream import RawPage, Upstream, check_status, read_body
from selmirror.urls import redact

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")
SMALL_WHEEL = 512 << 10  # below this a whole download beats two range requests


class Repository:
    """Pages and metadata by project, shared by every target's resolution."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        targets: Sequence[Target],
        policy: Policy,
        workers: int,
        cache_dir: Path,
        mirror: Path | None = None,
        store: PageStore | None = None,
        fetched: Mapping[NormalizedName, tuple[RawPage, str]] | None = None,
        narrow: Mapping[str, SpecifierSet] | None = None,
        speculate: bool = False,
        ahead: int = 2,
        progress: Progress | None = None,
    ) -> None:
        self.upstream = upstream
        self.mirror = mirror
        self.store = store
        self._fetched = dict(fetched or {})  # raw pages read before the resolution began
        self.digests: dict[NormalizedName, str] = {}  # sha256 of every page read
        self.targets = tuple(targets)
        self.policy = policy
        self.cache_dir = cache_dir
        self.narrow = dict(narrow or {})
        self.speculate = speculate
        self.progress = progress or Progress()
        workers = max(workers, 1)
        # pages never wait behind metadata, nor metadata behind whole-file downloads
        self._page_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="page")
        self._meta_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="meta")
        # the files only later targets pick: read a few at a time while the first target
        # resolves, then all at once (see _promote)
        self._later_pool = ThreadPoolExecutor(
            max_workers=max(1, workers // 4), thread_name_prefix="meta-later"
        )
        self._later: dict[str, _Job[CoreMetadata]] = {}  # by filename, until promoted
        self._promoted = False
        # a few at a time: whole files ahead of need must not starve the pages and metadata
        # the resolver waits for (measured on W3: 2 when threads download, 4 when worker
        # processes do, were the fastest overall)
        self._file_pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="file")
        self._lock = threading.Lock()
        self._pages: dict[NormalizedName, _Job[ProjectPage]] = {}
        self._metadata: dict[str, _Job[CoreMetadata]] = {}  # by filename
        self._files: dict[str, Future[tuple[Path, Fetched]]] = {}
        self._explored: set[tuple[NormalizedName, str, frozenset[str]]] = set()
        self._recorded: dict[NormalizedName, dict[str, DistFile]] = {}  # the mirror's pages

    def stop_exploring(self) -> None:
        """Resolution is over: drop queued work, wait for pages and metadata under way.

        Whole-file downloads already running go on (:meth:`close` waits for them); the
        queued ones are dropped, for the download stage to do with all its workers.
        """
        wait = not signals.aborting()  # a signal: work under way is not waited for
        self._page_pool.shutdown(wait=wait, cancel_futures=True)
        self._meta_pool.shutdown(wait=wait, cancel_futures=True)
        self._later_pool.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            for future in self._files.values():
                future.cancel()  # only succeeds for those that have not started

    def close(self) -> None:
        self.stop_exploring()
        self._file_pool.shutdown(wait=not signals.aborting(), cancel_futures=True)

    def fetched(self, filename: str) -> Future[tuple[Path, Fetched]] | None:
        """The download of that file this run started (for metadata, or ahead of need)."""
        with self._lock:
            return self._files.get(filename)

    # -- pages -------------------------------------------------------------------------

    def _submit(
        self, pool: ThreadPoolExecutor, table: dict[K, _Job[T]], key: K, fn: Callable[[], T]
    ) -> _Job[T]:
        with self._lock:
            job = table.get(key)
            if job is None:
                job = table[key] = _Job(fn)
                pool.submit(job.run)
        return job

    def page_future(self, name: NormalizedName) -> Future[ProjectPage]:
        return self._page_job(name).future

    def _page_job(self, name: NormalizedName) -> _Job[ProjectPage]:
        def fetch() -> ProjectPage:
            try:
                early = self._fetched.get(name)
                what = f"fetching the page of {name}"
                page, digest = workers.call(
                    load_page, self.upstream, name, self.store, early, what=what
                )
                with self._lock:
                    self.digests[name] = digest
                return page
            finally:
                self.progress.page_done(name)

        with self._lock:
            known = name in self._pages
        if not known:
            self.progress.page_queued()
        return self._submit(self._page_pool, self._pages, name, fetch)

    def page(self, name: NormalizedName) -> ProjectPage:
        """The project page; raises the :class:`SelmirrorError` its fetch raised."""
        return self._page_job(name).result()

    def pages(self) -> dict[NormalizedName, ProjectPage]:
        """Every page fetched successfully so far."""
        with self._lock:
            futures = {name: job.future for name, job in self._pages.items()}
        return {
            n: f.result()
            for n, f in futures.items()
            if f.done() and not f.cancelled() and f.exception() is None
        }

    def missing(self) -> set[NormalizedName]:
        """The projects whose page every index answered 404 for (not a network failure)."""
        with self._lock:
            futures = {name: job.future for name, job in self._pages.items()}
        return {
            n
            for n, f in futures.items()
            if f.done() and not f.cancelled() and isinstance(f.exception(), ProjectNotFound)
        }

    def versions(self, name: NormalizedName) -> Mapping[Version, Sequence[DistFile]]:
        """The project's files by version, newest first, validated as they are read."""
        return self.page(name).by_version()

    def status(self, name: NormalizedName) -> str | None:
        """The project's PEP 792 status as its page says it (``None``: none given)."""
        return self.page(name).status

    # -- metadata ----------------------------------------------------------------------

    def metadata(self, f: DistFile) -> CoreMetadata:
        """What resolution needs of ``f``; read once per run, whoever asks."""
        with self._lock:
            later = f.filename in self._later
        if later:
            self._promote()
        return self._metadata_job(f).result()

    def metadata_future(self, f: DistFile, *, later: bool = False) -> Future[CoreMetadata]:
        """The metadata of ``f``, read ahead of need; ``later`` if only a target after the
        first would read it."""
        with self._lock:
            known = self._metadata.get(f.filename)
            later = later and known is None and not self._promoted
        if not later:
            return self._metadata_job(f).future
        job = self._metadata_job(f, self._later_pool)
        with self._lock:
            if not self._promoted:
                self._later[f.filename] = job
        return job.future

    def _metadata_job(
        self, f: DistFile, pool: ThreadPoolExecutor | None = None
    ) -> _Job[CoreMetadata]:
        """The read of ``f``'s metadata, queued for ``pool`` (the full one) if it is new."""
        return self._submit(
            pool or self._meta_pool, self._metadata, f.filename, lambda: self._load_metadata(f)
        )

    def _promote(self) -> None:
        """The resolver asks for a file only a later target picks: the first target is
        resolved, so every read left for the later targets goes to the full pool now.

        Targets resolve one after another, and the first is the one every run waits for:
        its reads go first, beside only a few of the others' (with 8 targets, exploring
        queued seven of those for each of its own). A job queued in both pools runs once,
        in whichever thread takes it first."""
        with self._lock:
            if self._promoted:
                return
            self._promoted = True
            jobs, self._later = list(self._later.values()), {}
        try:
            for job in jobs:
                self._meta_pool.submit(job.run)
        except RuntimeError:  # the pools are shut down: the resolution is over
            return

    def _load_metadata(self, f: DistFile) -> CoreMetadata:
        """The metadata of ``f`` itself, from the cheapest source that works.

        The wheels of one version may declare different dependencies (tensorflow's Windows
        wheel is a stub; torch's Linux wheels need CUDA packages its macOS wheels do not), so
        each target's resolution reads the file it would install.
        """
        if (local := self._from_mirror(f)) is not None:
            return local
        if f.kind == "sdist":
            return self._sdist_metadata(f)
        if self._done(f):
            return self._from_whole_file(f)
        what = f"reading the metadata of {f.filename}"
        if f.core_metadata is not None:
            found = workers.call(pep658_metadata, self.upstream, f, what=what)
            if found is not None:
                return found
        if self.speculate and f.size is not None and f.size <= SMALL_WHEEL:
            return self._from_whole_file(f)  # one request, and likely kept
        try:
            return workers.call(range_metadata, self.upstream, f, what=what)
        except RangeNotSupported:
            return self._from_whole_file(f)

    def _from_mirror(self, f: DistFile) -> CoreMetadata | None:
        """Metadata of a file the mirror already holds: its own sidecar, or the sdist.

        The mirror wrote those from verified files, so a re-run asks upstream nothing.
        """
        if self.mirror is None or not self._same_as_mirrored(f):
            return None
        path = self.mirror / f.project / f.filename
        try:
            if f.kind == "wheel":
                data = path.with_name(f.filename + ".metadata").read_bytes()
                return parse_core_metadata(data, source="mirror")
            if path.is_file():
                return self._with_fallback(f, sdist_core_metadata(path, f.filename))
        except OSError:
            pass
        return None

    def _same_as_mirrored(self, f: DistFile) -> bool:
        """Whether the mirror's copy of ``f`` is the file upstream lists now: an index may
        re-serve new bytes under a name, whose metadata the old copy does not tell."""
        assert self.mirror is not None
        with self._lock:
            recorded = self._recorded.get(f.project)
        if recorded is None:
            recorded = MirrorFolder(self.mirror).recorded(f.project)
            with self._lock:
                self._recorded[f.project] = recorded
        mine = recorded.get(f.filename)
        if mine is None or mine.sha256 is None:
            return False
        return f.sha256 == mine.sha256 if f.sha256 else f.size == mine.size

    def _sdist_metadata(self, f: DistFile) -> CoreMetadata:
        path, _ = self.fetch(f, now=True).result()
        return self._with_fallback(f, sdist_core_metadata(path, f.filename))

    def _with_fallback(self, f: DistFile, meta: CoreMetadata) -> CoreMetadata:
        """An sdist with no static dependency data takes those of a wheel of its version
        (a pure one if there is one), as the nearest thing to what its build would give."""
        if meta.dependencies_known:
            return meta
        wheels = [w for w in self.versions(f.project).get(f.version, ()) if w.kind == "wheel"]
        if not wheels:
            return meta
        wheel = min(wheels, key=lambda w: (not _is_pure(w), w.size or 0))
        try:
            # read here, not through the pool: a pool thread must never wait on the pool
            found = self._load_metadata(wheel)
        except SelmirrorError as exc:
            log.debug("%s; its dependencies stay unknown", exc)
            return meta
        return replace(
            meta,
            requires_dist=found.requires_dist,
            provides_extra=found.provides_extra,
            dependencies_known=True,
            source=f"{wheel.filename} (the sdist itself: {meta.source})",
        )

    def fetch(self, f: DistFile, *, now: bool = False) -> Future[tuple[Path, Fetched]]:
        """Download ``f`` whole into the cache, once per run: where, and what was fetched.

        Ahead of need it queues behind other such downloads; ``now`` (the resolver waits
        for it) runs it in the calling thread, taking it over if it was still queued.
        """

        def download() -> tuple[Path, Fetched]:
            path = self.cache_dir / f.filename
            try:
                return path, fetch_verified(self.upstream, Job(file=f), path, self.progress)
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {exc.strerror}") from None

        with self._lock:
            future = self._files.get(f.filename)
            if future is not None and now and future.cancel():
                future = None  # it was only queued: do it here, at once
            here = future is None and now
            if future is None:
                future = Future() if now else self._file_pool.submit(download)
                self._files[f.filename] = future
        if here:
            try:
                future.set_result(download())
            except Exception as exc:  # noqa: BLE001 - the future carries it to whoever waits
                future.set_exception(exc)
        return future

    def _from_whole_file(self, f: DistFile) -> CoreMetadata:
        path, fetched = self.fetch(f, now=True).result()
        try:
            data = fetched.metadata or wheel_metadata(path, f.filename)
        except BadDistribution as exc:
            raise UpstreamError(f"cannot read the metadata of {exc}") from None
        return parse_core_metadata(data, source="wheel")

    def _done(self, f: DistFile) -> bool:
        """Whether this run has already downloaded ``f`` whole."""
        future = self.fetched(f.filename)
        return (
            future is not None
            and future.done()
            and not future.cancelled()
            and future.exception() is None
        )

    # -- exploring ahead of the resolver -----------------------------------------------

    def explore(
        self,
        name: NormalizedName,
        specifier: SpecifierSet,
        extras: frozenset[str],
        *,
        deep: bool = True,
    ) -> None:
        """Fetch, in the background, what resolving this requirement will likely need: its
        page, and unless not ``deep`` the metadata and dependencies of its likely version
        (and, when speculating, the files of that version the targets would take)."""
        specifier = specifier & self.narrow.get(name, SpecifierSet())
        key = (name, str(specifier), extras)
        with self._lock:
            if key in self._explored:
                return
            self._explored.add(key)
        try:
            future = self.page_future(name)
            if not deep:
                return
            future.add_done_callback(
                _speculative(lambda page: self._explore_page(name, specifier, extras, page))
            )
        except RuntimeError:  # the pools are shut down: the resolution is over
            return

    def _explore_page(
        self,
        name: NormalizedName,
        specifier: SpecifierSet,
        extras: frozenset[str],
        page: Future[ProjectPage],
    ) -> None:
        if page.cancelled() or page.exception() is not None:
            return
        version = self.likely_version(name, specifier)
        if version is None:
            return
        files = self._likely_files(name, version)
        try:
            if self.speculate:
                for f, _ in files:
                    if not self._in_mirror(f):
                        self.fetch(f)
            for f, first in files:
                self.metadata_future(f, later=not first).add_done_callback(
                    _speculative(lambda meta: self._explore_dependencies(extras, meta))
                )
        except RuntimeError:
            return

    def _explore_dependencies(self, extras: frozenset[str], meta: Future[CoreMetadata]) -> None:
        if meta.cancelled() or meta.exception() is not None:
            return
        for line in meta.result().requires_dist:
            dep = parse_dependency(line)
            if dep is None or dep.url is not None:
                continue
            if dep.marker is None or any(t.evaluate(dep.marker, extras) for t in self.targets):
                self.explore(dep.name, dep.specifier, dep.extras)

    def likely_version(self, name: NormalizedName, specifier: SpecifierSet) -> Version | None:
        """The version a resolver will most likely pick first for any target."""
        versions = self.versions(name)
        allowed = specifier.filter(versions, prereleases=self.policy.prereleases or None)
        for version in allowed:  # newest first: stop at the first one some target can use
            files = versions[version]
            if any(f.yanked is None and self._wanted(f) for f in files):
                return version
        return None

    def _wanted(self, f: DistFile) -> bool:
        """Whether some target of this run can install ``f``."""
        return any(suits(f, t) for t in self.targets)

    def _in_mirror(self, f: DistFile) -> bool:
        """Whether the mirror seems to hold ``f`` already (the download stage checks)."""
        if self.mirror is None:
            return False
        try:
            return (self.mirror / f.project / f.filename).stat().st_size == f.size
        except OSError:
            return False

    def _likely_files(self, name: NormalizedName, version: Version) -> list[tuple[DistFile, bool]]:
        """Per target, the file an installer there would take, each once, in the targets'
        order; and whether the first target takes it."""
        files = [f for f in self.versions(name)[version] if f.yanked is None]
        chosen = [installs(files, target, self.policy) for target in self.targets]
        first = chosen[0].filename if chosen and chosen[0] is not None else None
        unique = {f.filename: f for f in chosen if f is not None}
        return [(f, f.filename == first) for f in unique.values()]


def pep658_metadata(upstream: Upstream, f: DistFile) -> CoreMetadata | None:
    """The metadata of ``f`` from its PEP 658 file, checked against the advertised hash;
    ``None`` when that file is missing or wrong (the wheel is read instead). Runs in a
    worker process when there are some: the network and the parsing stay off the GIL
    the resolver needs."""
    url = f.url + ".metadata"

    def attempt() -> bytes | None:
        with upstream.session.get(url, timeout=upstream.timeout, stream=True) as response:
            if response.status_code == 404:
                return None
            check_status(response, url)
            return read_body(response, url, upstream.timeout, MAX_METADATA_BYTES)

    try:
        data = upstream.call(url, attempt)
    except UpstreamError as exc:
        log.debug("%s; reading the wheel instead", exc)
        return None
    if data is None:
        return None
    advertised = hashes.strongest(f.core_metadata or {})
    if advertised and hashlib.new(advertised[0], data).hexdigest() != advertised[1]:
        log.warning("%s fails its advertised hash; reading the wheel instead", redact(url))
        return None
    return parse_core_metadata(data, source="pep658")


def range_metadata(upstream: Upstream, f: DistFile) -> CoreMetadata:
    """The metadata of the wheel ``f``, read by HTTP range requests (in a worker process
    when there are some); :class:`RangeNotSupported` if ranges will not do."""
    data = remote_wheel_metadata(upstream, f.url, f.filename, f.size)
    return parse_core_metadata(data, source="range")


def load_page(
    upstream: Upstream,
    name: NormalizedName,
    store: PageStore | None,
    early: tuple[RawPage, str] | None = None,
) -> tuple[ProjectPage, str]:
    """The page of ``name``, parsed, and the sha256 of its body; kept in ``store``.

    Revalidates the stored copy if there is one; ``early`` (fetched before the resolution
    began) is used as it is. Runs in a worker process when there are some.
    """
    stored = store.get(name) if store else None
    page, raw = upstream.project_page(name, stored, early)
    if store is not None and raw is not stored:
        try:
            store.put(name, raw)
        except (OutputError, OSError) as exc:  # a cache: the next run asks upstream again
            log.warning("not keeping the page of %s: %s", name, exc)
    return page, hashlib.sha256(raw.body).hexdigest()


class _Job(Generic[T]):
    """Work queued for a pool, which whoever needs its result first may run instead.

    The resolver asks for one page or one file's metadata at a time, while exploring
    ahead queues many (every target's files of every likely version): what the resolver
    waits for must not wait behind them. :meth:`result` runs the work in the calling thread
    if no pool thread has started it; the pool's turn then does nothing. Whoever runs it,
    :attr:`future` gets the outcome, and its callbacks run.
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._taken = False
        self._lock = threading.Lock()
        self.future: Future[T] = Future()

    def run(self) -> None:
        with self._lock:
            if self._taken:
                return
            self._taken = True
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            result = self._fn()
        except BaseException as exc:  # for whoever waits; an interrupt goes on up too
            self.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self.future.set_result(result)

    def result(self) -> T:
        self.run()
        return self.future.result()


def _speculative(callback: Callable[[Future[Any]], None]) -> Callable[[Future[Any]], None]:
    """``callback`` for a future, as exploring ahead uses them: what it fails at is only
    not done ahead (concurrent.futures would print a traceback, e.g. for a pool shut down
    by an interrupt between the check and the submit)."""

    def run(future: Future[Any]) -> None:
        try:
            callback(future)
        except Exception as exc:  # noqa: BLE001 - the resolution does it again, or says why
            log.debug("not explored ahead: %s: %s", type(exc).__name__, exc)

    return run


def _is_pure(f: DistFile) -> bool:
    return any(tag.platform == "any" for tag in f.tags)
