"""``selmirror index``: regenerate pages from the files on disk.

Files dropped into ``<local-folder>/<project>/`` by hand (the packaging guide's "manual
repository") are listed like any other: name and version from the filename, Requires-Python
and the ``.metadata`` sidecar from the wheel's METADATA or a trustworthy sdist PKG-INFO, the
hash computed once. A file the page already records with the same size keeps its record (no
re-hash). Only project folders that changed since the last index are read: a folder's
mtime changes when a file is added, removed or renamed in it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror import localfiles
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


def index(folder: MirrorFolder, *, full: bool = False, rewrite: bool = False) -> IndexResult:
    """Bring every project page in line with its folder; ``full`` reads every folder, and
    ``rewrite`` renders every page even when its records did not change (``verify
    --repair``: the HTML twin may be the broken one)."""
    result = IndexResult()
    seen = {} if full else _load_state(folder.root)
    now: dict[str, int] = {}
    with os.scandir(folder.root) as entries:
        for entry in entries:
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


def _reindex(
    folder: MirrorFolder, name: NormalizedName, result: IndexResult, *, rewrite: bool
) -> bool:
    directory = folder.project_dir(name)
    records = folder.recorded(name)
    listing: dict[str, DistFile] = {}
    for filename, record in records.items():
        try:
            size = (directory / filename).stat().st_size
        except FileNotFoundError:
            continue  # gone from the folder: gone from the page
        if record.size == size and (record.kind != "wheel" or _sidecar_ok(directory, record)):
            listing[filename] = record  # recorded and unchanged in size: no re-hash
    base = directory.resolve().as_uri() + "/"
    for path in localfiles.candidates(directory, set(listing)):
        found = localfiles.record_from_disk(path, name, page_url=base)
        if found is not None:
            old = records.get(found.filename)
            if old is not None and old.sha256 == found.sha256:
                found = _keep_facts(old, found)
            listing[found.filename] = found
            result.hashed += 1
    if not rewrite and listing == records and (directory / HTML_PAGE).is_file():
        return False  # the page already says exactly this: nothing to render
    return write_project(folder, name, list(listing.values()))


def _sidecar_ok(directory: Path, record: DistFile) -> bool:
    if not (record.core_metadata or {}).get("sha256"):
        return True
    return (directory / (record.filename + ".metadata")).is_file()


def _keep_facts(old: DistFile, new: DistFile) -> DistFile:
    """Same bytes as recorded: keep what upstream said (yanked, upload time, origin)."""
    return replace(
        new,
        yanked=old.yanked,
        upload_time=old.upload_time,
        origin=old.origin,
        requires_python=old.requires_python or new.requires_python,
    )


def _load_state(root: Path) -> dict[str, int]:
    try:
        data = json.loads((root / STATE_DIR / STATE_FILE).read_text())
        return {str(k): int(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _save_state(root: Path, state: dict[str, int]) -> None:
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    atomic_write(root / STATE_DIR / STATE_FILE, json.dumps(state).encode(), sync=False)
