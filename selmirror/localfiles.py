"""Records for distribution files found in a project folder but not on its page.

A killed run can leave a verified file under its final name before its page was written;
the next run lists it again. Name and version come from the filename, Requires-Python from
the file's own metadata, the hash from the bytes.

Of two names that differ only in case (``Demo-1.0.tar.gz``, ``demo-1.0.tar.gz``) only the
first is listed: a file already on the page, else the first in sorted order. The other is
refused with a reason: on a case-insensitive file system (an offline side on Windows or
macOS) the two are one file, and one of the hashes on the page would be a lie.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Collection
from pathlib import Path

from packaging.metadata import parse_email
from packaging.utils import NormalizedName

from selmirror import hashes
from selmirror.errors import OutputError
from selmirror.folder import atomic_write
from selmirror.metadata import BadDistribution, wheel_metadata
from selmirror.models import DistFile, Rejected
from selmirror.pages import FileRefused, dist_file, utc_now
from selmirror.sdists import BadSdist, read_sdist, trusted

log = logging.getLogger(__name__)
_SKIP_SUFFIXES = (".metadata", ".provenance", ".html", ".v1_json")


def candidates(folder: Path, known: Collection[str]) -> list[Path]:
    """Files in ``folder`` that may be distributions not listed in ``known`` (the refused
    ones are logged: see :func:`scan`)."""
    return scan(folder, known)[0]


def scan(folder: Path, known: Collection[str]) -> tuple[list[Path], list[Rejected]]:
    """Files in ``folder`` that may be distributions not listed in ``known``, and those
    refused because their name differs only in case from a known or an earlier one."""
    try:
        with os.scandir(folder) as entries:  # d_type: no stat per entry
            names = [
                e.name
                for e in entries
                if e.is_file(follow_symlinks=False)
                and not e.name.startswith(".")
                and not e.name.endswith(_SKIP_SUFFIXES)
                and e.name not in known
            ]
    except OSError as exc:
        raise OutputError(f"cannot read {folder}: {exc.strerror}") from None
    taken: dict[str, str] = {}
    for name in sorted(known):
        taken.setdefault(name.casefold(), name)
    found, refused = [], []
    for name in sorted(names):
        if (first := taken.setdefault(name.casefold(), name)) != name:
            refused.append(case_clash(folder.name, name, first))
            log.warning("%s/%s", folder.name, refused[-1].reason)
        else:
            found.append(folder / name)
    return found, refused


def case_clash(project: str, filename: str, first: str) -> Rejected:
    """The reason ``filename`` is refused beside ``first``, which differs only in case."""
    return Rejected(
        project=project,
        filename=filename,
        category="case-clash",
        reason=f"{filename}: refused, its name differs only in case from {first}: "
        "on a case-insensitive file system the two are one file",
    )


def record_from_disk(
    path: Path, project: NormalizedName, *, page_url: str | None = None
) -> DistFile | None:
    """Describe ``path`` as a page entry (writing its ``.metadata`` if a wheel); ``None`` if
    it is not a distribution of ``project``."""
    try:
        return _record_from_disk(path, project, page_url=page_url)
    except OSError as exc:
        raise OutputError(f"cannot index {exc.filename or path}: {exc.strerror}") from None


def _record_from_disk(
    path: Path, project: NormalizedName, *, page_url: str | None
) -> DistFile | None:
    try:
        probe = dist_file(
            project=project,
            filename=path.name,
            url=path.name,
            page_url=page_url or path.parent.resolve().as_uri() + "/",
            hashes_raw={},
            schemes=("file",),
        )
    except FileRefused as exc:
        log.warning("ignoring %s: %s", path, exc.reason)
        return None
    digest = hashes.file_digest(path, ("sha256",))["sha256"]
    requires_python, core = None, None
    try:
        if probe.kind == "wheel":
            data = wheel_metadata(path, path.name)
            atomic_write(path.with_name(path.name + ".metadata"), data, sync=False)
            core = {"sha256": hashlib.sha256(data).hexdigest()}
            requires_python = parse_email(data)[0].get("requires_python")
        else:
            pkg_info = read_sdist(path, path.name).pkg_info
            raw = parse_email(pkg_info)[0] if pkg_info else {}
            if trusted(raw.get("metadata_version"), raw.get("dynamic", []), "requires-python"):
                requires_python = raw.get("requires_python")
    except (BadDistribution, BadSdist) as exc:
        log.warning("%s", exc)
    return DistFile(
        project=project,
        filename=probe.filename,
        url=probe.url,
        version=probe.version,
        kind=probe.kind,
        tags=probe.tags,
        hashes={"sha256": digest},
        requires_python=requires_python,
        size=path.stat().st_size,
        core_metadata=core,
        origin="local",
        arrival_time=utc_now(),
    )
