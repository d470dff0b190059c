"""What the mirror holds, as objects to publish: every file its pages list (with the
sha256 the pages record, never re-hashed), each sidecar, and the pages themselves.

The disk edge of ``publish``: :mod:`selmirror.publish.plan` decides from this alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName

from selmirror.errors import OutputError
from selmirror.folder import HTML_PAGE, JSON_PAGE, MirrorFolder


@dataclass(frozen=True, slots=True)
class Item:
    """One object's worth of the mirror: ``path`` relative to the mirror's root."""

    path: str
    sha256: str
    size: int
    kind: str  # "file", "metadata", "provenance", "page-html", "page-json"
    project: NormalizedName | None = None  # None: the root pages


def inventory(folder: MirrorFolder) -> list[Item]:
    """Every object of the mirror; :class:`OutputError` naming what cannot be read."""
    try:
        return _inventory(folder)
    except OSError as exc:
        raise OutputError(f"cannot read {exc.filename or folder.root}: {exc.strerror}") from None


def _inventory(folder: MirrorFolder) -> list[Item]:
    items: list[Item] = []
    for name in folder.projects():
        directory = folder.project_dir(name)
        records = folder.recorded(name)
        for page, kind in ((HTML_PAGE, "page-html"), (JSON_PAGE, "page-json")):
            items.append(_page(directory / page, f"{name}/{page}", kind, name))
        for filename, record in sorted(records.items()):
            path = directory / filename
            if record.sha256 is None or not path.is_file():
                continue
            items.append(
                Item(f"{name}/{filename}", record.sha256, path.stat().st_size, "file", name)
            )
            meta = (record.core_metadata or {}).get("sha256")
            for suffix, digest, kind in (
                (".metadata", meta, "metadata"),
                (".provenance", record.provenance_sha256, "provenance"),
            ):
                sidecar = path.with_name(filename + suffix)
                if digest and sidecar.is_file():
                    size = sidecar.stat().st_size
                    items.append(Item(f"{name}/{filename}{suffix}", digest, size, kind, name))
    for page, kind in ((HTML_PAGE, "page-html"), (JSON_PAGE, "page-json")):
        items.append(_page(folder.root / page, page, kind, None))
    return items


def _page(path: Path, relative: str, kind: str, project: NormalizedName | None) -> Item:
    data = path.read_bytes()
    return Item(relative, hashlib.sha256(data).hexdigest(), len(data), kind, project)
