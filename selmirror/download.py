"""Fetch distribution files into the mirror: concurrent, hash-checked, atomic.

A file streams into a temp file in its destination folder and is hashed on the way; it gets
its final name (``os.replace``) only after its hash and size matched. A mismatch deletes the
temp file, is retried once, then fails that file with both hashes in the message. A file
already in the mirror with its recorded size and hash is not fetched again, nor re-hashed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Literal

from selmirror import hashes, signals, workers
from selmirror.errors import IntegrityError, OutputError, SelmirrorError, UpstreamError
from selmirror.folder import (
    TMP_PREFIX,
    MirrorFolder,
    atomic_write,
    make_durable,
    settle,
    temp_file,
    writing,
)
from selmirror.metadata import BadDistribution, wheel_metadata
from selmirror.models import DistFile
from selmirror.pages import utc_now
from selmirror.progress import Progress
from selmirror.upstream import (
    Pace,
    Upstream,
    blocks,
    check_status,
)
from selmirror.urls import redact

log = logging.getLogger(__name__)

Status = Literal["downloaded", "present", "failed", "cancelled", "planned"]
CHUNK = 1 << 20  # large reads: fewer system calls and Python iterations per file


@dataclass(frozen=True, slots=True)
class Fetched:
    """A file downloaded and verified: its digests (sha256 always), its size, and for a
    wheel its METADATA, read where it was downloaded while its bytes were still cached
    (``None`` if the wheel has no readable METADATA: the sidecar step says why)."""

    digests: dict[str, str]
    size: int
    metadata: bytes | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One file to have in the mirror, and what the mirror recorded about it before."""

    file: DistFile
    recorded: DistFile | None = None
    allowed_hashes: frozenset[tuple[str, str]] = frozenset()
    # downloaded (or being downloaded) earlier in the run, verified: its path and digests
    prefetched: Future[tuple[Path, Fetched]] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What became of a job. ``record`` is the file as the mirror's pages must now list it."""

    job: Job
    status: Status
    record: DistFile | None = None
    # new bytes under a name the mirror already lists: verified, waiting beside the old file
    # (and its sidecar beside that) for the pages to let go of the old one; see ``swap``
    staged: Path | None = None
    error: SelmirrorError | None = None
    fetched_bytes: int = 0


