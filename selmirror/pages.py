"""Parse simple-repository project pages (PEP 691 JSON, PEP 503 HTML) into records.

Pure functions from bytes to :class:`~selmirror.models.ProjectPage`. Every upstream value is
hostile until checked here: a file entry that fails a check becomes a :class:`Rejected` with
its reason; a page that cannot be read at all raises :class:`UpstreamError` naming the URL.
The same parsers read selmirror's own pages back (``schemes=("file",)``).
"""

from __future__ import annotations

import codecs
import functools
import html
import logging
import pickle
import re
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from selmirror import hashes
from selmirror.errors import UpstreamError
from selmirror.lazyjson import Element, Span, scan, text_of
from selmirror.lazyjson import load_json as load_json  # for the readers of state files
from selmirror.models import DistFile, Kind, ProjectStatus, Rejected
from selmirror.urls import redact

log = logging.getLogger(__name__)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
SUPPORTED_MAJOR = 1
SUPPORTED_MINOR = 4
# A filename is one path component of these characters (wheel and sdist names need no others).
_SAFE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_UNSUPPORTED_SUFFIXES = (".egg", ".exe", ".msi", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".rpm")
_PLAIN_LINK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!%-]*")  # no "/", ":", "?" or "."-only
_UPLOAD_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", re.ASCII)
# No URL needs these, and requests cannot send a lone surrogate: refused, not sent.
_HEX = re.compile(r"[0-9a-f]{64}")
_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_SIZE = re.compile(r"[0-9]{1,19}")  # str.isdigit() also takes "²", which int() does not
_SCALARS = (str, int, float, bool, type(None))
# Codecs Python counts as text encodings that are no document's charset: idna and punycode
# decode host names (and fail on a page), undefined always fails.
_NOT_CHARSETS = frozenset({"idna", "punycode", "undefined"})


def text_codec(charset: str) -> str:
    """The codec that decodes text declared as ``charset``; :class:`LookupError` if the name
    is unknown or names no document encoding (``base64``, ``rot13``, ``idna``, ...)."""
    try:
        info = codecs.lookup(charset)
    except LookupError:
        raise LookupError(f"unknown encoding {charset[:40]!r}") from None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:
        raise LookupError(f"{charset[:40]!r} is not a text encoding")
    return info.name


class FileRefused(ValueError):
    """A page entry that cannot be mirrored; ``category`` is the key for counting."""

    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason


def dist_file(
    *,
    project: NormalizedName,
    filename: object,
    url: object,
    page_url: str,
    hashes_raw: Mapping[str, object],
    requires_python: object = None,
    yanked: object = None,
    size: object = None,
    upload_time: object = None,
    arrival_time: object = None,
    core_metadata: object = None,
    origin: object = None,
    removed_upstream: object = None,
    provenance: object = None,
    provenance_sha256: object = None,
    schemes: tuple[str, ...] = ("http", "https"),
) -> DistFile:
    """The one validating constructor of :class:`DistFile`; raises :class:`FileRefused`."""
    name = _check_filename(filename)
    if not isinstance(url, str) or not url:
        raise FileRefused("bad-url", f"{name}: missing URL")
    if _UNSENDABLE.search(url):
        raise FileRefused("bad-url", f"{name}: control character in URL {redact(url)[:200]!r}")
    try:
        absolute, fragment, scheme = _resolve(page_url, url)
    except ValueError as exc:  # urllib's own check: "Invalid IPv6 URL", a bad port, ...
        raise FileRefused("bad-url", f"{name}: unusable URL {redact(url)[:200]!r}: {exc}") from None
    if scheme not in schemes:
        raise FileRefused("bad-url", f"{name}: refused {scheme or 'schemeless'} URL {redact(url)}")
    raw = dict(hashes_raw)
    if fragment and "=" in fragment:
        algorithm, _, digest = fragment.partition("=")
        raw.setdefault(algorithm, digest)
    try:
        file_hashes = hashes.normalize(raw)
    except hashes.BadHash as exc:
        raise FileRefused("bad-hash", f"{name}: {exc}") from None
    segment = filename_of(absolute)
    if "/" in segment or "\\" in segment:
        raise FileRefused("bad-url", f"{name}: URL hides a path separator: {redact(url)}")
    if segment != name:
        log.debug("%s: URL %s names another file", name, redact(absolute))
    kind, version, tags = _parse_filename(name, project)
    return DistFile(
        project=project,
        filename=name,
        url=absolute,
        version=version,
        kind=kind,
        tags=tags,
        hashes=file_hashes,
        requires_python=_requires_python(requires_python, name),
        yanked=_yanked(yanked),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        upload_time=_timestamp(upload_time),
        arrival_time=_timestamp(arrival_time),
        core_metadata=_core_metadata(core_metadata) if kind == "wheel" else None,
        origin=origin if origin in ("upstream", "local", "upload") else None,
        removed_upstream=_timestamp(removed_upstream),
        provenance=_provenance(provenance, page_url),
        provenance_sha256=_sha256(provenance_sha256),
    )


