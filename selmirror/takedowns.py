"""Takedowns: the mirror's files that upstream no longer offers.

PyPI removes malware within days, and a mirror that keeps serving it is the attack. Each
run compares the files it downloaded earlier (``origin: upstream``) of every project whose
page it read with that page: a file the page no longer lists, every file of a project that
now answers 404 or is quarantined (PEP 792), is marked on the mirror's JSON page with when
a run first saw it gone (a private ``_removed-upstream`` key). A file that comes back is
unmarked. ``prune`` (and ``--prune``) removes marked files, unless ``--keep-removed``;
a quarantined project's files are also withheld from its pages at once (index_writer).

Pure: records and a page in, records and findings out; the orchestrator writes the pages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from packaging.utils import NormalizedName

from selmirror.models import DistFile
from selmirror.pages import ProjectPage


@dataclass(frozen=True, slots=True)
class Gone:
    """A file of the mirror that upstream no longer offers."""

    project: NormalizedName
    filename: str
    since: str  # when a run first saw it gone (RFC 3339, UTC)
    why: str
    new: bool  # first seen gone by this run


def why_gone(page: ProjectPage | None) -> str:
    if page is None:
        return "its project is no longer on the index (404)"
    if page.status == "quarantined":
        reason = page.project_status.reason if page.project_status else None
        return "its project is quarantined on the index" + (f" ({reason})" if reason else "")
    return "no longer listed on its project's page"


def mark(
    records: Mapping[str, DistFile], page: ProjectPage | None, now: str
) -> tuple[dict[str, DistFile], list[Gone]]:
    """``records`` with each downloaded file marked gone, or unmarked, as ``page`` (``None``:
    the project answers 404) says; and every file now marked."""
    marked: dict[str, DistFile] = {}
    gone: list[Gone] = []
    for filename, record in records.items():
        if record.origin != "upstream":  # placed by hand or uploaded: not upstream's to take
            marked[filename] = record
            continue
        if page is not None and page.find(filename) is not None:
            marked[filename] = replace(record, removed_upstream=None)
            continue
        since = record.removed_upstream or now
        marked[filename] = replace(record, removed_upstream=since)
        new = record.removed_upstream is None
        gone.append(Gone(record.project, filename, since, why_gone(page), new))
    return marked, gone
