"""What the mirror remembers between runs, under ``<local-folder>/.selmirror/``.

- ``pages/<project>.json`` and ``.body``: the upstream page as last fetched, with its
  validators (ETag, Last-Modified), so the next run asks "has it changed?" and reuses the
  stored page on a 304;
- ``last-run.json``: the projects the last run needed, so the next one fetches all their
  pages at once instead of discovering them level by level.

Losing this folder costs speed, never correctness.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
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
        }
        try:
            if json.loads(head_path.read_text()) == head:
                return
        except (OSError, ValueError):
            pass
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / f"{name}.body", page.body, sync=False)
        atomic_write(head_path, json.dumps(head).encode(), sync=False)


def last_run_projects(mirror: Path) -> list[NormalizedName]:
    """The projects the previous run needed (empty when unknown)."""
    try:
        data = json.loads((mirror / STATE_DIR / "last-run.json").read_text())
        return [canonicalize_name(n) for n in data.get("projects", []) if isinstance(n, str)]
    except (OSError, ValueError, AttributeError):
        return []


def remember_run(mirror: Path, projects: Iterable[str]) -> None:
    path = mirror / STATE_DIR / "last-run.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"projects": sorted(set(projects))}).encode(), sync=False)