def _sha256(value: object) -> str | None:
    return value if isinstance(value, str) and _HEX.fullmatch(value) else None


def _provenance(value: object, page_url: str) -> str | None:
    """PEP 740's provenance URL, made absolute; ``None`` unless it is a plain http(s) URL
    (it is fetched: never another scheme, never control characters)."""
    if not isinstance(value, str) or not value or len(value) > 2048 or _UNSENDABLE.search(value):
        return None
    try:
        absolute, _, scheme = _resolve(page_url, value)
    except ValueError:
        return None
    return absolute if scheme in ("http", "https") else None


def _resolve(page_url: str, url: str) -> tuple[str, str, str]:
    """``(absolute URL without fragment, fragment, lowercase scheme)`` of a page's link.

    Absolute http(s) links, most of what PyPI sends, skip ``urljoin``: pages with
    thousands of files made it the largest cost of parsing. :class:`ValueError` for a
    link urllib cannot parse.
    """
    link, _, fragment = url.partition("#")
    head = link[:8].lower()
    if "[" in link or "]" in link or not link.isascii():
        urlsplit(link)  # what urllib refuses (a bad IPv6 host, ...) raises ValueError here
    if head.startswith("https://"):
        return link, fragment, "https"
    if head.startswith("http://"):
        return link, fragment, "http"
    if _PLAIN_LINK.fullmatch(link) and page_url.endswith("/"):
        # a bare file name beside the page, as selmirror writes them: no urljoin needed
        return page_url.partition("#")[0].partition("?")[0] + link, fragment, _scheme(page_url)
    absolute = urljoin(page_url, link)
    return absolute, fragment, urlsplit(absolute).scheme.lower()


@functools.lru_cache(maxsize=256)
def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def utc_now() -> str:
    """Now, as PEP 700 writes times (``2026-12-04T18:00:00.123456Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp(value: object) -> str | None:
    """An RFC 3339 UTC time as PEP 700 writes it, else ``None``."""
    return value if isinstance(value, str) and _UPLOAD_TIME.fullmatch(value) else None


def filename_of(url: str) -> str:
    """The last path segment of ``url``, percent-decoded once."""
    segment = url.partition("#")[0].partition("?")[0].rsplit("/", 1)[-1]
    return unquote(segment) if "%" in segment else segment


def is_distribution_filename(filename: str) -> bool:
    """Whether ``filename`` is safe and ends like a wheel or sdist (no version check)."""
    return (
        _SAFE_FILENAME.fullmatch(filename) is not None
        and len(filename.encode()) <= 255
        and filename.endswith((".whl", ".tar.gz", ".zip"))
    )


def _check_filename(filename: object) -> str:
    if not isinstance(filename, str) or not filename:
        raise FileRefused("bad-filename", "entry without a filename")
    shown = filename[:120].encode("unicode_escape").decode()
    if not _SAFE_FILENAME.fullmatch(filename) or len(filename.encode()) > 255:
        raise FileRefused("bad-filename", f"unsafe filename {shown!r}")
    if filename.lower().endswith(_UNSUPPORTED_SUFFIXES):
        raise FileRefused("file-type", f"{filename}: unsupported file type")
    return filename


def _parse_filename(filename: str, project: NormalizedName) -> tuple[Kind, Version, frozenset[Tag]]:
    kind: Kind
    tags: frozenset[Tag] = frozenset()
    try:
        if filename.endswith(".whl"):
            name, version, tags = _parse_wheel(filename)
            kind = "wheel"
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            kind = "sdist"
        else:
            raise FileRefused("file-type", f"{filename}: unsupported file type")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        raise FileRefused(
            "bad-version", f"{filename}: not a valid distribution name or PEP 440 version"
        ) from None
    if name != project:
        raise FileRefused(
            "foreign-file", f"{filename}: belongs to project {name!r}, not {project!r}"
        )
    return kind, version, tags


def _parse_wheel(filename: str) -> tuple[NormalizedName, Version, frozenset[Tag]]:
    """``parse_wheel_filename`` in two halves: name, version and build with the tag part
    swapped for a trivial one, and the tag part alone, cached. A project's page lists
    thousands of wheels but a few dozen tag sets; parsing tags was most of the cost."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise InvalidWheelFilename(f"Invalid wheel filename (wrong number of parts): {filename!r}")
    name, version, _build, _ = parse_wheel_filename("-".join(parts[:-3]) + "-py3-none-any.whl")
    return name, version, _wheel_tags("-".join(parts[-3:]))


