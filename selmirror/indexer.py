"""``selmirror index``: regenerate pages from the files on disk.

Files dropped into ``<local-folder>/<project>/`` by hand (the packaging guide's "manual
repository") are listed like any other: name and version from the filename, Requires-Python
and the ``.metadata`` sidecar from the wheel's METADATA or a trustworthy sdist PKG-INFO, the
hash computed once. A file the page already records with the same size keeps its record (no
re-hash). Only project folders that changed since the last index are read: a folder's
mtime changes when a file is added, removed or renamed in it.

What is left out is said, once per folder read, in :attr:`IndexResult.refused`: a file whose
name differs only in case from one listed (see :mod:`selmirror.localfiles`), and a
symlinked project folder (the mirror is one tree: export carries it, import rebuilds it).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror import hashes, localfiles, provenance
from selmirror.errors import OutputError
from selmirror.folder import HTML_PAGE, TMP_PREFIX, MirrorFolder, atomic_write
from selmirror.index_writer import write_project, write_root
from selmirror.models import DistFile
from selmirror.state import STATE_DIR

log = logging.getLogger(__name__)
STATE_FILE = "index-state.json"


@dataclass(kw_only=True)
class IndexResult:
    scanned: list[NormalizedName] = field(default_factory=list)
    rewritten: list[NormalizedName] = field(default_factory=list)
    hashed: int = 0
    root_rewritten: bool = False
    refused: list[str] = field(default_factory=list)  # "<path>: <reason>", one per line


def index(folder: MirrorFolder, *, full: bool = False, rewrite: bool = False) -> IndexResult:
    """Bring every project page in line with its folder; ``full`` reads every folder, and
    ``rewrite`` renders every page even when its records did not change, and re-reads every
    ``.metadata`` sidecar (``verify --repair``: the HTML twin or a sidecar may be broken)."""
    try:
        return _index(folder, full=full, rewrite=rewrite)
    except OSError as exc:
        raise OutputError(f"cannot index {exc.filename or folder.root}: {exc.strerror}") from None


def _index(folder: MirrorFolder, *, full: bool, rewrite: bool) -> IndexResult:
    result = IndexResult()
    seen = {} if full else _load_state(folder.root)
    now: dict[str, int] = {}
    with os.scandir(folder.root) as entries:
        for entry in entries:
            if (
                entry.is_symlink()
                and entry.is_dir()
                and canonicalize_name(entry.name) == entry.name
            ):
                result.refused.append(
                    f"{entry.name}: refused, a symlinked project folder; "
                    "move the folder itself into the mirror"
                )
                continue
            if not entry.is_dir(follow_symlinks=False) or entry.name in (STATE_DIR,):
                continue
            if entry.name.startswith(TMP_PREFIX) or entry.name.startswith("."):
                continue
            name = canonicalize_name(entry.name)
            if name != entry.name:
                log.warning("skipping folder %s: not a normalized project name", entry.name)
                continue
            mtime = entry.stat(follow_symlinks=False).st_mtime_ns
            has_page = os.path.exists(os.path.join(entry.path, HTML_PAGE))
            if seen.get(name) == mtime and has_page:
                now[name] = mtime
                continue
            result.scanned.append(name)
            if _reindex(folder, name, result, rewrite=rewrite):
                result.rewritten.append(name)
            now[name] = os.stat(entry.path).st_mtime_ns  # after our own page writes
    same_projects = not full and set(now) == set(seen) and (folder.root / HTML_PAGE).is_file()
    if not same_projects:  # the root lists project names: only a new or gone one changes it
        result.root_rewritten = write_root(folder)
    if now != seen:
        _save_state(folder.root, now)
    return result


def index_project(
    folder: MirrorFolder, name: NormalizedName, *, upload: str, replaced: bool = False
) -> bool:
    """Bring one project's pages in line with its folder, and the root page with the
    project folders, after ``upload`` was put there (``replaced``: over a file of that
    name, whose record is not kept). ``True`` if a page changed."""
    try:
        changed = _reindex(
            folder, name, IndexResult(), rewrite=False, upload=upload, replaced=replaced
        )
        return write_root(folder) or changed
    except OSError as exc:
        raise OutputError(f"cannot index {exc.filename or folder.root}: {exc.strerror}") from None


def _reindex(
    folder: MirrorFolder,
    name: NormalizedName,
    result: IndexResult,
    *,
    rewrite: bool,
    upload: str = "",
    replaced: bool = False,
) -> bool:
    directory = folder.project_dir(name)
    records = folder.recorded(name)
    if replaced:
        records.pop(upload, None)
    listing: dict[str, DistFile] = {}
    first: dict[str, str] = {}  # casefolded name -> the name listed
    clashing: set[str] = set()
    for filename, record in sorted(records.items()):
        try:
            size = (directory / filename).stat().st_size
        except FileNotFoundError:
            continue  # gone from the folder: gone from the page
        if (kept := first.setdefault(filename.casefold(), filename)) != filename:
            clash = localfiles.case_clash(name, filename, kept)
            log.warning("%s/%s", name, clash.reason)
            result.refused.append(f"{name}/{clash.reason}")
            clashing.add(filename)
            continue
        sidecar_ok = record.kind != "wheel" or _sidecar_ok(directory, record, read=rewrite)
        if record.size == size and sidecar_ok:
            # recorded and unchanged in size: no re-hash
            listing[filename] = provenance.held(directory, record)
    base = directory.resolve().as_uri() + "/"
    paths, refused = localfiles.scan(directory, set(listing) | clashing)
    result.refused += [f"{name}/{r.reason}" for r in refused]
    for path in paths:
        found = localfiles.record_from_disk(path, name, page_url=base)
        if found is not None:
            old = records.get(found.filename)
            if old is not None and old.sha256 == found.sha256:
                found = provenance.held(directory, _keep_facts(old, found))
            listing[found.filename] = found
            result.hashed += 1
    if upload in listing:
        listing[upload] = replace(listing[upload], origin="upload")
    if not rewrite and listing == records and (directory / HTML_PAGE).is_file():
        return False  # the page already says exactly this: nothing to render
    return write_project(folder, name, list(listing.values()))


def _sidecar_ok(directory: Path, record: DistFile, *, read: bool) -> bool:
    """Whether the wheel's ``.metadata`` sidecar is there (and, if ``read``, has the hash
    the page records: ``verify --repair`` may have re-extracted it)."""
    expected = (record.core_metadata or {}).get("sha256")
    if not expected:
        return True
    sidecar = directory / (record.filename + ".metadata")
    if not read:
        return sidecar.is_file()
    try:
        return hashes.file_digest(sidecar, ("sha256",))["sha256"] == expected
    except FileNotFoundError:
        return False


def _keep_facts(old: DistFile, new: DistFile) -> DistFile:
    """Same bytes as recorded: keep what upstream said (yanked, upload time, origin)."""
    return replace(
        new,
        yanked=old.yanked,
        upload_time=old.upload_time,
        arrival_time=old.arrival_time or new.arrival_time,
        origin=old.origin,
        requires_python=old.requires_python or new.requires_python,
        removed_upstream=old.removed_upstream,
        provenance=old.provenance,
        provenance_sha256=old.provenance_sha256,
    )


def _load_state(root: Path) -> dict[str, int]:
    try:
        data = json.loads((root / STATE_DIR / STATE_FILE).read_text())
        return {str(k): int(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _save_state(root: Path, state: dict[str, int]) -> None:
    path = root / STATE_DIR / STATE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(state).encode(), sync=False)
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or path}: {exc.strerror}") from None
