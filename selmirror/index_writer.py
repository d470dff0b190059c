"""Render and write the static simple index: PEP 503 HTML, PEP 691 JSON (api 1.4).

Rendering is pure (records in, bytes out); writing is atomic, project pages first, the root
last. Links are relative (``quote(filename)#sha256=...``) so the tree works over ``file://``,
behind any web server and under any URL prefix. Everything upstream-controlled is escaped.
"""

from __future__ import annotations

import enum
import json
import logging
import os
from collections.abc import Collection, Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.utils import NormalizedName, canonicalize_name

from selmirror.errors import OutputError
from selmirror.folder import HTML_PAGE, JSON_PAGE, MirrorFolder, atomic_write
from selmirror.models import DistFile, ProjectStatus
from selmirror.pages import project_status

log = logging.getLogger(__name__)
API_VERSION = "1.4"  # 1.1 (PEP 700), 1.3 (PEP 740: optional), 1.4 (PEP 792); 1.2 is PEP 708's
_HEAD = '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.4">'


def _attr(name: str, value: str) -> str:
    return f' {name}="{escape(value, quote=True)}"'


def _metadata_value(f: DistFile) -> str | None:
    sha = (f.core_metadata or {}).get("sha256")
    return f"sha256={sha}" if sha else None


def _ordered(files: Iterable[DistFile]) -> list[DistFile]:
    return sorted(files, key=lambda f: (f.version, f.filename))


class Keep(enum.Enum):
    """For :func:`write_project`: the status the project's page says now."""

    STATUS = "keep"


def _status_meta(status: ProjectStatus | None) -> str:
    if status is None:
        return ""
    meta = f'<meta name="pypi:project-status"{_attr("content", status.status)}>'
    if status.reason:
        meta += f'<meta name="pypi:project-status-reason"{_attr("content", status.reason)}>'
    return meta


def withheld(status: ProjectStatus | None) -> bool:
    """PEP 792: a quarantined project offers no files. The mirror keeps those it has (on
    the JSON page, under a private key) until a prune removes them."""
    return status is not None and status.status == "quarantined"


def provenance_url(f: DistFile, base_url: str | None) -> str | None:
    """The mirror's copy of ``f``'s PEP 740 provenance, as the pages link it: PEP 740 wants
    an absolute URL, so only when the mirror knows where it is served (``--base-url``)."""
    if not base_url or not f.provenance_sha256:
        return None
    return f"{base_url}{quote(f.project)}/{quote(f.filename)}.provenance"


def render_project_html(
    name: NormalizedName,
    files: Iterable[DistFile],
    status: ProjectStatus | None = None,
    base_url: str | None = None,
) -> bytes:
    head = f"{_HEAD}{_status_meta(status)}<title>Links for {escape(name)}</title></head>"
    lines = [head, "<body>"]
    lines.append(f"<h1>Links for {escape(name)}</h1>")
    for f in [] if withheld(status) else _ordered(files):
        attrs = _attr("href", f"{quote(f.filename)}#sha256={f.sha256}")
        if f.requires_python:
            attrs += _attr("data-requires-python", f.requires_python)
        if f.yanked is not None:
            attrs += _attr("data-yanked", f.yanked)  # never bare: pip ignores a bare attribute
        if f.upload_time:  # not in PEP 503 or 700, but uv reads both, for its cooldowns
            attrs += _attr("data-upload-time", f.upload_time)
        if f.size is not None:
            attrs += _attr("data-size", str(f.size))
        if metadata := _metadata_value(f):
            attrs += _attr("data-core-metadata", metadata)
            attrs += _attr("data-dist-info-metadata", metadata)
        if provenance := provenance_url(f, base_url):
            attrs += _attr("data-provenance", provenance)
        lines.append(f"<a{attrs}>{escape(f.filename)}</a><br>")
    lines.append("</body></html>\n")
    return "\n".join(lines).encode()