@functools.lru_cache(maxsize=16384)
def _wheel_tags(tag_text: str) -> frozenset[Tag]:
    return parse_wheel_filename(f"x-0-{tag_text}.whl")[3]


def _requires_python(value: object, filename: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    if not usable_specifier(value):
        log.warning("%s: ignoring invalid Requires-Python %r", filename, value[:80])
        return None
    return value.strip()


@functools.lru_cache(maxsize=4096)
def usable_specifier(value: str) -> bool:
    """Whether ``value`` is a PEP 440 specifier set that versions can be compared with."""
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return False
    return not too_long_number(value)


def too_long_number(text: str) -> bool:
    """Whether ``text`` holds more digits in a row than ``int()`` converts (4,300 by default).

    packaging raises ValueError, not InvalidVersion, for a version holding such a number;
    a specifier or marker holding one parses, then fails each comparison.
    """
    limit = _max_digits()
    return 0 < limit < len(text) and re.search(f"[0-9]{{{limit + 1}}}", text) is not None


def _max_digits() -> int:
    get = getattr(sys, "get_int_max_str_digits", None)  # Python 3.10.7 and later
    return int(get()) if get is not None else 0


def _yanked(value: object) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str):
        # a lone surrogate (JSON "\\udc80") cannot be written to a page: replaced
        return value if value.isascii() else value.encode("utf-8", "replace").decode()
    return None


def _core_metadata(value: object) -> dict[str, str] | None:
    """JSON ``core-metadata`` (bool or hashes) or HTML ``data-core-metadata`` ("true"/"alg=hex")."""
    if value is True or value == "true":
        return {}
    if isinstance(value, dict):
        try:
            return hashes.normalize(value)
        except hashes.BadHash:
            return None
    if isinstance(value, str) and "=" in value:
        algorithm, _, digest = value.partition("=")
        try:
            return hashes.normalize({algorithm: digest})
        except hashes.BadHash:
            return None
    return None


def _check_api_version(version: object, url: str) -> str:
    if version is None:
        return "1.0"
    if isinstance(version, bool) or not isinstance(version, (str, int, float)):
        raise UpstreamError(f"unreadable api-version at {redact(url)}: not a string")
    text = str(version)
    try:
        major, minor = (int(p) for p in text.split(".", 1))
    except ValueError:
        raise UpstreamError(f"unreadable api-version {text[:20]!r} at {redact(url)}") from None
    if major > SUPPORTED_MAJOR:
        raise UpstreamError(f"{redact(url)} speaks simple API {text}; selmirror knows 1.x")
    if minor > SUPPORTED_MINOR:
        log.warning("%s speaks simple API %s, newer than 1.%d", redact(url), text, SUPPORTED_MINOR)
    return text


@functools.lru_cache(maxsize=65536)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except ValueError:  # InvalidVersion, or a number too long for int() (see too_long_number)
        return None


