"""What the mirror remembers between runs, under ``<local-folder>/.selmirror/``.

- ``pages/<project>.json`` and ``.body``: the upstream page as last fetched, with its
  validators (ETag, Last-Modified), so the next run asks "has it changed?" and reuses the
  stored page on a 304;
- ``last-run.json``: the pages the last run read, so the next one fetches them all at once
  instead of discovering them level by level, and the fingerprint of its inputs and pages,
  so that a run with nothing to do can tell without resolving anything.

Losing this folder costs speed, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from selmirror.folder import atomic_write
from selmirror.upstream import RawPage

log = logging.getLogger(__name__)
STATE_DIR = ".selmirror"


class PageStore:
    """Stored upstream pages, one pair of files per project."""

    def __init__(self, mirror: Path, *, read_only: bool = False) -> None:
        self.root = mirror / STATE_DIR / "pages"
        self.read_only = read_only  # a dry run reads the store, never writes it

    def get(self, name: NormalizedName) -> RawPage | None:
        try:
            head = json.loads((self.root / f"{name}.json").read_text())
            body = (self.root / f"{name}.body").read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(head, dict) or hashlib.sha256(body).hexdigest() != head.get("sha256"):
            return None  # torn or tampered: fetch afresh
        return RawPage(
            body=body,
            content_type=str(head.get("content_type", "")),
            etag=head.get("etag"),
            last_modified=head.get("last_modified"),
            serial=head.get("serial"),
        )

    def put(self, name: NormalizedName, page: RawPage) -> None:
        """Store ``page``, unless the same body is stored already."""
        if self.read_only:
            return
        digest = hashlib.sha256(page.body).hexdigest()
        head_path = self.root / f"{name}.json"
        head = {
            "sha256": digest,
            "content_type": page.content_type,
            "etag": page.etag,
            "last_modified": page.last_modified,
            "serial": page.serial,
        }
        try:
            if json.loads(head_path.read_text()) == head:
                return
        except (OSError, ValueError):
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / f"{name}.body", page.body, sync=False)
        atomic_write(head_path, json.dumps(head).encode(), sync=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastRun:
    """What the previous run needed and concluded.

    ``fingerprint`` covers its inputs and every upstream page it read; set only when it
    ended without errors. Equal inputs and pages give an equal resolution, so a run with the
    same fingerprint, whose files are all in place, has nothing to do.
    """

    projects: tuple[NormalizedName, ...] = ()
    fingerprint: str | None = None
    summary: dict[str, int] = field(default_factory=dict)


def last_run(mirror: Path) -> LastRun:
    try:
        data = json.loads((mirror / STATE_DIR / "last-run.json").read_text())
        projects = tuple(canonicalize_name(n) for n in data["projects"] if isinstance(n, str))
        fingerprint = data.get("fingerprint")
        summary = {str(k): int(v) for k, v in (data.get("summary") or {}).items()}
        return LastRun(
            projects=projects,
            summary=summary,
            fingerprint=fingerprint if isinstance(fingerprint, str) else None,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return LastRun()


def remember_run(
    mirror: Path,
    projects: Iterable[str],
    *,
    fingerprint: str | None = None,
    summary: Mapping[str, int] | None = None,
) -> None:
    path = mirror / STATE_DIR / "last-run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "projects": sorted(set(projects)),
        "fingerprint": fingerprint,
        "summary": dict(summary or {}),
    }
    atomic_write(path, json.dumps(data).encode(), sync=False)


def fingerprint(inputs: object, pages: Mapping[NormalizedName, str]) -> str:
    """A digest of a run's inputs (JSON-able) and of the pages it read (name -> sha256)."""
    text = json.dumps({"inputs": inputs, "pages": sorted(pages.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
