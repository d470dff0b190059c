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
import re
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from typing import Any
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
from selmirror.models import DistFile, Kind, ProjectPage, Rejected
from selmirror.urls import redact

log = logging.getLogger(__name__)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPES = ("application/vnd.pypi.simple.v1+html", "text/html")
SUPPORTED_MAJOR = 1
SUPPORTED_MINOR = 4
# A filename is one path component of these characters (wheel and sdist names need no others).
_SAFE_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_UNSUPPORTED_SUFFIXES = (".egg", ".exe", ".msi", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".rpm")
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
    absolute = urljoin(page_url, link)
    return absolute, fragment, urlsplit(absolute).scheme.lower()


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
            name, version, _build, tags = parse_wheel_filename(filename)
            kind = "wheel"
        elif filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            kind = "sdist"
        else:
            raise FileRefused("file-type", f"{filename}: unsupported file type")
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        log.warning("skipping %s: %s", filename, exc)
        raise FileRefused(
            "bad-version", f"{filename}: not a valid distribution name or PEP 440 version"
        ) from None
    if name != project:
        raise FileRefused(
            "foreign-file", f"{filename}: belongs to project {name!r}, not {project!r}"
        )
    return kind, version, tags


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


def _collect(
    project: NormalizedName,
    page_url: str,
    entries: Iterable[dict[str, Any]],
    status: str | None,
    api_version: str,
    schemes: tuple[str, ...],
) -> ProjectPage:
    files: list[DistFile] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for entry in entries:
        shown = str(entry.get("filename"))[:120]
        refused = entry.pop("refused", None)
        if refused:
            rejected.append(
                Rejected(project=project, filename=shown, category="bad-filename", reason=refused)
            )
            continue
        if status == "quarantined":
            rejected.append(
                Rejected(
                    project=project,
                    filename=shown,
                    category="quarantined",
                    reason="project is quarantined upstream",
                )
            )
            continue
        try:
            f = dist_file(project=project, page_url=page_url, schemes=schemes, **entry)
        except FileRefused as exc:
            rejected.append(
                Rejected(project=project, filename=shown, category=exc.category, reason=exc.reason)
            )
            continue
        if f.filename in seen:
            rejected.append(
                Rejected(
                    project=project,
                    filename=f.filename,
                    category="duplicate",
                    reason=f"{f.filename}: listed twice",
                )
            )
            continue
        seen.add(f.filename)
        files.append(f)
    return ProjectPage(
        name=project,
        url=redact(page_url),
        files=tuple(files),
        rejected=tuple(rejected),
        api_version=api_version,
        status=status,
    )


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
    entries: list[dict[str, Any]] = []
    for item in raw_files:
        if not isinstance(item, dict):
            entries.append({"filename": None, "url": None, "hashes_raw": {}})
            continue
        raw_hashes = item.get("hashes")
        core = item.get(
            "core-metadata", item.get("dist-info-metadata", item.get("data-dist-info-metadata"))
        )
        entries.append(
            {
                "filename": item.get("filename"),
                "url": item.get("url"),
                "hashes_raw": raw_hashes if isinstance(raw_hashes, dict) else {},
                "requires_python": item.get("requires-python"),
                "yanked": item.get("yanked"),
                "size": item.get("size"),
                "upload_time": item.get("upload-time"),
                "core_metadata": core,
            }
        )
    return _collect(
        project, url, entries, status if isinstance(status, str) else None, api_version, schemes
    )


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
    for attrs, text in parser.anchors:
        href = attrs.get("href")
        if not href:
            continue
        filename = filename_of(urljoin(base, href))
        size = attrs.get("data-size") or ""
        entries.append(
            {
                "filename": filename,
                "refused": f"anchor text {text[:80]!r} is not the file name {filename[:80]!r}"
                if text and text != filename
                else None,
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
    return _collect(project, base, entries, status, api_version, schemes)


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