def _version_text(filename: object, project: str | None = None) -> str | None:
    """The version part of a wheel or sdist filename, by string splitting alone.

    Only a key to group entries by: every entry is validated in full before it is used.
    With ``project``, ``None`` for a filename whose name part is another project's: a
    page may list ``cffi-1.0.2-2.tar.gz``, which is not cffi 2.
    """
    if not isinstance(filename, str):
        return None
    if filename.endswith(".whl"):
        parts = filename.split("-")
        name, version = (parts[0], parts[1]) if len(parts) in (5, 6) else ("", None)
    else:
        stem = next((filename[: -len(s)] for s in (".tar.gz", ".zip") if filename.endswith(s)), "")
        name, _, version = stem.rpartition("-")
    if project is not None and _canonical(name) != project:
        return None
    return version or None


@functools.lru_cache(maxsize=4096)
def _canonical(name: str) -> str:
    return canonicalize_name(name)


PROJECT_STATUSES = frozenset({"active", "archived", "quarantined", "deprecated"})
MAX_REASON = 1000  # characters of a status reason kept


def project_status(status: object, reason: object) -> ProjectStatus | None:
    """A PEP 792 status as a record: ``None`` for ``active`` (the default), for none, and
    for a value the PEP does not define (clients treat those as active)."""
    if not isinstance(status, str) or status not in PROJECT_STATUSES or status == "active":
        return None
    return ProjectStatus(
        status, reason[:MAX_REASON] if isinstance(reason, str) and reason else None
    )