class Downloader:
    """Runs jobs against one upstream session and one mirror folder."""

    def __init__(self, upstream: Upstream, folder: MirrorFolder, progress: Progress) -> None:
        self.upstream = upstream
        self.folder = folder
        self.progress = progress

    def run(self, jobs: Sequence[Job], *, workers: int, keep_going: bool) -> list[Outcome]:
        """Run every job; without ``keep_going`` the first failure cancels jobs not started.

        Returns once every fetched file (and sidecar) is on disk for good: one thread
        fsyncs each file as it lands, while the others go on downloading.
        """
        stop = threading.Event()
        syncs = []

        def one(job: Job) -> Outcome:
            if stop.is_set():
                return Outcome(job=job, status="cancelled")
            outcome = self.ensure(job)
            if outcome.status == "failed" and not keep_going:
                stop.set()
            if outcome.status == "downloaded":
                syncs.append(syncer.submit(make_durable, self._written(outcome)))
            self.progress.file_done(job.file.filename, outcome.status)
            return outcome

        # largest first, so no big file starts last and runs alone (LPT scheduling)
        order = sorted(range(len(jobs)), key=lambda i: -(jobs[i].file.size or 0))
        syncer = ThreadPoolExecutor(max_workers=1)
        pool = ThreadPoolExecutor(max_workers=max(workers, 1))
        try:
            done = dict(zip(order, pool.map(one, [jobs[i] for i in order]), strict=True))
        except BaseException:
            stop.set()
            wait = not signals.aborting()  # a signal: downloads under way are not waited for
            pool.shutdown(wait=wait, cancel_futures=True)
            syncer.shutdown(wait=wait, cancel_futures=True)
            raise
        pool.shutdown()
        syncer.shutdown()
        for sync in syncs:
            sync.result()  # an fsync error is an OSError: the run fails loudly
        return [done[i] for i in range(len(jobs))]

    def _written(self, outcome: Outcome) -> list[Path]:
        """The file an outcome put in place, and its ``.metadata`` sidecar if it has one."""
        f = outcome.job.file
        path = outcome.staged or self.folder.project_dir(f.project) / f.filename
        sidecar = path.with_name(path.name + ".metadata")
        return [path, sidecar] if outcome.record and outcome.record.core_metadata else [path]

    def ensure(self, job: Job) -> Outcome:
        """Make ``job.file`` present and verified in the mirror, with its metadata sidecar.

        New bytes under a name already in place (an index that re-serves a file) are not
        put there: they wait, verified, under a temp name (:func:`staging`), for
        :func:`swap` once the pages no longer list the old file.
        """
        f = job.file
        dest = self.folder.prepare(f.project) / f.filename
        target, staged = dest, None
        try:
            fetched = None
            digests = self._trusted(job, dest)
            if digests is None:
                if dest.exists():
                    target = staged = staging(dest)
                fetched = self._adopt(job, target, job.prefetched) if job.prefetched else None
                fetched = fetched or fetch_verified(self.upstream, job, target, self.progress)
                digests = fetched.digests
            kept = job.recorded.arrival_time if job.recorded and not fetched else None
            record = replace(
                f,
                origin="upstream",
                arrival_time=kept or utc_now(),
                hashes={"sha256": digests["sha256"]},
                size=target.stat().st_size,
                core_metadata=self._sidecar(job, target, fetched, digests["sha256"]),
            )
        except SelmirrorError as exc:
            return Outcome(job=job, status="failed", error=exc)
        except OSError as exc:
            error = OutputError(f"cannot write {dest}: {exc.strerror}")
            return Outcome(job=job, status="failed", error=error)
        status: Status = "downloaded" if fetched else "present"
        size = fetched.size if fetched else 0
        return Outcome(job=job, status=status, record=record, fetched_bytes=size, staged=staged)

    def _adopt(
        self, job: Job, dest: Path, prefetched: Future[tuple[Path, Fetched]]
    ) -> Fetched | None:
        """Move a file fetched earlier in this run into place (it was verified then)."""
        try:
            path, fetched = prefetched.result()
        except CancelledError:
            return None  # it never ran: download it here
        # a SelmirrorError propagates: that download was this file's download, and it failed
        if _problem(job, fetched.digests, path.stat().st_size) is not None:
            return None  # e.g. a --hash list it was not checked against: fetch for real
        os.replace(path, dest)
        return fetched

    def _trusted(self, job: Job, dest: Path) -> dict[str, str] | None:
        """Digests of a file already in place that needs no download, else ``None``."""
        try:
            size = dest.stat().st_size
        except FileNotFoundError:
            return None
        if job.recorded is not None and job.recorded.sha256 and is_current(job, size):
            return {"sha256": job.recorded.sha256}
        # on disk but not recorded (a killed run, a hand copy): hash this one file once
        digests = hashes.file_digest(dest, _algorithms(job))
        if _problem(job, digests, size) is None:
            log.info("%s: already in the mirror, hash verified", job.file.filename)
            return digests
        log.warning("%s: the copy in the mirror does not match upstream; fetching again", dest)
        return None

    def _sidecar(
        self, job: Job, dest: Path, fetched: Fetched | None, sha256: str
    ) -> dict[str, str] | None:
        """Put ``<wheel>.metadata`` beside a wheel; return its hashes for the pages.

        It is always the wheel's own METADATA, byte for byte: pip 26.2 refuses a sidecar
        that disagrees with the wheel, so an upstream ``.metadata`` that differs is not
        copied (a warning says so). A file that was in place keeps the sidecar the mirror
        recorded for it, if it is still there and recorded for these very bytes.
        """
        f = job.file
        if f.kind != "wheel":
            return None
        path = dest.with_name(dest.name + ".metadata")
        rec = job.recorded
        if (
            fetched is None
            and rec
            and rec.sha256 == sha256
            and rec.core_metadata
            and "sha256" in rec.core_metadata
            and path.exists()
        ):
            return dict(rec.core_metadata)
        data = fetched.metadata if fetched else None
        try:
            if data is None:  # a file that was in place, or a wheel without a readable one
                data = wheel_metadata(dest, f.filename)
        except BadDistribution as exc:
            log.warning("%s; no .metadata file for it", exc)
            return None
        advertised = hashes.strongest(f.core_metadata or {})
        if advertised and hashlib.new(advertised[0], data).hexdigest() != advertised[1]:
            log.warning(
                "%s: upstream's .metadata is not the wheel's own METADATA; the mirror serves "
                "the wheel's",
                f.filename,
            )
        atomic_write(path, data, sync=False)  # made durable with the wheel, before the pages
        return {"sha256": hashlib.sha256(data).hexdigest()}


