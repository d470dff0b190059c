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
from pathlib import Path
from typing import TypeVar

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from selmirror import hashes
from selmirror.download import Job, fetch_verified
from selmirror.errors import OutputError, UpstreamError
from selmirror.filter import Policy, suits
from selmirror.lazywheel import RangeNotSupported, remote_wheel_metadata
from selmirror.metadata import (
    BadDistribution,
    CoreMetadata,
    parse_core_metadata,
    sdist_pkg_info,
    wheel_metadata,
)
from selmirror.models import DistFile
from selmirror.pages import ProjectPage
from selmirror.progress import Progress
from selmirror.targets import Target
from selmirror.upstream import Upstream, check_status
from selmirror.urls import redact

log = logging.getLogger(__name__)
T = TypeVar("T")
K = TypeVar("K")
SMALL_WHEEL = 512 << 10  # below this a whole download beats two range requests
MAX_METADATA_BYTES = 10 << 20


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
        progress: Progress | None = None,
    ) -> None:
        self.upstream = upstream
        self.mirror = mirror
        self.targets = tuple(targets)
        self.policy = policy
        self.cache_dir = cache_dir
        self.progress = progress or Progress()
        # whole files downloaded for their metadata: filename -> (path, digests)
        self.fetched: dict[str, tuple[Path, dict[str, str]]] = {}
        self.fetched_bytes = 0
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1))
        self._lock = threading.Lock()
        self._pages: dict[NormalizedName, Future[ProjectPage]] = {}
        self._metadata: dict[tuple[NormalizedName, Version], Future[CoreMetadata]] = {}
        self._explored: set[tuple[NormalizedName, str, frozenset[str]]] = set()

    def close(self) -> None:
        """Stop exploring: drop what has not started, wait for what has."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- pages -------------------------------------------------------------------------

    def _submit(self, table: dict[K, Future[T]], key: K, fn: Callable[[], T]) -> Future[T]:
        with self._lock:
            future = table.get(key)
            if future is None:
                future = table[key] = self._pool.submit(fn)
        return future

    def page_future(self, name: NormalizedName) -> Future[ProjectPage]:
        def fetch() -> ProjectPage:
            try:
                return self.upstream.project_page(name)
            finally:
                self.progress.page_done(name)

        with self._lock:
            known = name in self._pages
        if not known:
            self.progress.page_queued()
        return self._submit(self._pages, name, fetch)

    def page(self, name: NormalizedName) -> ProjectPage:
        """The project page; raises the :class:`SelmirrorError` its fetch raised."""
        return self.page_future(name).result()

    def pages(self) -> dict[NormalizedName, ProjectPage]:
        """Every page fetched successfully so far."""
        with self._lock:
            futures = dict(self._pages)
        return {n: f.result() for n, f in futures.items() if f.done() and not f.exception()}

    def versions(self, name: NormalizedName) -> Mapping[Version, Sequence[DistFile]]:
        """The project's files by version, newest first, validated as they are read."""
        return self.page(name).by_version()

    # -- metadata ----------------------------------------------------------------------

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        return self.metadata_future(name, version).result()

    def metadata_future(self, name: NormalizedName, version: Version) -> Future[CoreMetadata]:
        return self._submit(
            self._metadata, (name, version), lambda: self._load_metadata(name, version)
        )

    def _load_metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        """One version's metadata, from the cheapest source that works.

        Assumes the wheels of one version declare the same dependencies (markers make the
        differences), as uv does; so one fetch serves every target.
        """
        files = self.versions(name)[version]
        if (local := self._from_mirror(name, files)) is not None:
            return local
        wheels = [f for f in files if f.kind == "wheel"]
        for f in wheels:
            if f.core_metadata is not None and (data := self._pep658(f)) is not None:
                return parse_core_metadata(data, sdist=False, source="pep658")
        if wheels:
            # a pure wheel when there is one (most are), else the smallest
            wheel = min(wheels, key=lambda f: (not _is_pure(f), f.size or 0))
            if wheel.size is not None and wheel.size <= SMALL_WHEEL:
                return self._from_whole_file(wheel)
            try:
                data = remote_wheel_metadata(self.upstream, wheel.url, wheel.filename)
                return parse_core_metadata(data, sdist=False, source="range")
            except RangeNotSupported:
                return self._from_whole_file(wheel)
        sdists = [f for f in files if f.kind == "sdist"]
        if not sdists:
            raise UpstreamError(f"{name} {version}: no file to read metadata from")
        return self._from_whole_file(min(sdists, key=lambda f: f.size or 0))

    def _from_mirror(self, name: NormalizedName, files: Sequence[DistFile]) -> CoreMetadata | None:
        """Metadata of a version the mirror already holds: its own sidecar or sdist.

        The mirror wrote those from verified files, so a re-run asks upstream nothing.
        """
        if self.mirror is None:
            return None
        folder = self.mirror / name
        for f in files:
            try:
                if f.kind == "wheel":
                    data = (folder / (f.filename + ".metadata")).read_bytes()
                    return parse_core_metadata(data, sdist=False, source="mirror")
                if (folder / f.filename).is_file():
                    data = sdist_pkg_info(folder / f.filename, f.filename)
                    return parse_core_metadata(data, sdist=True, source="mirror")
            except (OSError, BadDistribution):
                continue
        return None

    def _pep658(self, f: DistFile) -> bytes | None:
        url = f.url + ".metadata"

        def attempt() -> bytes | None:
            with self.upstream.session.get(url, timeout=self.upstream.timeout) as response:
                if response.status_code == 404:
                    return None
                check_status(response, url)
                return response.content[: MAX_METADATA_BYTES + 1]

        try:
            data = self.upstream.call(url, attempt)
        except UpstreamError as exc:
            log.debug("%s; reading the wheel instead", exc)
            return None
        if data is None:
            return None
        advertised = hashes.strongest(f.core_metadata or {})
        if advertised and hashlib.new(advertised[0], data).hexdigest() != advertised[1]:
            log.warning("%s fails its advertised hash; reading the wheel instead", redact(url))
            return None
        return data

    def _from_whole_file(self, f: DistFile) -> CoreMetadata:
        path = self.cache_dir / f.filename
        with self._lock:
            have = f.filename in self.fetched
        if not have:
            try:
                digests, count = fetch_verified(self.upstream, Job(file=f), path, self.progress)
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {exc.strerror}") from None
            with self._lock:
                self.fetched[f.filename] = (path, digests)
                self.fetched_bytes += count
        try:
            if f.kind == "wheel":
                return parse_core_metadata(
                    wheel_metadata(path, f.filename), sdist=False, source="wheel"
                )
            return parse_core_metadata(sdist_pkg_info(path, f.filename), sdist=True, source="sdist")
        except BadDistribution as exc:
            raise UpstreamError(f"cannot read the metadata of {exc}") from None

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
        page, and unless not ``deep`` the metadata and dependencies of its likely version."""
        key = (name, str(specifier), extras)
        with self._lock:
            if key in self._explored:
                return
            self._explored.add(key)
        try:
            future = self.page_future(name)
            if not deep:
                return
            future.add_done_callback(lambda page: self._explore_page(name, specifier, extras, page))
        except RuntimeError:  # the pool is shut down: the resolution is over
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
        try:
            self.metadata_future(name, version).add_done_callback(
                lambda meta: self._explore_dependencies(extras, meta)
            )
        except RuntimeError:
            return

    def _explore_dependencies(self, extras: frozenset[str], meta: Future[CoreMetadata]) -> None:
        if meta.cancelled() or meta.exception() is not None:
            return
        for line in meta.result().requires_dist:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.url is None and (
                req.marker is None or any(t.evaluate(req.marker, extras) for t in self.targets)
            ):
                self.explore(
                    canonicalize_name(req.name),
                    req.specifier,
                    frozenset(canonicalize_name(e) for e in req.extras),
                )

    def likely_version(self, name: NormalizedName, specifier: SpecifierSet) -> Version | None:
        """The version a resolver will most likely pick first for any target."""
        versions = self.versions(name)
        allowed = specifier.filter(versions, prereleases=self.policy.prereleases or None)
        for version in allowed:  # newest first: stop at the first one some target can use
            files = versions[version]
            if any(f.yanked is None and any(suits(f, t) for t in self.targets) for f in files):
                return version
        return None


def _is_pure(f: DistFile) -> bool:
    return any(tag.platform == "any" for tag in f.tags)