class ProjectPage:
    """A parsed project page whose entries are validated lazily, one version at a time.

    Large projects list thousands of files (pydantic-core: 15,000), of which a run uses a
    few versions. Entries are grouped by the version their filename shows; a group is
    validated in full (:func:`dist_file`) the first time anything asks for it. Entries
    whose filename shows no valid version are validated (and refused) at once. An entry
    may be a :class:`~selmirror.lazyjson.Span` of the page's ``source`` (its body, or its
    text if that is not ASCII), decoded when its version is first used: a JSON page costs
    its body, which its raw form keeps anyway, and a few small objects per file.
    """

    def __init__(
        self,
        *,
        name: NormalizedName,
        url: str,
        entries: Iterable[Element] = (),
        source: bytes | str = b"",
        fields: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        refused: Iterable[Rejected] = (),
        page_url: str = "",
        api_version: str = "1.0",
        status: str | None = None,
        status_reason: str | None = None,
        schemes: tuple[str, ...] = ("http", "https"),
    ) -> None:
        self.name = name
        self.url = url
        self.api_version = api_version
        self.status = status
        self.project_status = project_status(status, status_reason)
        self._page_url = page_url or url
        self._schemes = schemes
        self._fields = fields or _as_is
        self._source = source
        self._lock = threading.Lock()
        self._groups: dict[Version, list[Element] | _Packed] = {}
        self._validated: dict[Version, tuple[tuple[DistFile, ...], tuple[Rejected, ...]]] = {}
        self._refused: list[Rejected] = list(refused)  # refused by the parser itself
        seen: set[str] = set()
        groups: dict[Version, list[Element]] = {}
        for entry in entries:
            filename = _entry_filename(entry)
            shown = _shown(filename)
            if status == "quarantined":
                self._refused.append(
                    self._reject(shown, "quarantined", "project is quarantined upstream")
                )
            elif not isinstance(filename, str):
                self._refused.extend(self._validate([entry])[1])
            elif filename in seen:
                self._refused.append(self._reject(shown, "duplicate", f"{shown}: listed twice"))
            else:
                seen.add(filename)
                version_text = _version_text(filename, name)
                version = _version(version_text) if version_text else None
                if version is not None:
                    groups.setdefault(version, []).append(entry)
                else:
                    self._refused.extend(self._validate([entry])[1])
        refused_now = self._refused
        self._groups.update(groups)
        self._order = sorted(self._groups, reverse=True)
        odd = [r.filename for r in refused_now if r.category == "bad-version"]
        if odd:
            log.warning(
                "%s: skipped %d file(s) with a non-PEP 440 version (%s%s)",
                name,
                len(odd),
                ", ".join(odd[:3]),
                ", ..." if len(odd) > 3 else "",
            )

    def __getstate__(self) -> dict[str, Any]:
        """For a worker process to send the page: each version's entries pickled apart, to
        be unpickled when that version is first used (most never are). Entries still in the
        page's source travel as their offsets, with the source."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_validated")}
        state["_groups"] = {
            v: self._packed(v, entries) if isinstance(entries, list) else entries
            for v, entries in self._groups.items()
        }
        return state

    def _packed(self, version: Version, entries: list[Element]) -> _Packed:
        spans = [e for e in entries if isinstance(e, Span)]
        if len(spans) == len(entries):
            offsets = array("q", [n for span in spans for n in (span.start, span.end)])
            return _Packed(tuple(span.filename for span in spans), spans=offsets)
        decoded = [self._decoded(e) for e in entries]  # an HTML page's: dicts already
        return _Packed(tuple(self.filenames_of(version)), _pickled(decoded))

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._validated = {}

    def _entries(self, version: Version) -> Sequence[Element]:
        """The raw entries of ``version`` (unpickled on first use after a transfer)."""
        group = self._groups.get(version, [])
        return group.unpacked() if isinstance(group, _Packed) else group

    def _decoded(self, entry: Element) -> dict[str, Any]:
        if isinstance(entry, Span):
            value: dict[str, Any] = load_json(self._source[entry.start : entry.end])
            return value  # an object: it was one when the page was scanned
        return entry

    def _reject(self, filename: str, category: str, reason: str) -> Rejected:
        return Rejected(project=self.name, filename=filename, category=category, reason=reason)

    def _validate(
        self, entries: Iterable[Element]
    ) -> tuple[tuple[DistFile, ...], tuple[Rejected, ...]]:
        files, rejected = [], []
        for element in entries:
            try:
                entry = self._decoded(element)
            except ValueError as exc:  # deep nesting, decoded now from a deeper stack
                shown = _shown(_entry_filename(element))
                rejected.append(self._reject(shown, "bad-entry", f"{shown}: {exc}"))
                continue
            fields = self._fields(entry)
            try:
                files.append(
                    dist_file(
                        project=self.name, page_url=self._page_url, schemes=self._schemes, **fields
                    )
                )
            except FileRefused as exc:
                shown = _shown(entry.get("filename"))
                rejected.append(self._reject(shown, exc.category, exc.reason))
        return tuple(files), tuple(rejected)

    def versions(self) -> list[Version]:
        """Every version some entry shows, newest first (some may have no valid file)."""
        return list(self._order)

    def _group(self, version: Version) -> tuple[tuple[DistFile, ...], tuple[Rejected, ...]]:
        with self._lock:
            done = self._validated.get(version)
            if done is None:
                done = self._validated[version] = self._validate(self._entries(version))
            return done

    def files_of(self, version: Version) -> tuple[DistFile, ...]:
        """The valid files of ``version`` (validated on first use)."""
        return self._group(version)[0]

    def rejected_of(self, version: Version) -> tuple[Rejected, ...]:
        """The entries of ``version`` that failed validation, if it was validated."""
        with self._lock:
            done = self._validated.get(version)
        return done[1] if done else ()

    def filenames_of(self, version: Version) -> list[str]:
        """The raw filenames listed under ``version``, without validating them."""
        group = self._groups.get(version, ())
        if isinstance(group, _Packed):
            return list(group.filenames)
        return [str(_entry_filename(e)) for e in group]

    def by_version(self) -> Mapping[Version, Sequence[DistFile]]:
        """Valid files by version, newest first; a version is validated when it is read."""
        return _ByVersion(self)

    def find(self, filename: str) -> DistFile | None:
        """The valid file of that name, if the page lists one."""
        text = _version_text(filename)
        version = _version(text) if text else None
        if version is None or version not in self._groups:
            return None
        return next((f for f in self.files_of(version) if f.filename == filename), None)

    @property
    def refused(self) -> tuple[Rejected, ...]:
        """Entries refused without a version to file them under."""
        return tuple(self._refused)

    @property
    def files(self) -> tuple[DistFile, ...]:
        """Every valid file (validates the whole page)."""
        return tuple(f for v in self._order for f in self.files_of(v))

    @property
    def rejected(self) -> tuple[Rejected, ...]:
        """Every refused entry (validates the whole page)."""
        return (*self._refused, *(r for v in self._order for r in self._group(v)[1]))


def _entry_filename(entry: Element) -> object:
    """The ``filename`` an entry gives, whatever it is."""
    return entry.filename if isinstance(entry, Span) else entry.get("filename")


class _Packed(NamedTuple):
    """A version's entries as a worker process sends them, with their filenames: pickled,
    or where they lie in the page's source (the start and end of each, in turn)."""

    filenames: tuple[str, ...]
    entries: bytes = b""
    spans: array[int] | None = None

    def unpacked(self) -> list[Element]:
        offsets = self.spans
        if offsets is not None:
            return [
                Span(name, offsets[2 * n], offsets[2 * n + 1])
                for n, name in enumerate(self.filenames)
            ]
        return pickle.loads(self.entries)  # type: ignore[no-any-return]  # noqa: S301 - ours


