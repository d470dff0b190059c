"""What a path under the prefix names in the mirror, and the pages as the mirror wrote them.

:func:`route` is pure: the decoded path after the prefix in, a :class:`Page`, a
:class:`File`, a :class:`Redirect` or ``None`` (404) out. Only the shapes the mirror writes
are ever reachable: a normalized project name, then a distribution filename, its
``.metadata`` or its ``.provenance``. Dotfiles, the mirror's state, temp files and ``..``
never match.

:class:`Pages` reads a page the way the mirror left it on disk: one ``stat`` per request,
and the bytes (with their ETag and gzip) kept until the file changes. The mirror replaces
pages atomically, and only after the files they list are in place (and removes files only
after the pages no longer list them), so a page read at any moment lists files that exist.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from selmirror.folder import HTML_PAGE, JSON_PAGE
from selmirror.pages import is_distribution_filename
from selmirror.serve.negotiate import Representation

PAGE_FILES: dict[Representation, str] = {"json": JSON_PAGE, "html": HTML_PAGE}
MAX_PAGE_BYTES = 256 << 20  # a page larger than this is not cached, only read and sent
GZIP_MIN_BYTES = 256  # smaller pages grow when compressed


@dataclass(frozen=True, slots=True)
class Page:
    """A page: the root list (``project`` is ``None``) or one project's."""

    project: NormalizedName | None


@dataclass(frozen=True, slots=True)
class File:
    """A distribution file, its ``.metadata`` or ``.provenance``, in its project's folder."""

    project: NormalizedName
    filename: str


@dataclass(frozen=True, slots=True)
class Redirect:
    """A permanent redirect to this path under the prefix (the canonical URL)."""

    path: str


Target = Page | File | Redirect | None


def route(rest: str) -> Target:
    """What the decoded path ``rest`` (after the prefix) names."""
    if rest == "":
        return Page(None)
    parts = rest.split("/")
    if len(parts) > 2 or any(p == "" for p in parts[:-1]):
        return None
    try:
        name = canonicalize_name(parts[0], validate=True)
    except InvalidName:
        return None
    if len(parts) == 1:  # no trailing slash
        return Redirect(f"{name}/")
    filename = parts[1]
    if name != parts[0]:
        return Redirect(f"{name}/{filename}")
    if filename == "":
        return Page(name)
    if filename.endswith(".provenance"):  # PEP 740, beside a wheel or an sdist
        signed = filename.removesuffix(".provenance")
        return File(name, filename) if is_distribution_filename(signed) else None
    dist = filename.removesuffix(".metadata")
    if not is_distribution_filename(dist) or (dist != filename and not dist.endswith(".whl")):
        return None
    return File(name, filename)


def project_dir(root: Path, name: NormalizedName) -> Path | None:
    """The project's folder if it is a real folder of the tree (not a symlink)."""
    path = root / name
    try:
        is_folder = stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return None
    return path if is_folder else None


def file_path(root: Path, real_root: str, target: File) -> tuple[Path, os.stat_result] | None:
    """The file ``target`` names, with its ``stat``, if it is a regular file inside the
    tree (a symlink is followed only when it stays inside ``real_root``)."""
    folder = project_dir(root, target.project)
    if folder is None:
        return None
    path = folder / target.filename
    try:
        st = path.lstat()
        if not _regular(st):
            if not os.path.realpath(path).startswith(real_root + os.sep):
                return None
            st = path.stat()
            if not _regular(st):
                return None
    except OSError:
        return None
    return path, st


def _regular(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)


@dataclass(frozen=True, slots=True)
class Body:
    """A page's bytes as sent: identity or gzip, with its validators."""

    data: bytes
    etag: str
    last_modified: str


class _Cached:
    __slots__ = ("gzipped", "identity", "key")

    def __init__(self, key: tuple[int, int, int], identity: Body) -> None:
        self.key = key
        self.identity = identity
        self.gzipped: Body | None = None


class Pages:
    """Page bytes (and other small files: ``.metadata``) by path, re-read when the file's
    inode, mtime or size changes; at most ``budget`` bytes are kept (least recently used
    go first). Each worker process has its own, used from its one event loop."""

    def __init__(self, budget: int = 64 << 20) -> None:
        self.budget = budget
        self._held = 0
        self._cache: OrderedDict[str, _Cached] = OrderedDict()

    def get(self, path: Path, *, gzipped: bool, st: os.stat_result | None = None) -> Body | None:
        """The file at ``path`` (gzip-encoded if ``gzipped`` and worth it), ``st`` its
        ``stat`` if the caller has it; ``None`` if there is no such file."""
        key = str(path)
        if st is None:
            try:
                st = os.stat(key)
            except OSError:
                return None
        entry = self._cache.get(key)
        if entry is None or entry.key != (st.st_ino, st.st_mtime_ns, st.st_size):
            entry = self._load(key)
            if entry is None:
                return None
        else:
            self._cache.move_to_end(key)
        if not gzipped or len(entry.identity.data) < GZIP_MIN_BYTES:
            return entry.identity
        if entry.gzipped is None:
            body = entry.identity
            data = gzip.compress(body.data, compresslevel=6, mtime=0)
            entry.gzipped = Body(data, body.etag[:-1] + '-gzip"', body.last_modified)
            self._account(len(data))
        return entry.gzipped

    def _load(self, key: str) -> _Cached | None:
        try:
            with open(key, "rb") as f:
                st = os.fstat(f.fileno())
                if not _regular(st) or st.st_size > MAX_PAGE_BYTES:
                    return None
                data = f.read()
        except OSError:
            return None
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        entry = _Cached(
            (st.st_ino, st.st_mtime_ns, st.st_size),
            Body(data, etag, formatdate(st.st_mtime, usegmt=True)),
        )
        old = self._cache.pop(key, None)
        if old is not None:
            self._held -= _size(old)
        self._cache[key] = entry
        self._account(len(data))
        return entry

    def _account(self, size: int) -> None:
        self._held += size
        while self._held > self.budget and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._held -= _size(old)


def _size(entry: _Cached) -> int:
    return len(entry.identity.data) + (len(entry.gzipped.data) if entry.gzipped else 0)
