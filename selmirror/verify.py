"""Check a mirror offline: every page parses and agrees with its twin, every file a page
lists is there with its recorded size and sha256, every ``.metadata`` matches its recorded
hash, and nothing lies around that should not (temp files, orphans)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror import hashes
from selmirror.errors import UpstreamError
from selmirror.folder import HTML_PAGE, JSON_PAGE, TMP_PREFIX, MirrorFolder
from selmirror.models import DistFile
from selmirror.pages import parse_html_page, parse_json_page
from selmirror.state import STATE_DIR

PAGES = {HTML_PAGE, JSON_PAGE, "index.v1_html"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, at one path (relative to the mirror)."""

    path: str
    message: str
    kind: str  # "page", "missing", "size", "hash", "metadata", "temp", "orphan"
    project: str | None = None
    filename: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def verify(folder: MirrorFolder) -> list[Problem]:
    """Every problem found, sorted by path."""
    problems = list(_root(folder))
    for directory in sorted(folder.root.iterdir()) if folder.root.is_dir() else []:
        if directory.name.startswith(TMP_PREFIX):
            problems.append(Problem(directory.name, "temporary file of an interrupted run", "temp"))
        elif directory.is_dir() and directory.name != STATE_DIR:
            problems += _project(folder, directory)
    return sorted(problems, key=lambda p: p.path)


def _root(folder: MirrorFolder) -> Iterator[Problem]:
    projects = set(folder.projects())
    html, json_page = folder.root / HTML_PAGE, folder.root / JSON_PAGE
    if not html.exists():
        yield Problem(HTML_PAGE, "missing: the root page", "page")
        return
    try:
        listed = {p["name"] for p in json.loads(json_page.read_bytes())["projects"]}
    except (OSError, ValueError, KeyError, TypeError):
        yield Problem(JSON_PAGE, "unreadable or missing root JSON page", "page")
        return
    text = html.read_text(errors="replace")
    for name in sorted(projects - listed):
        yield Problem(JSON_PAGE, f"does not list project {name}", "page")
    for name in sorted(listed - projects):
        yield Problem(JSON_PAGE, f"lists {name}, which has no page", "page")
    for name in sorted(projects):
        if f'href="{name}/"' not in text:
            yield Problem(HTML_PAGE, f"does not link project {name}", "page")


def _read_pages(directory: Path, name: NormalizedName) -> tuple[dict[str, DistFile], list[Problem]]:
    base = directory.resolve().as_uri() + "/"
    problems: list[Problem] = []
    parsed = {}
    for page, parse in ((JSON_PAGE, parse_json_page), (HTML_PAGE, parse_html_page)):
        where = f"{name}/{page}"
        try:
            result = parse(
                (directory / page).read_bytes(), url=base, project=name, schemes=("file",)
            )
        except FileNotFoundError:
            problems.append(Problem(where, "missing", "page", name))
            continue
        except UpstreamError as exc:
            problems.append(Problem(where, f"does not parse: {exc.message}", "page", name))
            continue
        for rejected in result.rejected:
            problems.append(Problem(where, f"bad entry: {rejected.reason}", "page", name))
        parsed[page] = {f.filename: f for f in result.files}
    records = parsed.get(JSON_PAGE, {})
    if JSON_PAGE in parsed and HTML_PAGE in parsed:
        problems += _twins(name, records, parsed[HTML_PAGE])
    return records, problems


def _twins(
    name: str, json_files: dict[str, DistFile], html_files: dict[str, DistFile]
) -> list[Problem]:
    where = f"{name}/{HTML_PAGE}"
    problems = []
    for filename in sorted(set(json_files) ^ set(html_files)):
        side = "JSON" if filename in json_files else "HTML"
        problems.append(Problem(where, f"{filename} is only on the {side} page", "page", name))
    for filename in sorted(set(json_files) & set(html_files)):
        a, b = json_files[filename], html_files[filename]
        facts = ("sha256", "requires_python", "yanked", "core_metadata")
        for fact in facts:
            if getattr(a, fact) != getattr(b, fact):
                problems.append(
                    Problem(where, f"{filename}: {fact} differs from the JSON page", "page", name)
                )
    return problems


def _project(folder: MirrorFolder, directory: Path) -> list[Problem]:
    name = canonicalize_name(directory.name)
    if name != directory.name:
        return [Problem(directory.name, "folder name is not a normalized project name", "orphan")]
    records, problems = _read_pages(directory, name)
    for record in records.values():
        problems += _file(directory, name, record)
    listed = set(records) | {f + ".metadata" for f in records} | PAGES
    for path in sorted(directory.iterdir()):
        where = f"{name}/{path.name}"
        if path.name.startswith(TMP_PREFIX):
            problems.append(Problem(where, "temporary file of an interrupted run", "temp", name))
        elif path.name not in listed:
            what = "orphan .metadata file" if path.name.endswith(".metadata") else "not on the page"
            problems.append(Problem(where, what, "orphan", name, path.name))
    return problems


def _file(directory: Path, name: str, record: DistFile) -> list[Problem]:
    where = f"{name}/{record.filename}"
    path = directory / record.filename
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return [Problem(where, "missing", "missing", name, record.filename)]
    if record.size is not None and size != record.size:
        return [
            Problem(where, f"size {size}, page says {record.size}", "size", name, record.filename)
        ]
    digest = hashes.file_digest(path, ("sha256",))["sha256"]
    if digest != record.sha256:
        return [
            Problem(
                where, f"sha256 {digest}, page says {record.sha256}", "hash", name, record.filename
            )
        ]
    expected = (record.core_metadata or {}).get("sha256")
    if record.kind != "wheel" or expected is None:
        return []
    sidecar = path.with_name(path.name + ".metadata")
    try:
        actual = hashlib.sha256(sidecar.read_bytes()).hexdigest()
    except FileNotFoundError:
        return [Problem(where + ".metadata", "missing", "metadata", name, record.filename)]
    if actual != expected:
        return [
            Problem(
                where + ".metadata",
                f"sha256 {actual}, page says {expected}",
                "metadata",
                name,
                record.filename,
            )
        ]
    return []