def _as_is(entry: dict[str, Any]) -> dict[str, Any]:
    return entry


def _shown(value: object) -> str:
    """An entry's filename for a message: never the ``str()`` of a container (a page's
    value may be nested deep enough for ``repr`` to exhaust the recursion limit)."""
    if isinstance(value, _SCALARS):
        return str(value)[:120]
    return f"<{type(value).__name__}>"


def _pickled(entries: list[dict[str, Any]]) -> bytes:
    """``entries`` pickled; a value nested deeper than the recursion limit allows (JSON
    parses deeper than pickle writes) is replaced by ``None``: no field takes a nested
    value, so every entry's verdict stays the same."""
    try:
        return pickle.dumps(entries, protocol=5)
    except RecursionError:
        return pickle.dumps([_flat(entry) for entry in entries], protocol=5)


def _flat(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with each value that is neither a scalar nor an object of scalars ``None``."""
    return {k: v if _shallow(v) else None for k, v in entry.items()}


def _shallow(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(v, _SCALARS) for v in value.values())
    return isinstance(value, _SCALARS)


class _ByVersion(Mapping[Version, Sequence[DistFile]]):
    def __init__(self, page: ProjectPage) -> None:
        self._page = page
        self._keys = page.versions()

    def __getitem__(self, version: Version) -> Sequence[DistFile]:
        if version not in self._page._groups:
            raise KeyError(version)
        return self._page.files_of(version)

    def __iter__(self) -> Iterator[Version]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def parse_json_page(
    body: bytes, *, url: str, project: NormalizedName, schemes: tuple[str, ...] = ("http", "https")
) -> ProjectPage:
    """Parse a PEP 691 project page."""
    where = redact(url)
    try:
        text = text_of(body)
        data, files = scan(text, "files")
    except ValueError as exc:  # UnicodeDecodeError and "nested too deeply" too
        raise UpstreamError(f"malformed JSON page at {where}: {exc}") from None
    if not isinstance(data, dict):
        raise UpstreamError(f"malformed JSON page at {where}: not an object")
    meta = data.get("meta")
    api_version = _check_api_version(
        meta.get("api-version") if isinstance(meta, dict) else None, url
    )
    name = data.get("name")
    if isinstance(name, str) and canonicalize_name(name) != project:
        raise UpstreamError(f"page at {where} is for project {name[:80]!r}, not {project!r}")
    if files is None:
        raise UpstreamError(f"malformed JSON page at {where}: 'files' is not a list")
    status_obj = data.get("project-status")
    status = reason = None
    if isinstance(status_obj, dict):  # the living spec and PyPI say "status", PEP 792 "state"
        status = status_obj.get("status", status_obj.get("state"))
        reason = status_obj.get("reason")
    return ProjectPage(
        name=project,
        url=redact(url),
        entries=files,
        source=body if len(text) == len(body) else text,  # one byte a character: ASCII
        fields=_json_fields,
        page_url=url,
        api_version=api_version,
        schemes=schemes,
        status=status if isinstance(status, str) else None,
        status_reason=reason if isinstance(reason, str) else None,
    )


def _json_fields(item: dict[str, Any]) -> dict[str, Any]:
    """A PEP 691 file object as :func:`dist_file` arguments (read when it is validated)."""
    raw_hashes = item.get("hashes")
    return {
        "filename": item.get("filename"),
        "url": item.get("url"),
        "hashes_raw": raw_hashes if isinstance(raw_hashes, dict) else {},
        "requires_python": item.get("requires-python"),
        "yanked": item.get("yanked"),
        "size": item.get("size"),
        "upload_time": item.get("upload-time"),
        "arrival_time": item.get("_arrival-time"),  # private: selmirror's own pages
        # PEP 714's name, its predecessor, and what PyPI's JSON actually says
        "core_metadata": item.get(
            "core-metadata", item.get("dist-info-metadata", item.get("data-dist-info-metadata"))
        ),
        "origin": item.get("_origin"),  # private key (leading "_"): selmirror's own pages
        "removed_upstream": item.get("_removed-upstream"),  # private, too
        # PEP 740; on selmirror's own pages the public key is the mirror's copy, and the
        # private one upstream's URL, for the next run to fetch again
        "provenance": item.get("_provenance", item.get("provenance")),
        "provenance_sha256": item.get("_provenance-sha256"),
    }


# The markup of a page, each construct matched once in one left-to-right pass: the time is
# linear whatever the page holds. (html.parser scans an unterminated construct to the end
# of the page again for every "<" after it: "<a" * 50,000 took 14 s on Python 3.11, and a
# hostile page of megabytes would hang the run.) What a tag the page's end cuts off, an
# unterminated comment or quote, mean follows HTML5: they run to the end.
_MARKUP = re.compile(
    r"""
      <!--.*?(?:--\s*>|\Z)                        # a comment
    | <(?P<end>/?)(?P<tag>[A-Za-z][^\s/>]*)       # a start or end tag, its attributes
      (?P<attrs>(?:[\s/]+|[^\s/>][^\s/>=]*(?:\s*=\s*(?:"[^"]*"?|'[^']*'?|[^\s>]*))?)*)
      (?P<gt>>?)
    | <[!?/][^>]*>?                               # a doctype, instruction or bogus comment
    """,
    re.DOTALL | re.VERBOSE,
)
_ATTRIBUTE = re.compile(r"""([^\s/>][^\s/>=]*)(?:\s*=\s*("[^"]*"?|'[^']*'?|[^\s>]*))?""")
_RAW_TEXT_END = {  # what ends a raw text element, as html.parser reads them
    "script": re.compile(r"</\s*script\s*>", re.IGNORECASE),
    "style": re.compile(r"</\s*style\s*>", re.IGNORECASE),
}
_Attributes = dict[str, "str | None"]


class _Markup(NamedTuple):
    """What a PEP 503 page says: its first ``<base href>``, its ``<meta>`` names, and its
    anchors with their attributes and text."""

    base: str | None
    meta: dict[str, str]
    anchors: list[tuple[_Attributes, str]]


def _read_markup(text: str) -> _Markup:
    """The anchors, ``<base>`` and ``<meta>`` of an HTML page, as html.parser gives them
    (lowercase names, character references decoded, the last of a repeated attribute, text
    of a ``<script>`` or ``<style>`` taken raw); an anchor ends at ``</a>``, the next
    ``<a>`` or the end of the page."""
    base: str | None = None
    meta: dict[str, str] = {}
    anchors: list[tuple[_Attributes, str]] = []
    anchor: _Attributes | None = None
    words: list[str] = []
    pos, size = 0, len(text)
    while pos < size:
        at = text.find("<", pos)
        at = size if at < 0 else at
        if anchor is not None and at > pos:
            words.append(_unescape(text[pos:at]))
        if at == size:
            break
        match = _MARKUP.match(text, at)
        if match is None:  # a "<" that opens nothing is text
            if anchor is not None:
                words.append("<")
            pos = at + 1
            continue
        pos = match.end()
        tag = match.group("tag")
        if tag is None or not match.group("gt"):  # not a tag, or one the page's end cut off
            continue
        tag = tag.lower()
        if match.group("end"):
            if tag == "a" and anchor is not None:
                anchors.append((anchor, "".join(words).strip()))
                anchor = None
            continue
        attrs, self_closing = _attributes(match.group("attrs"))
        if tag == "a":
            if anchor is not None:
                anchors.append((anchor, "".join(words).strip()))
            anchor, words = attrs, []
            if self_closing:
                anchors.append((anchor, ""))
                anchor = None
        elif tag == "base" and base is None:
            base = attrs.get("href")
        elif tag == "meta":
            name, content = attrs.get("name"), attrs.get("content")
            if name and content is not None:
                meta[name] = content
        elif tag in _RAW_TEXT_END and not self_closing:
            closing = _RAW_TEXT_END[tag].search(text, pos)
            stop = closing.start() if closing else size
            if anchor is not None:
                words.append(text[pos:stop])
            pos = closing.end() if closing else size
    if anchor is not None:
        anchors.append((anchor, "".join(words).strip()))
    return _Markup(base, meta, anchors)


def _attributes(raw: str) -> tuple[_Attributes, bool]:
    """A tag's attributes (``None`` for one without a value), and whether it closes itself."""
    attrs: _Attributes = {}
    end = 0
    for match in _ATTRIBUTE.finditer(raw):
        name, value = match.group(1).lower(), match.group(2)
        if value is not None and value[:1] in ("'", '"'):
            value = value[1:-1]  # the tag ended, so its quotes did
        attrs[name] = _unescape(value) if value else value
        end = match.end()
    return attrs, "/" in raw[end:]


def _unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def parse_html_page(
    body: bytes,
    *,
    url: str,
    project: NormalizedName,
    schemes: tuple[str, ...] = ("http", "https"),
    encoding: str = "utf-8",
) -> ProjectPage:
    """Parse a PEP 503 project page (anchors, ``data-*`` attributes, first ``<base href>``)."""
    try:
        text = body.decode(text_codec(encoding), errors="replace")
    except (LookupError, UnicodeError) as exc:  # an unknown charset, or no text encoding
        raise UpstreamError(f"unreadable HTML page at {redact(url)}: {exc}") from None
    markup = _read_markup(text)
    api_version = _check_api_version(markup.meta.get("pypi:repository-version"), url)
    status = markup.meta.get("pypi:project-status")
    reason = markup.meta.get("pypi:project-status-reason")
    try:
        base = urljoin(url, markup.base) if markup.base else url
    except ValueError as exc:  # "Invalid IPv6 URL", ...
        shown = str(markup.base)[:80]
        raise UpstreamError(
            f"unreadable HTML page at {redact(url)}: <base href> {shown!r}: {exc}"
        ) from None
    entries: list[dict[str, Any]] = []
    refused: list[Rejected] = []
    for attrs, text in markup.anchors:
        href = attrs.get("href")
        if not href:
            continue
        try:
            filename = filename_of(urljoin(base, href))
        except ValueError as exc:
            shown = href[:120].encode("unicode_escape").decode()
            reason = f"unusable URL {shown!r}: {exc}"
            refused.append(
                Rejected(project=project, filename=shown, category="bad-url", reason=reason)
            )
            continue
        if text and text != filename:
            reason = f"anchor text {text[:80]!r} is not the file name {filename[:80]!r}"
            refused.append(
                Rejected(
                    project=project, filename=filename[:120], category="bad-filename", reason=reason
                )
            )
            continue
        size = attrs.get("data-size") or ""
        entries.append(
            {
                "filename": filename,
                "url": href,
                "hashes_raw": {},
                "requires_python": attrs.get("data-requires-python"),
                # a bare data-yanked means yanked (uv reads it so; we re-emit it with a value)
                "yanked": (attrs["data-yanked"] or "") if "data-yanked" in attrs else None,
                "size": int(size) if _SIZE.fullmatch(size) else None,
                "upload_time": attrs.get("data-upload-time"),
                "core_metadata": attrs.get(
                    "data-core-metadata", attrs.get("data-dist-info-metadata")
                ),
                "provenance": attrs.get("data-provenance"),
            }
        )
    return ProjectPage(
        name=project,
        url=redact(base),
        entries=entries,
        refused=refused,
        page_url=base,
        api_version=api_version,
        status=status,
        status_reason=reason,
        schemes=schemes,
    )


def parse_page(
    body: bytes,
    content_type: str,
    *,
    url: str,
    project: NormalizedName,
    schemes: tuple[str, ...] = ("http", "https"),
) -> ProjectPage:
    """Dispatch on the response's Content-Type; anything else is an upstream error."""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    if mime in (JSON_TYPE, "application/json"):
        return parse_json_page(body, url=url, project=project, schemes=schemes)
    if mime in HTML_TYPES:
        charset = re.search(r"charset=([\w.-]+)", params, re.IGNORECASE)
        return parse_html_page(
            body,
            url=url,
            project=project,
            schemes=schemes,
            encoding=charset.group(1) if charset else "utf-8",
        )
    raise UpstreamError(f"unexpected Content-Type {mime[:60]!r} from {redact(url)}")