def staging(dest: Path) -> Path:
    """Where new bytes for ``dest`` wait (a temp name: a killed run's is cleaned away)."""
    return dest.with_name(f"{TMP_PREFIX}new-{dest.name}")


def swap(staged: Path, dest: Path) -> None:
    """Put staged new bytes (and their sidecar, or none) in place of the old ones."""
    sidecar = staged.with_name(staged.name + ".metadata")
    old_sidecar = dest.with_name(dest.name + ".metadata")
    with writing(dest):
        os.replace(staged, dest)
        if sidecar.exists():
            os.replace(sidecar, old_sidecar)
        else:
            old_sidecar.unlink(missing_ok=True)
    make_durable([dest])


def fetch_verified(
    upstream: Upstream, job: Job, dest: Path, progress: Progress | None = None
) -> Fetched:
    """Download ``job.file`` to ``dest``; one more try after a hash or size mismatch.

    Streams into a temp file beside ``dest`` and moves it there only once verified.
    """
    try:
        return _download(upstream, job, dest, progress or Progress())
    except IntegrityError as exc:
        log.warning("%s; downloading once more", exc)
        return _download(upstream, job, dest, progress or Progress())


def _download(upstream: Upstream, job: Job, dest: Path, progress: Progress) -> Fetched:
    """Fetch in a worker process when they run (see :mod:`selmirror.workers`), else here."""
    if not workers.active():
        return _download_here(upstream, job, dest, progress)
    portable = replace(job, prefetched=None, recorded=None)
    what = f"downloading {job.file.filename}"
    fetched = workers.call(_download_quietly, upstream, portable, dest, what=what)
    progress.bytes_done(fetched.size)
    return fetched


def _download_quietly(upstream: Upstream, job: Job, dest: Path) -> Fetched:
    return _download_here(upstream, job, dest, Progress())


def _download_here(upstream: Upstream, job: Job, dest: Path, progress: Progress) -> Fetched:
    url = job.file.url

    def attempt() -> Fetched:
        fd, tmp = temp_file(dest.parent)
        try:
            digests, count = _stream(upstream, job, fd, progress)
            if problem := _problem(job, digests, count):
                raise IntegrityError(f"{problem} (from {redact(url)})")
            with open(tmp, "rb") as done:
                metadata = _own_metadata(job.file, done)  # before settle drops the bytes
                settle(done.fileno())
            os.replace(tmp, dest)
            return Fetched(digests, count, metadata)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    return upstream.call(url, attempt)


