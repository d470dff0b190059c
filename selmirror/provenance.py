"""PEP 740 provenance: the attestations upstream publishes for a file, kept beside it.

When upstream's page gives a file a ``provenance`` URL, each run that selects the file
fetches it again (attestations may be added later), checks that it is a provenance object
(JSON, ``version`` 1, a list of ``attestation_bundles``, bounded in size), and keeps it as
``<file>.provenance``, rewritten only when its bytes change. A file whose upstream stops
advertising one loses its copy. A failed fetch keeps the copy the mirror has, with a
warning: the file is still good.

The mirror's pages record the copy's hash (a private key), and link it (PEP 740's public
``provenance`` key, which must be an absolute URL) only when the mirror knows where it is
served: ``--base-url``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from selmirror.errors import OutputError, SelmirrorError, UpstreamError
from selmirror.folder import MirrorFolder, atomic_write
from selmirror.models import DistFile
from selmirror.urls import redact

if TYPE_CHECKING:  # indexer and serve use the rest, without the network stack
    from selmirror.upstream import Upstream

log = logging.getLogger(__name__)
SUFFIX = ".provenance"
MAX_BYTES = 4 << 20  # PyPI's are a few kB; a bundle per publisher, a handful at most


def check(data: bytes, url: str) -> None:
    """Raise :class:`UpstreamError` unless ``data`` is a PEP 740 provenance object."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        raise UpstreamError(f"provenance at {redact(url)} is not JSON") from None
    bundles = obj.get("attestation_bundles") if isinstance(obj, dict) else None
    if not isinstance(obj, dict) or obj.get("version") != 1 or not isinstance(bundles, list):
        raise UpstreamError(
            f"provenance at {redact(url)} is not a PEP 740 provenance object "
            "(version 1, attestation_bundles)"
        )
    if not all(isinstance(b, dict) for b in bundles):
        raise UpstreamError(f"provenance at {redact(url)}: an attestation bundle is not an object")


def sidecar(directory: Path, filename: str) -> Path:
    return directory / (filename + SUFFIX)


def refresh(
    upstream: Upstream, folder: MirrorFolder, files: Sequence[DistFile], workers: int
) -> list[DistFile]:
    """``files`` (upstream's records of files now in the mirror) with the provenance the
    mirror holds for each: fetched again where upstream advertises one."""
    if not files:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(files)))) as pool:
        return list(pool.map(lambda f: _one(upstream, folder, f), files))


def _one(upstream: Upstream, folder: MirrorFolder, f: DistFile) -> DistFile:
    path = sidecar(folder.project_dir(f.project), f.filename)
    if f.provenance is None:
        if path.exists():
            log.info("%s: upstream no longer gives a provenance; removing ours", f.filename)
            _unlink(path)
        return replace(f, provenance_sha256=None)
    try:
        data = upstream.document(f.provenance, limit=MAX_BYTES)
        check(data, f.provenance)
    except SelmirrorError as exc:
        kept = _kept(path)
        log.warning(
            "%s: cannot fetch its provenance: %s%s",
            f.filename,
            exc.message,
            "; keeping the copy the mirror has" if kept else "",
        )
        return replace(f, provenance=f.provenance if kept else None, provenance_sha256=kept)
    digest = hashlib.sha256(data).hexdigest()
    if _kept(path) != digest:
        try:
            atomic_write(path, data)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror}") from None
        log.debug("%s: provenance stored", f.filename)
    return replace(f, provenance_sha256=digest)


def held(directory: Path, record: DistFile) -> DistFile:
    """``record``, without its provenance if the copy is gone from ``directory``."""
    if record.provenance_sha256 is None or sidecar(directory, record.filename).is_file():
        return record
    return replace(record, provenance=None, provenance_sha256=None)


def _kept(path: Path) -> str | None:
    """The sha256 of the copy the mirror has, if any."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from None


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot remove {path}: {exc.strerror}") from None
