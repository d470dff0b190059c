"""Remove what the current requirements no longer need, pages first, in steps a kill cannot
leave half done.

Only files selmirror downloaded itself (``origin: upstream`` on the page) are candidates;
files placed by hand stay unless ``include_local``, and uploaded ones (``origin: upload``)
always stay. ``keep_latest`` keeps the N newest
versions of each named project in the mirror whatever the resolution chose.

Every removal (a prune, and the files an import's exporting side pruned) goes through one
record, ``.selmirror/pending-removal.json``, made durable before any page changes:

1. the record: each file to remove, with the sha256 its page gave it;
2. the pages: each project rewritten without those files; a project left empty drops off
   the root page, then its own pages go;
3. the files and their ``.metadata`` sidecars, then the folders left empty;
4. the record is deleted.

So no page ever lists a missing file. A run killed in 2 or 3 leaves the record, and the
next run that takes the lock (sync, prune, index, export, import, ``verify --repair``)
finishes it, through :meth:`MirrorFolder.clean_stale_temps`, before it reads any page.

Why a record, and not the HTML and JSON pages written in an order that keeps the origin:
the pages of an emptied project must go before its files, and after that nothing on any
page says the files were selmirror's; and a file on disk that no page lists is listed again
by the next sync or index as placed by hand (``origin: local``), which no prune removes.
The record says what the pages can no longer say. Finishing it is idempotent: each step
looks at the disk as it is, so a kill while finishing is finished by the run after.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror.errors import OutputError
from selmirror.folder import HTML_PAGE, JSON_PAGE, MirrorFolder, atomic_write
from selmirror.index_writer import write_project, write_root
from selmirror.models import DistFile
from selmirror.state import STATE_DIR

log = logging.getLogger(__name__)
PENDING = "pending-removal.json"
_PAGES = (HTML_PAGE, JSON_PAGE, "index.v1_html")  # the last: written by early versions

Removals = Mapping[NormalizedName, Mapping[str, str | None]]
"""project -> filename -> the sha256 its page gave it (``None``: any bytes)."""


@dataclass(kw_only=True)
class PrunePlan:
    remove: dict[NormalizedName, list[DistFile]] = field(default_factory=dict)
    keep: dict[NormalizedName, list[DistFile]] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # path -> why it goes

    @property
    def paths(self) -> list[str]:
        return sorted(f"{name}/{f.filename}" for name, files in self.remove.items() for f in files)


def plan(
    folder: MirrorFolder,
    needed: Mapping[NormalizedName, Collection[str]],
    *,
    named: Collection[NormalizedName] = (),
    keep_latest: int | None = None,
    include_local: bool = False,
    keep_removed: bool = False,
    only_removed: bool = False,
) -> PrunePlan:
    """What to remove: every removable file not in ``needed`` (project -> filenames), and
    every file upstream took down (whatever protects it, unless ``keep_removed``); with
    ``only_removed``, only those."""
    result = PrunePlan()
    for name in folder.projects():
        records = folder.recorded(name)
        protected = set(needed.get(name, ()))
        if keep_latest and name in named:
            newest = sorted({r.version for r in records.values()}, reverse=True)[:keep_latest]
            protected |= {f for f, r in records.items() if r.version in newest}
        keep: list[DistFile] = []
        remove: list[DistFile] = []
        for filename, record in sorted(records.items()):
            path = f"{name}/{filename}"
            taken_down = record.removed_upstream is not None and record.origin == "upstream"
            removable = record.origin == "upstream" or (include_local and record.origin != "upload")
            if taken_down:
                if keep_removed:
                    keep.append(record)
                    continue
                result.why[path] = f"removed upstream (seen gone {record.removed_upstream})"
            elif removable and not only_removed and filename not in protected:
                result.why[path] = "no longer needed"
            else:
                keep.append(record)
                continue
            remove.append(record)
        if remove:
            result.remove[name] = remove
            result.keep[name] = keep
    return result


def apply(folder: MirrorFolder, prune: PrunePlan) -> list[str]:
    """Remove ``prune.remove`` (see the module docstring); the paths removed."""
    if not prune.remove:
        return []
    record_removal(
        folder,
        {name: {f.filename: f.sha256 for f in files} for name, files in prune.remove.items()},
    )
    return finish(folder)


def record_removal(folder: MirrorFolder, removals: Removals) -> None:
    """Step 1: make the pending removal durable, before any page changes.

    A pending removal an earlier run left is finished first: there is only ever one.
    """
    finish(folder)
    data = {
        "format": 1,
        "remove": {name: dict(files) for name, files in sorted(removals.items()) if files},
    }
    path = _pending_path(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data).encode())
        _sync_folders([path.parent])
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or path}: {exc.strerror}") from None


def pending(folder: MirrorFolder) -> Removals | None:
    """The removal a killed run left unfinished, if any (an unreadable record counts as none:
    every one is written atomically, so only a hand could have spoiled it)."""
    path = _pending_path(folder)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError):
        data = None
    removals = _parse(data)
    if removals is None:
        log.warning("ignoring unreadable %s", path)
    return removals


def finish(folder: MirrorFolder) -> list[str]:
    """Steps 2 to 4 of the pending removal, if there is one; the paths removed."""
    removals = pending(folder)
    if removals is None:
        if _pending_path(folder).exists():  # unreadable: nothing it says can be done
            _pending_path(folder).unlink(missing_ok=True)
        return []
    try:
        removed = _carry_out(folder, removals)
        _pending_path(folder).unlink(missing_ok=True)
    except OSError as exc:
        where = exc.filename or folder.root
        raise OutputError(
            f"cannot remove files from {where}: {exc.strerror}",
            hint="the removal is recorded: the next run finishes it",
        ) from None
    return removed


def _carry_out(folder: MirrorFolder, removals: Removals) -> list[str]:
    emptied: set[NormalizedName] = set()
    doomed: dict[NormalizedName, list[str]] = {}
    for name, files in sorted(removals.items()):
        directory = folder.project_dir(name)
        records = folder.recorded(name)
        # a page that gives the file other bytes than the record: someone put a new file
        # there since (this record is finished before anything else, so never in practice)
        doomed[name] = [
            f
            for f, sha256 in files.items()
            if f not in records or sha256 is None or records[f].sha256 == sha256
        ]
        gone = set(doomed[name])
        keep = [r for f, r in records.items() if f not in gone and (directory / f).is_file()]
        if keep:
            write_project(folder, name, keep)  # unchanged bytes are not rewritten
        else:
            emptied.add(name)
    write_root(folder, exclude=emptied)
    for name in emptied:
        for page in _PAGES:
            with contextlib.suppress(FileNotFoundError):
                (folder.project_dir(name) / page).unlink()
    touched = [folder.project_dir(name) for name in removals]
    _sync_folders([folder.root, *(d for d in touched if d.is_dir())])  # pages, then files
    removed = []
    for name, filenames in doomed.items():
        directory = folder.project_dir(name)
        for filename in sorted(filenames):
            for path in (
                directory / filename,
                directory / (filename + ".metadata"),
                directory / (filename + ".provenance"),
            ):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(f"{name}/{path.name}")
            log.info("pruned %s/%s", name, filename)
    for name in sorted(emptied):
        _drop_folder(folder.project_dir(name))
    return removed


def _drop_folder(directory: Path) -> None:
    try:
        directory.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        left = sorted(p.name for p in directory.iterdir())
        log.warning(
            "%s: left in place, with no page: it holds files no page listed (%s); "
            "`selmirror index` lists them as placed by hand",
            directory,
            ", ".join(left[:3]) + (", ..." if len(left) > 3 else ""),
        )


def _sync_folders(folders: Collection[Path]) -> None:
    """fsync folders, so that renames and removals in them reach the disk in this order."""
    for folder in folders:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pending_path(folder: MirrorFolder) -> Path:
    return folder.root / STATE_DIR / PENDING


def _parse(data: object) -> dict[NormalizedName, dict[str, str | None]] | None:
    if not isinstance(data, dict) or data.get("format") != 1:
        return None
    remove = data.get("remove")
    if not isinstance(remove, dict):
        return None
    out: dict[NormalizedName, dict[str, str | None]] = {}
    for name, files in remove.items():
        if not isinstance(files, dict) or canonicalize_name(name) != name:
            return None
        entries: dict[str, str | None] = {}
        for filename, sha256 in files.items():
            if not _plain_name(filename) or not (sha256 is None or isinstance(sha256, str)):
                return None
            entries[filename] = sha256
        out[NormalizedName(name)] = entries
    return out


def _plain_name(filename: object) -> bool:
    """A file name with no path in it: the record never makes us remove anything else."""
    return (
        isinstance(filename, str)
        and filename not in ("", ".", "..")
        and "/" not in filename
        and "\\" not in filename
        and "\0" not in filename
    )
