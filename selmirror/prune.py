"""Remove what the current requirements no longer need, pages first.

Only files selmirror downloaded itself (``origin: upstream`` on the page) are candidates;
files placed by hand stay unless ``include_local``. ``keep_latest`` keeps the N newest
versions of each named project in the mirror whatever the resolution chose. The pages are
rewritten without the files before the files go, so no page ever points at a missing one.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from selmirror.folder import MirrorFolder
from selmirror.index_writer import write_project, write_root
from selmirror.models import DistFile

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PrunePlan:
    remove: dict[NormalizedName, list[DistFile]] = field(default_factory=dict)
    keep: dict[NormalizedName, list[DistFile]] = field(default_factory=dict)

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
) -> PrunePlan:
    """What to remove: every removable file not in ``needed`` (project -> filenames)."""
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
            removable = include_local or record.origin == "upstream"
            (remove if removable and filename not in protected else keep).append(record)
        if remove:
            result.remove[name] = remove
            result.keep[name] = keep
    return result


def apply(folder: MirrorFolder, prune: PrunePlan) -> None:
    """Pages first (projects left empty drop off the root page), then the files."""
    emptied = {name for name in prune.remove if not prune.keep.get(name)}
    for name, keep in prune.keep.items():
        if keep:
            write_project(folder, name, keep)
    write_root(folder, exclude=emptied)
    for name, files in prune.remove.items():
        directory = folder.project_dir(name)
        for f in files:
            for path in (directory / f.filename, directory / (f.filename + ".metadata")):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            log.info("pruned %s/%s", name, f.filename)
    for name in emptied:
        shutil.rmtree(folder.project_dir(name), ignore_errors=True)