def _stream(
    upstream: Upstream, job: Job, fd: int, progress: Progress
) -> tuple[dict[str, str], int]:
    hashers = {a: hashlib.new(a) for a in _algorithms(job)}
    count = 0
    limit = job.file.size
    url = job.file.url
    pace = Pace(url, upstream.timeout)
    headers = {"Accept-Encoding": "identity", "Accept": "*/*"}
    with (
        os.fdopen(fd, "wb", buffering=CHUNK) as out,  # a MiB a system call, whatever comes
        upstream.session.get(
            url, stream=True, headers=headers, timeout=upstream.timeout
        ) as response,
    ):
        check_status(response, url)
        # the bytes on the wire, as pip hashes them: never decode Content-Encoding
        with contextlib.closing(blocks(response, pace)) as body:
            for chunk in body:
                count += len(chunk)
                if limit is not None and count > limit:
                    raise IntegrityError(
                        f"size mismatch for {job.file.filename}: more than the "
                        f"{limit} bytes upstream announced"
                    )
                if limit is None and count > upstream.max_file_size:
                    raise UpstreamError(
                        f"{job.file.filename}: larger than --max-file-size "
                        f"({upstream.max_file_size} bytes), and its page gives no size"
                    )
                for h in hashers.values():
                    h.update(chunk)
                out.write(chunk)
                progress.bytes_done(len(chunk))
    return {a: h.hexdigest() for a, h in hashers.items()}, count


def _own_metadata(f: DistFile, source: IO[bytes]) -> bytes | None:
    """A wheel's METADATA, or ``None`` (for an sdist, or a wheel without a readable one)."""
    if f.kind != "wheel":
        return None
    try:
        return wheel_metadata(source, f.filename)
    except BadDistribution:
        return None


def is_current(job: Job, size: int) -> bool:
    """Whether the recorded copy (of ``size`` bytes on disk) is the file upstream announces.

    Trusts the mirror's own page: no re-hash of the mirror on every run.
    """
    rec, f = job.recorded, job.file
    return (
        rec is not None
        and rec.sha256 is not None
        and rec.size == size
        and f.sha256 in (None, rec.sha256)
        and (f.size is None or f.size == size)
        and _allowed(job, {"sha256": rec.sha256})
    )


def plan(job: Job, folder: MirrorFolder) -> Outcome:
    """For ``--dry-run``: ``present`` if the mirror holds the file already, else ``planned``."""
    path = folder.project_dir(job.file.project) / job.file.filename
    try:
        current = is_current(job, path.stat().st_size)
    except FileNotFoundError:
        current = False
    return Outcome(job=job, status="present" if current else "planned", record=job.recorded)


def _algorithms(job: Job) -> tuple[str, ...]:
    wanted = {"sha256"} | {a for a, _ in job.allowed_hashes}
    if strongest := hashes.strongest(job.file.hashes):
        wanted.add(strongest[0])
    return tuple(sorted(wanted))


def _allowed(job: Job, digests: dict[str, str]) -> bool:
    """Whether ``digests`` satisfy the requirement's ``--hash`` list (if it has one).

    ``digests`` lacking every listed algorithm cannot prove anything: ``False``.
    """
    if not job.allowed_hashes:
        return True
    return any(digests.get(a) == d for a, d in job.allowed_hashes)


def _problem(job: Job, digests: dict[str, str], size: int) -> str | None:
    """Why a file with these digests and size is not the one upstream announced."""
    f = job.file
    if f.size is not None and size != f.size:
        return f"size mismatch for {f.filename}: expected {f.size} bytes, got {size}"
    expected = hashes.strongest(f.hashes)
    if expected is None:
        log.warning("%s: upstream gives no hash; recorded our own sha256", f.filename)
    elif digests[expected[0]] != expected[1]:
        algorithm, want = expected
        return (
            f"hash mismatch for {f.filename}: expected {algorithm} {want}, got {digests[algorithm]}"
        )
    elif expected[0] in hashes.WEAK:
        log.warning("%s: upstream offers only a weak %s hash", f.filename, expected[0])
    if not _allowed(job, digests):
        return f"hash of {f.filename} is not in the --hash list: sha256 {digests['sha256']}"
    return None
