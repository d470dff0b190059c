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

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from selmirror.folder import STATE_DIR as STATE_DIR  # re-exported: its home was here
from selmirror.folder import atomic_write
from selmirror.pages import load_json
from selmirror.upstream import MAX_PAGE_BYTES, RawPage

log = logging.getLogger(__name__)
MAX_STATE_BYTES = 64 << 20  # last-run.json of 100,000 projects is 3 MB


class _Corrupt(ValueError):
    """A state file that exists but cannot be used."""


def _read_state(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` if there is no such file; :class:`_Corrupt`
    if it is unreadable, too large, not JSON or not an object."""
    data = _read_bytes(path, MAX_STATE_BYTES)
    if data is None:
        return None
    value = load_json(data)  # ValueError: not JSON, not UTF-8, nested too deeply
    if not isinstance(value, dict):
        raise _Corrupt("not a JSON object")
    return value


def _read_bytes(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path``, at most ``limit`` of them; ``None`` if there is no such file."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Corrupt(exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise _Corrupt(f"larger than {limit >> 20} MiB")
    return data


def _forget(path: Path, exc: ValueError) -> None:
    log.warning("ignoring %s: %s (it only saves time; the run goes on without it)", path, exc)


class PageStore:
    """Stored upstream pages, one pair of files per project."""

    def __init__(self, mirror: Path, *, read_only: bool = False) -> None:
        self.root = mirror / STATE_DIR / "pages"
        self.read_only = read_only  # a dry run reads the store, never writes it

    def get(self, name: NormalizedName) -> RawPage | None:
        head_path = self.root / f"{name}.json"
        try:
            head = _read_state(head_path)
            body = _read_bytes(self.root / f"{name}.body", MAX_PAGE_BYTES)
        except ValueError as exc:
            _forget(head_path, exc)
            return None
        if head is None or body is None:
            return None
        if hashlib.sha256(body).hexdigest() != head.get("sha256"):
            return None  # torn or tampered: fetch afresh
        return RawPage(
            body=body,
            content_type=_text(head.get("content_type")) or "",
            etag=_text(head.get("etag")),
            last_modified=_text(head.get("last_modified")),
            serial=_text(head.get("serial")),
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
            if _read_state(head_path) == head:
                return
        except ValueError:
            pass  # replaced below
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
    """What the previous run remembered; nothing if the file is missing or corrupt."""
    path = mirror / STATE_DIR / "last-run.json"
    try:
        data = _read_state(path)
        if data is None:
            return LastRun()
        projects, fingerprint, summary = (
            data.get("projects"),
            data.get("fingerprint"),
            data.get("summary") or {},
        )
        if not isinstance(projects, list) or not isinstance(summary, dict):
            raise _Corrupt("'projects' is not a list or 'summary' not an object")
    except ValueError as exc:
        _forget(path, exc)
        return LastRun()
    return LastRun(
        projects=tuple(canonicalize_name(n) for n in projects if isinstance(n, str)),
        summary={
            k: v for k, v in summary.items() if isinstance(v, int) and not isinstance(v, bool)
        },
        fingerprint=fingerprint if isinstance(fingerprint, str) else None,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


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


COMPLETED = "completed"  # an empty file: its mtime is when the last sync or import ended


def completed(mirror: Path) -> None:
    """Say that a sync (one that had nothing to do, too) or an import completed now:
    ``selmirror serve``'s ``/ready`` reports how long ago."""
    path = mirror / STATE_DIR / COMPLETED
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        path.touch()
        os.utime(path)


def fingerprint(inputs: object, pages: Mapping[NormalizedName, str]) -> str:
    """A digest of a run's inputs (JSON-able) and of the pages it read (name -> sha256)."""
    text = json.dumps({"inputs": inputs, "pages": sorted(pages.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
