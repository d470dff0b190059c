"""Parse simple-repository project pages (PEP 691 JSON, PEP 503 HTML) into records.

Pure functions from bytes to :class:`~selmirror.models.ProjectPage`. Every upstream value is
hostile until checked here: a file entry that fails a check becomes a :class:`Rejected` with
its reason; a page that cannot be read at all raises :class:`UpstreamError` naming the URL.
The same parsers read selmirror's own pages back (``schemes=("file",)``).
"""

from __future__ import annotations

import functools
import json
import logging
import pickle
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from html.parser import HTMLParser
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
from selmirror.models import DistFile, Kind, Rejected
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
_UPLOAD_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


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
    core_metadata: object = None,
    origin: object = None,
    schemes: tuple[str, ...] = ("http", "https"),
) -> DistFile:
    """The one validating constructor of :class:`DistFile`; raises :class:`FileRefused`."""
    name = _check_filename(filename)
    if not isinstance(url, str) or not url:
        raise FileRefused("bad-url", f"{name}: missing URL")
    absolute, fragment, scheme = _resolve(page_url, url)
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
        upload_time=upload_time
        if isinstance(upload_time, str) and _UPLOAD_TIME.fullmatch(upload_time)
        else None,
        core_metadata=_core_metadata(core_metadata) if kind == "wheel" else None,
        origin=origin if origin in ("upstream", "local") else None,
    )


def _resolve(page_url: str, url: str) -> tuple[str, str, str]:
    """``(absolute URL without fragment, fragment, lowercase scheme)`` of a page's link.

    Absolute http(s) links, most of what PyPI sends, skip ``urljoin``: pages with
    thousands of files made it the largest cost of parsing.
    """
    link, _, fragment = url.partition("#")
    head = link[:8].lower()
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


def filename_of(url: str) -> str:
    """The last path segment of ``url``, percent-decoded once."""
    segment = url.partition("#")[0].partition("?")[0].rsplit("/", 1)[-1]
    return unquote(segment) if "%" in segment else segment


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
    if not _valid_specifier(value):
        log.warning("%s: ignoring invalid Requires-Python %r", filename, value[:80])
        return None
    return value.strip()


@functools.lru_cache(maxsize=4096)
def _valid_specifier(value: str) -> bool:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        return False
    return True


def _yanked(value: object) -> str | None:
    if value is True:
        return ""
    if isinstance(value, str):
        return value
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
    except InvalidVersion:
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


class ProjectPage:
    """A parsed project page whose entries are validated lazily, one version at a time.

    Large projects list thousands of files (pydantic-core: 15,000), of which a run uses a
    few versions. Entries are grouped by the version their filename shows; a group is
    validated in full (:func:`dist_file`) the first time anything asks for it. Entries
    whose filename shows no valid version are validated (and refused) at once.
    """

    def __init__(
        self,
        *,
        name: NormalizedName,
        url: str,
        entries: Iterable[dict[str, Any]] = (),
        fields: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        refused: Iterable[Rejected] = (),
        page_url: str = "",
        api_version: str = "1.0",
        status: str | None = None,
        schemes: tuple[str, ...] = ("http", "https"),
    ) -> None:
        self.name = name
        self.url = url
        self.api_version = api_version
        self.status = status
        self._page_url = page_url or url
        self._schemes = schemes
        self._fields = fields or _as_is
        self._lock = threading.Lock()
        self._groups: dict[Version, list[dict[str, Any]] | _Packed] = {}
        self._validated: dict[Version, tuple[tuple[DistFile, ...], tuple[Rejected, ...]]] = {}
        self._refused: list[Rejected] = list(refused)  # refused by the parser itself
        seen: set[str] = set()
        groups: dict[Version, list[dict[str, Any]]] = {}
        for entry in entries:
            filename = entry.get("filename")
            shown = str(filename)[:120]
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
                text = _version_text(filename, name)
                version = _version(text) if text else None
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
        be unpickled when that version is first used (most never are)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_validated")}
        state["_groups"] = {
            v: _Packed(tuple(self.filenames_of(v)), pickle.dumps(entries, protocol=5))
            if isinstance(entries, list)
            else entries
            for v, entries in self._groups.items()
        }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._validated = {}

    def _entries(self, version: Version) -> list[dict[str, Any]]:
        """The raw entries of ``version`` (unpickled on first use after a transfer)."""
        group = self._groups.get(version, [])
        if isinstance(group, _Packed):
            group = self._groups[version] = pickle.loads(group.entries)  # noqa: S301 - ours
        return group

    def _reject(self, filename: str, category: str, reason: str) -> Rejected:
        return Rejected(project=self.name, filename=filename, category=category, reason=reason)

    def _validate(
        self, entries: Iterable[dict[str, Any]]
    ) -> tuple[tuple[DistFile, ...], tuple[Rejected, ...]]:
        files, rejected = [], []
        for entry in entries:
            fields = self._fields(entry)
            try:
                files.append(
                    dist_file(
                        project=self.name, page_url=self._page_url, schemes=self._schemes, **fields
                    )
                )
            except FileRefused as exc:
                shown = str(entry.get("filename"))[:120]
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
        return [str(e.get("filename")) for e in group]

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


