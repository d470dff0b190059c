"""Check a mirror offline: every page parses and agrees with its twin, every file a page
lists is there with its recorded size and sha256, every ``.metadata`` matches its recorded
hash and is the METADATA of the wheel beside it, no removal was left half done, and nothing
lies around that should not (temp files, orphans, symlinked project folders).

A file that cannot be read is an :class:`OutputError` naming it, not a problem line: the
check could not be made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror import hashes, prune
from selmirror.errors import OutputError, UpstreamError
from selmirror.folder import HTML_PAGE, JSON_PAGE, TMP_PREFIX, MirrorFolder, own_records
from selmirror.metadata import BadDistribution, wheel_metadata
from selmirror.models import DistFile
from selmirror.pages import parse_html_page, parse_json_page
from selmirror.state import STATE_DIR

PAGES = {HTML_PAGE, JSON_PAGE, "index.v1_html"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong, at one path (relative to the mirror)."""

    path: str
    message: str
    # "page", "missing", "size", "hash", "metadata", "provenance", "temp", "orphan",
    # "pending", "symlink"
    kind: str
    project: str | None = None
    filename: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def verify(folder: MirrorFolder) -> list[Problem]:
    """Every problem found, sorted by path."""
    try:
        return _verify(folder)
    except OSError as exc:
        raise OutputError(f"cannot read {exc.filename or folder.root}: {exc.strerror}") from None


def _verify(folder: MirrorFolder) -> list[Problem]:
    problems = list(_root(folder))
    if (removals := prune.pending(folder)) is not None:
        count = sum(len(files) for files in removals.values())
        where = f"{STATE_DIR}/{prune.PENDING}"
        what = f"an interrupted prune or import: {count} file(s) still to remove"
        problems.append(Problem(where, what, "pending"))
    for directory in sorted(folder.root.iterdir()) if folder.root.is_dir() else []:
        if directory.name.startswith(TMP_PREFIX):
            problems.append(Problem(directory.name, "temporary file of an interrupted run", "temp"))
        elif directory.is_symlink() and directory.is_dir():
            what = "a symlinked project folder: not on the root page, not exported"
            problems.append(Problem(directory.name, what, "symlink"))
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
    if JSON_PAGE in parsed:  # and the files a quarantined project's page withholds
        records = own_records((directory / JSON_PAGE).read_bytes(), base, name)
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
    provenances = {f + ".provenance" for f, r in records.items() if r.provenance_sha256}
    listed = set(records) | {f + ".metadata" for f in records} | provenances | PAGES
    folded = {f.casefold(): f for f in listed}
    for path in sorted(directory.iterdir()):
        where = f"{name}/{path.name}"
        if path.name.startswith(TMP_PREFIX):
            problems.append(Problem(where, "temporary file of an interrupted run", "temp", name))
        elif path.name not in listed:
            what = "not on the page"
            if path.name.endswith((".metadata", ".provenance")):
                what = f"orphan {path.suffix} file"
            if (twin := folded.get(path.name.casefold())) is not None:
                what = f"not on the page: its name differs only in case from {twin}"
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
    if record.provenance_sha256 is not None:
        problems = _provenance(path, name, record)
        if problems:
            return problems
    expected = (record.core_metadata or {}).get("sha256")
    if record.kind != "wheel" or expected is None:
        return []
    sidecar = path.with_name(path.name + ".metadata")
    try:
        data = sidecar.read_bytes()
    except FileNotFoundError:
        return [Problem(where + ".metadata", "missing", "metadata", name, record.filename)]
    if (actual := hashlib.sha256(data).hexdigest()) != expected:
        return [
            Problem(
                where + ".metadata",
                f"sha256 {actual}, page says {expected}",
                "metadata",
                name,
                record.filename,
            )
        ]
    return _sidecar_is_the_wheels(path, data, name, record)


def _provenance(path: Path, name: str, record: DistFile) -> list[Problem]:
    where = f"{name}/{record.filename}.provenance"
    try:
        digest = hashlib.sha256(path.with_name(path.name + ".provenance").read_bytes()).hexdigest()
    except FileNotFoundError:
        return [Problem(where, "missing", "provenance", name, record.filename)]
    if digest != record.provenance_sha256:
        what = f"sha256 {digest}, page says {record.provenance_sha256}"
        return [Problem(where, what, "provenance", name, record.filename)]
    return []


def _sidecar_is_the_wheels(wheel: Path, data: bytes, name: str, record: DistFile) -> list[Problem]:
    """A sidecar must be the METADATA of the very wheel beside it.

    Its hash on the page proves only that the page and the sidecar were written together: a
    run killed after a wheel's bytes changed under the same name (upstream replaced it) and
    before its sidecar was rewritten leaves the old sidecar, and every later run keeps it.
    """
    where = f"{name}/{record.filename}.metadata"
    try:
        own = wheel_metadata(wheel, record.filename)
    except BadDistribution as exc:
        return [Problem(where, f"cannot be checked: {exc}", "metadata", name, record.filename)]
    if data == own:
        return []
    what = "not the METADATA of the wheel beside it (stale, or upstream's differs)"
    return [Problem(where, what, "metadata", name, record.filename)]
