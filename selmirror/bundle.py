"""Carry a mirror across an air gap: ``export`` on the connected side, ``import`` on the other.

A bundle is a plain tar: ``manifest.json`` first, then ``files/<path>`` for every
distribution file, ``.metadata`` sidecar and JSON page added or changed since the previous
export (``full``: all of them), with the sha256 and size of each in the manifest. The JSON
pages carry what the files alone cannot (yanked marks, upload times, Requires-Python), so
the importing side regenerates exactly the pages of the exporting side.

Import checks every member before anything moves: only regular files, safe names, listed in
the manifest with their hash and size. A tampered or truncated bundle is rejected with the
mirror unchanged. Then files move in (``os.replace`` from a staging folder in the mirror),
pages are written, and files the exporting side pruned go (pages first).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from packaging.utils import NormalizedName, canonicalize_name

from selmirror import hashes
from selmirror.errors import InputError, IntegrityError, OutputError
from selmirror.folder import JSON_PAGE, TMP_PREFIX, MirrorFolder, atomic_write
from selmirror.index_writer import write_project, write_root
from selmirror.pages import parse_json_page
from selmirror.state import STATE_DIR

log = logging.getLogger(__name__)
FORMAT = "selmirror-bundle/1"
EXPORTS = "exports.json"
MAX_MANIFEST = 64 << 20
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")


@dataclass(kw_only=True)
class ExportResult:
    files: list[str] = field(default_factory=list)
    bytes: int = 0


@dataclass(kw_only=True)
class ImportResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)


def _inventory(folder: MirrorFolder) -> dict[str, tuple[str, int]]:
    """Every path a bundle may carry -> (sha256, size), from the pages: no re-hash."""
    items: dict[str, tuple[str, int]] = {}
    for name in folder.projects():
        page = folder.project_dir(name) / JSON_PAGE
        body = page.read_bytes()
        items[f"{name}/{JSON_PAGE}"] = (hashlib.sha256(body).hexdigest(), len(body))
        for filename, record in folder.recorded(name).items():
            path = folder.project_dir(name) / filename
            if not path.is_file() or record.sha256 is None:
                continue
            items[f"{name}/{filename}"] = (record.sha256, path.stat().st_size)
            meta = (record.core_metadata or {}).get("sha256")
            sidecar = path.with_name(filename + ".metadata")
            if meta and sidecar.is_file():
                items[f"{name}/{filename}.metadata"] = (meta, sidecar.stat().st_size)
    root = (folder.root / JSON_PAGE).read_bytes()
    items[JSON_PAGE] = (hashlib.sha256(root).hexdigest(), len(root))
    return items


def export(folder: MirrorFolder, output: Path, *, full: bool = False) -> ExportResult:
    """Write ``output``: what changed since the last export (or everything)."""
    if not (folder.root / JSON_PAGE).is_file():
        raise InputError(f"{folder.root} is not a selmirror mirror (no {JSON_PAGE})")
    state_path = folder.root / STATE_DIR / EXPORTS
    exported: dict[str, str] = {} if full else _load(state_path)
    inventory = _inventory(folder)
    chosen = {p: v for p, v in inventory.items() if exported.get(p) != v[0]}
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "full": full,
        "files": [{"path": p, "sha256": h, "size": s} for p, (h, s) in sorted(chosen.items())],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
            for path in sorted(chosen):
                tar.add(folder.root / path, arcname=f"files/{path}", recursive=False)
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    state_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        state_path, json.dumps({**exported, **{p: h for p, (h, _) in inventory.items()}}).encode()
    )
    return ExportResult(files=sorted(chosen), bytes=sum(s for _, s in chosen.values()))


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _check_path(path: str) -> str:
    """A manifest path must be ``index.v1_json`` or ``<normalized>/<safe file name>``."""
    parts = PurePosixPath(path).parts
    if path == JSON_PAGE:
        return path
    if (
        len(parts) != 2
        or canonicalize_name(parts[0]) != parts[0]
        or not _SAFE.fullmatch(parts[0])
        or not _SAFE.fullmatch(parts[1])
        or "/".join(parts) != path
    ):
        raise IntegrityError(f"bundle rejected: unsafe path {path[:120]!r}")
    return path


def import_bundle(bundle: Path, folder: MirrorFolder) -> ImportResult:
    """Verify every member of ``bundle``, then merge it into ``folder`` (see module doc)."""
    folder.root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.root, prefix=f"{TMP_PREFIX}import-"))
    try:
        manifest = _unpack_verified(bundle, staging)
        return _merge(folder, staging, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack_verified(bundle: Path, staging: Path) -> dict[str, tuple[str, int]]:
    expected: dict[str, tuple[str, int]] = {}
    seen: set[str] = set()
    try:
        with tarfile.open(bundle, mode="r:") as tar:
            first = tar.next()
            if first is None or first.name != "manifest.json" or not first.isfile():
                raise IntegrityError(f"bundle rejected: {bundle} does not start with a manifest")
            if first.size > MAX_MANIFEST:
                raise IntegrityError("bundle rejected: manifest too large")
            expected = _read_manifest(tar.extractfile(first))
            for member in tar:
                if member is first:
                    continue  # iterating a tar starts over from its first member
                name = member.name
                if not name.startswith("files/") or not member.isfile():
                    raise IntegrityError(f"bundle rejected: unexpected member {name[:120]!r}")
                path = _check_path(name[len("files/") :])
                if path not in expected or path in seen:
                    raise IntegrityError(f"bundle rejected: {path} is not in the manifest")
                seen.add(path)
                _extract_checked(tar, member, staging / path, path, expected[path])
    except (tarfile.TarError, EOFError) as exc:
        raise IntegrityError(f"bundle rejected: {bundle} is damaged or truncated ({exc})") from None
    except FileNotFoundError:
        raise InputError(f"no such bundle: {bundle}") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise IntegrityError(
            f"bundle rejected: {len(missing)} file(s) of the manifest are missing, "
            f"e.g. {missing[0]}"
        )
    return expected


def _read_manifest(stream: IO[bytes] | None) -> dict[str, tuple[str, int]]:
    if stream is None:
        raise IntegrityError("bundle rejected: unreadable manifest")
    try:
        data = json.loads(stream.read())
        if data.get("format") != FORMAT:
            raise IntegrityError(f"bundle rejected: not a {FORMAT} bundle")
        out = {}
        for item in data["files"]:
            path = _check_path(str(item["path"]))
            digest, size = str(item["sha256"]), int(item["size"])
            if not re.fullmatch(r"[0-9a-f]{64}", digest) or size < 0:
                raise IntegrityError(f"bundle rejected: bad manifest entry for {path}")
            out[path] = (digest, size)
        return out
    except (ValueError, KeyError, TypeError, AttributeError):
        raise IntegrityError("bundle rejected: unreadable manifest") from None


def _extract_checked(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, path: str, want: tuple[str, int]
) -> None:
    digest, size = want
    if member.size != size:
        raise IntegrityError(
            f"bundle rejected: {path} is {member.size} bytes, manifest says {size}"
        )
    source = tar.extractfile(member)
    if source is None:
        raise IntegrityError(f"bundle rejected: {path} cannot be read")
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(dest, "wb") as out:
        while chunk := source.read(1 << 20):
            h.update(chunk)
            out.write(chunk)
    if h.hexdigest() != digest:
        raise IntegrityError(
            f"bundle rejected: hash mismatch for {path}: manifest says "
            f"{digest}, got {h.hexdigest()}"
        )


def _merge(
    folder: MirrorFolder, staging: Path, manifest: dict[str, tuple[str, int]]
) -> ImportResult:
    result = ImportResult()
    pages = sorted(p for p in manifest if p.endswith(f"/{JSON_PAGE}"))
    files = sorted(p for p in manifest if "/" in p and p not in pages)
    try:
        for path in files:  # files first: no page may list a file not yet in place
            dest = folder.root / path
            if _same(dest, manifest[path]):
                continue  # imported before: leave it be (importing twice changes nothing)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, dest)
            result.added.append(path)
        keep_projects: set[str] | None = None
        if JSON_PAGE in manifest:
            data = json.loads((staging / JSON_PAGE).read_bytes())
            keep_projects = {canonicalize_name(p["name"]) for p in data["projects"]}
        for path in pages:
            name = NormalizedName(path.split("/")[0])
            result.removed += _write_page(folder, name, (staging / path).read_bytes())
            result.pages.append(path)
        if keep_projects is not None:
            for name in folder.projects():
                if name not in keep_projects:
                    result.removed += _drop_project(folder, name)
        write_root(folder)
    except OSError as exc:
        raise OutputError(f"import into {folder.root} failed: {exc.strerror}") from None
    return result


def _same(path: Path, want: tuple[str, int]) -> bool:
    try:
        if path.stat().st_size != want[1]:
            return False
    except FileNotFoundError:
        return False
    return hashes.file_digest(path, ("sha256",))["sha256"] == want[0]


def _write_page(folder: MirrorFolder, name: NormalizedName, body: bytes) -> list[str]:
    """The exporting side's page, plus files placed by hand on this side; then (pages
    first) the files the exporting side no longer lists go."""
    directory = folder.project_dir(name)
    page = parse_json_page(
        body, url=directory.resolve().as_uri() + "/", project=name, schemes=("file",)
    )
    theirs = {f.filename: f for f in page.files}
    before = folder.recorded(name)
    local = {f: r for f, r in before.items() if r.origin != "upstream" and f not in theirs}
    listing = {**local, **theirs}
    present = [f for f in listing.values() if (directory / f.filename).is_file()]
    if len(present) < len(listing):
        log.warning(
            "%s: %d file(s) of the exporting side are not here; import the earlier bundles first",
            name,
            len(listing) - len(present),
        )
    write_project(folder, name, present)
    removed = []
    for filename, record in before.items():
        if record.origin == "upstream" and filename not in theirs:
            for path in (directory / filename, directory / (filename + ".metadata")):
                if path.exists():
                    path.unlink()
                    removed.append(f"{name}/{path.name}")
    return removed


def _drop_project(folder: MirrorFolder, name: NormalizedName) -> list[str]:
    records = folder.recorded(name)
    if any(r.origin != "upstream" for r in records.values()):
        return []  # files placed by hand on this side: keep the project
    write_root(folder, exclude={name})
    shutil.rmtree(folder.project_dir(name), ignore_errors=True)
    return [f"{name}/{f}" for f in records]