class _Packed(NamedTuple):
    """A version's entries as a worker process sends them: pickled, with their filenames."""

    filenames: tuple[str, ...]
    entries: bytes


def _as_is(entry: dict[str, Any]) -> dict[str, Any]:
    return entry


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
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
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
    raw_files = data.get("files")
    if not isinstance(raw_files, list):
        raise UpstreamError(f"malformed JSON page at {where}: 'files' is not a list")
    status_obj = data.get("project-status")
    status = status_obj.get("status") if isinstance(status_obj, dict) else None
    entries = [item if isinstance(item, dict) else {} for item in raw_files]
    return ProjectPage(
        name=project,
        url=redact(url),
        entries=entries,
        fields=_json_fields,
        page_url=url,
        api_version=api_version,
        schemes=schemes,
        status=status if isinstance(status, str) else None,
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
        # PEP 714's name, its predecessor, and what PyPI's JSON actually says
        "core_metadata": item.get(
            "core-metadata", item.get("dist-info-metadata", item.get("data-dist-info-metadata"))
        ),
        "origin": item.get("_origin"),  # private key (leading "_"): selmirror's own pages
    }


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.meta: dict[str, str] = {}
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "meta":
            a = dict(attrs)
            if a.get("name") and a.get("content") is not None:
                self.meta[str(a["name"])] = str(a["content"])
        elif tag == "a":
            self._close()
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def _close(self) -> None:
        if self._open is not None:
            self.anchors.append((self._open, "".join(self._text).strip()))
        self._open = None

    def close(self) -> None:
        super().close()
        self._close()


def parse_html_page(
    body: bytes,
    *,
    url: str,
    project: NormalizedName,
    schemes: tuple[str, ...] = ("http", "https"),
    encoding: str = "utf-8",
) -> ProjectPage:
    """Parse a PEP 503 project page (anchors, ``data-*`` attributes, first ``<base href>``)."""
    parser = _AnchorParser()
    try:
        parser.feed(body.decode(encoding, errors="replace"))
        parser.close()
    except (LookupError, AssertionError) as exc:  # unknown charset; html.parser's own asserts
        raise UpstreamError(f"unreadable HTML page at {redact(url)}: {exc}") from None
    api_version = _check_api_version(parser.meta.get("pypi:repository-version"), url)
    status = parser.meta.get("pypi:project-status")
    base = urljoin(url, parser.base) if parser.base else url
    entries: list[dict[str, Any]] = []
    refused: list[Rejected] = []
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        filename = filename_of(urljoin(base, href))
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
                "size": int(size) if size.isdigit() else None,
                "upload_time": attrs.get("data-upload-time"),
                "core_metadata": attrs.get(
                    "data-core-metadata", attrs.get("data-dist-info-metadata")
                ),
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