def _json_file(f: DistFile, base_url: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": f.filename,
        "url": quote(f.filename),
        "hashes": {"sha256": f.sha256},
    }
    if f.requires_python:
        entry["requires-python"] = f.requires_python
    entry["yanked"] = (f.yanked or True) if f.yanked is not None else False
    if f.size is not None:
        entry["size"] = f.size
    if f.upload_time:
        entry["upload-time"] = f.upload_time  # omitted when unknown: "" breaks uv
    if f.arrival_time:
        entry["_arrival-time"] = f.arrival_time  # private (PEP 691): when we got the file
    sha = (f.core_metadata or {}).get("sha256")
    entry["core-metadata"] = {"sha256": sha} if sha else False
    if f.origin:
        entry["_origin"] = f.origin  # a private key (PEP 691): clients ignore it
    if f.removed_upstream:
        entry["_removed-upstream"] = f.removed_upstream  # private: when we saw it gone
    if f.provenance and f.provenance_sha256:  # private: upstream's URL (fetched again by
        entry["_provenance"] = f.provenance  # the next run) and the hash of our copy
        entry["_provenance-sha256"] = f.provenance_sha256
        if provenance := provenance_url(f, base_url):
            entry["provenance"] = provenance
    return entry


def render_project_json(
    name: NormalizedName,
    files: Iterable[DistFile],
    status: ProjectStatus | None = None,
    base_url: str | None = None,
) -> bytes:
    ordered = _ordered(files)
    offered = [] if withheld(status) else ordered
    page: dict[str, Any] = {
        "meta": {"api-version": API_VERSION},
        "name": name,
        "versions": [str(v) for v in sorted({f.version for f in offered})],
        "files": [_json_file(f, base_url) for f in offered],
    }
    if withheld(status) and ordered:  # private: what the mirror still holds, unoffered
        page["_withheld"] = [_json_file(f, base_url) for f in ordered]
    if status is not None:  # PEP 792; "active" (the default) is left unsaid
        page["project-status"] = {"status": status.status}
        if status.reason:
            page["project-status"]["reason"] = status.reason
    return json.dumps(page).encode() + b"\n"  # no indent: the C encoder, 5x faster


def render_root_html(names: Sequence[str]) -> bytes:
    lines = [f"{_HEAD}<title>Simple index</title></head>", "<body>"]
    lines += [f"<a{_attr('href', quote(n) + '/')}>{escape(n)}</a><br>" for n in sorted(names)]
    lines.append("</body></html>\n")
    return "\n".join(lines).encode()


def render_root_json(names: Sequence[str]) -> bytes:
    page = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in sorted(names)]}
    return json.dumps(page).encode() + b"\n"  # no indent: the C encoder, 5x faster


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless ``path`` holds it already: an unchanged mirror is
    left untouched (mtimes, rsync, caches in front of it)."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    return True


def write_project(
    folder: MirrorFolder,
    name: NormalizedName,
    files: Sequence[DistFile],
    status: ProjectStatus | Keep | None = Keep.STATUS,
) -> bool:
    """Write both pages of one project (every file listed must already be in place), with
    ``status`` (by default the one its page says now); ``True`` if either changed. The JSON
    page goes first: it is what the next run reads."""
    path = folder.prepare(name)
    if isinstance(status, Keep):
        status = page_status(path / JSON_PAGE)
    base = folder.base_url()
    changed = _write_if_changed(path / JSON_PAGE, render_project_json(name, files, status, base))
    html = render_project_html(name, files, status, base)
    return _write_if_changed(path / HTML_PAGE, html) or changed


def page_status(page: Path) -> ProjectStatus | None:
    """The PEP 792 status a JSON page of the mirror says (``None``: none, or no page)."""
    try:
        data = json.loads(page.read_bytes())
    except (OSError, ValueError):
        return None
    found = data.get("project-status") if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return None
    return project_status(found.get("status"), found.get("reason"))


def write_root(folder: MirrorFolder, *, exclude: Collection[str] = ()) -> bool:
    """Write the root pages listing every project folder that has a page (but ``exclude``:
    folders about to go). A symlinked project folder is left out, with a warning: the
    mirror is one tree, which export carries and import rebuilds whole."""
    for name in symlinked_projects(folder):
        log.warning(
            "%s is a symlink: left out of the root page and of exports; "
            "move the folder itself into %s",
            folder.project_dir(name),
            folder.root,
        )
    names = [n for n in folder.projects() if n not in exclude]
    changed = _write_if_changed(folder.root / JSON_PAGE, render_root_json(names))
    return _write_if_changed(folder.root / HTML_PAGE, render_root_html(names)) or changed


def symlinked_projects(folder: MirrorFolder) -> list[NormalizedName]:
    """Symlinks in the root, named like a project, to a folder: never part of the mirror."""
    try:
        with os.scandir(folder.root) as entries:
            return sorted(
                NormalizedName(e.name)
                for e in entries
                if e.is_symlink() and e.is_dir() and canonicalize_name(e.name) == e.name
            )
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise OutputError(f"cannot read {folder.root}: {exc.strerror}") from None
