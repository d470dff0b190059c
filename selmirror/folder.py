"""The mirror on disk: layout, lock, atomic writes, stale temp files, recorded pages.

Layout (the local folder is the simple root)::

    index.html, index.v1_json                 every project folder
    <normalized-name>/index.html, index.v1_json
    <normalized-name>/<file>, <file>.metadata
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror.errors import Locked, OutputError, UpstreamError
from selmirror.models import DistFile
from selmirror.pages import parse_json_page

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TMP_PREFIX = ".selmirror-tmp-"
LOCK_NAME = ".selmirror.lock"
STATE_DIR = ".selmirror"  # what runs remember; never part of the index
BASE_URL_FILE = "base-url"  # where the mirror is served, as --base-url said it
HTML_PAGE = "index.html"
JSON_PAGE = "index.v1_json"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()  # read once, at import: os.umask is process-wide


def temp_file(folder: Path, *, prefix: str = TMP_PREFIX) -> tuple[int, str]:
    """A new temp file in ``folder`` with the mode a plain ``open()`` would give.

    ``mkstemp`` makes it 0600; a web server running as another user could not read the
    mirror.
    """
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, _FILE_MODE)
    return fd, tmp


def atomic_write(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``.

    ``sync=False`` leaves the fsync to a later :func:`make_durable` of many files at once.
    """
    with writing(path):
        fd, tmp = temp_file(path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                if sync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Within the block, an OSError (a full disk, a read-only file system, a permission) is
    the one-line :class:`OutputError` that names ``path``."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def settle(fd: int) -> None:
    """Put a freshly written file on disk and out of the page cache.

    Each file is fsynced as it is finished, then its cached pages are let go: the mirror
    never reads them back, and a run writing gigabytes then neither evicts the machine's
    working set nor makes the kernel find fresh memory for every page (measured on W3 for
    8 targets: about half the system CPU time of leaving the bytes dirty for later).
    """
    os.fsync(fd)
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def make_durable(paths: Iterable[Path]) -> None:
    """fsync ``paths`` and their folders, so pages written next never outlive the files.

    Downloaded files went through :func:`settle` as they finished, so this costs little for them;
    it is what makes their sidecars and renames durable.
    """
    folders = set()
    for path in paths:
        folders.add(path.parent)
        _fsync(path)
    for folder in folders:
        _fsync(folder)


def _fsync(path: Path) -> None:
    with writing(path):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class MirrorFolder:
    """The local folder: where files and pages live, and who may write them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def project_dir(self, name: NormalizedName) -> Path:
        return self.root / name

    def prepare(self, name: NormalizedName) -> Path:
        path = self.project_dir(name)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create {path}: {exc.strerror}") from None
        return path

    @contextlib.contextmanager
    def lock(self, wait: float = 300.0) -> Iterator[None]:
        """Hold ``.selmirror.lock``; a second run waits up to ``wait`` seconds, then fails."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / LOCK_NAME, "a+")  # noqa: SIM115 - held for the block
        except OSError as exc:
            raise OutputError(f"cannot write to {self.root}: {exc.strerror}") from None
        with handle:
            if fcntl is not None:
                self._acquire(handle.fileno(), wait)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _acquire(self, fd: int, wait: float) -> None:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise OutputError(f"cannot lock {self.root}: {exc.strerror}") from None
            if time.monotonic() >= deadline:
                raise Locked(
                    f"another selmirror run is writing {self.root}; gave up after {wait:g}s",
                    hint="wait for it to finish, or raise --lock-timeout",
                )
            if not told:
                log.warning("another selmirror run is writing %s; waiting", self.root)
                told = True
            time.sleep(0.2)

    def clean_stale_temps(self) -> int:
        """Put right what a killed run left behind (only call while holding the lock): finish
        its pending removal (see :mod:`selmirror.prune`), then remove its temp files."""
        from selmirror import prune  # prune writes pages, which needs this module

        prune.finish(self)
        removed = 0
        for folder in (self.root, *self._project_dirs()):
            for path in folder.glob(TMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)  # a killed run's cache of prefetched files
                    else:
                        path.unlink()
                    removed += 1
        if removed:
            log.info("removed %d stale temporary file(s) from an earlier run", removed)
        return removed

    def remove_temps(self) -> int:
        """Remove every temp file and folder of the mirror (while holding the lock: they are
        this run's, which is failing, or a killed run's)."""
        removed = 0
        for folder in (self.root, *self._project_dirs()):
            for path in folder.glob(TMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)  # a run's cache of prefetched files
                    else:
                        path.unlink()
                    removed += 1
        return removed

    def _project_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [
            p
            for p in sorted(self.root.iterdir())
            if p.is_dir() and not p.is_symlink() and canonicalize_name(p.name) == p.name
        ]

    def projects(self) -> list[NormalizedName]:
        """Every project folder that has a page."""
        return [NormalizedName(p.name) for p in self._project_dirs() if (p / HTML_PAGE).is_file()]

    def recorded(self, name: NormalizedName) -> dict[str, DistFile]:
        """What this project's JSON page records about its files (empty if none or unreadable)."""
        page = self.project_dir(name) / JSON_PAGE
        try:
            body = page.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise OutputError(f"cannot read {page}: {exc.strerror}") from None
        try:
            return own_records(body, page.parent.resolve().as_uri() + "/", name)
        except UpstreamError as exc:
            log.warning("ignoring unreadable %s: %s", page, exc)
            return {}

    def set_base_url(self, url: str | None) -> bool:
        """Remember where the mirror is served (``None``: forget it); whether it changed."""
        if url == self.base_url():
            return False
        path = self.root / STATE_DIR / BASE_URL_FILE
        try:
            if url is None:
                path.unlink(missing_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, url.encode() + b"\n")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        return True

    def base_url(self) -> str | None:
        """Where the mirror is served (``--base-url``, remembered), if it was said."""
        try:
            text = (self.root / STATE_DIR / BASE_URL_FILE).read_text().strip()
        except (OSError, UnicodeError):
            return None
        return text if text.startswith("https://") and text.endswith("/") else None


def own_records(body: bytes, url: str, name: NormalizedName) -> dict[str, DistFile]:
    """Every file a JSON page of the mirror records: those it offers, and those it holds
    but withholds (a quarantined project's, under the private ``_withheld`` key)."""
    parsed = parse_json_page(body, url=url, project=name, schemes=("file",))
    records = {f.filename: f for f in parsed.files}
    if b'"_withheld"' in body:
        data = json.loads(body)
        held = data.get("_withheld") if isinstance(data, dict) else None
        if isinstance(held, list):
            shown = json.dumps({"meta": {"api-version": "1.4"}, "name": name, "files": held})
            page = parse_json_page(shown.encode(), url=url, project=name, schemes=("file",))
            records.update({f.filename: f for f in page.files})
    return records
