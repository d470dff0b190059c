"""Carry a mirror across an air gap: ``export`` on the connected side, ``import`` on the other.

A bundle is a plain tar: ``manifest.json`` first, then ``files/<path>`` for every
distribution file, ``.metadata`` sidecar and JSON page added or changed since the previous
export (``full``: all of them), with the sha256 and size of each in the manifest, and the
paths the exporting side removed since the previous export (``removed``). The JSON pages
carry what the files alone cannot (yanked marks, upload times, Requires-Python), so the
importing side regenerates exactly the pages of the exporting side.

Import checks everything before anything moves, and refuses the bundle at the first doubt:

- every member: a regular file with a safe name, listed once in the manifest, with its
  hash and size;
- every page: each entry's file is in the bundle with the hash (and size) the page gives
  it, or is already here with that hash, and so is its ``.metadata`` sidecar; every file
  of the bundle is on one of its pages; the root page lists only projects that have a page;
- what the merge would remove (a file the new page drops, a project the root page drops)
  is in ``removed``: a bundle can only remove what the exporting side removed;
- no two names in a project folder would differ only in case.

Then files move in (``os.replace`` from a staging folder in the mirror), and pages and
removals follow as in a prune (see :mod:`selmirror.prune`): a killed import leaves no page
listing a missing file, and importing the same bundle again completes it.

A bundle proves that its bytes are the ones its manifest names and that its pages agree
with its files; nothing signs it, so it does not prove who made it. Whoever can write a
bundle can write a consistent one: carry it on a trusted medium, or check its sha256 out of
band.

Export writes the bundle beside ``output`` under a temp name, with the mode every file of
the mirror gets (the umask), and renames it into place once complete. The temp file is
locked while it is written; the next export removes every unlocked one a killed export left
there, or wherever the mirror's memory says the last one was.
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.utils import NormalizedName, canonicalize_name

from selmirror import hashes, prune
from selmirror.errors import InputError, IntegrityError, OutputError, SelmirrorError
from selmirror.folder import (
    JSON_PAGE,
    TMP_PREFIX,
    MirrorFolder,
    atomic_write,
    make_durable,
    own_records,
    temp_file,
)
from selmirror.index_writer import Keep, symlinked_projects, write_project, write_root
from selmirror.models import DistFile, ProjectStatus
from selmirror.pages import parse_json_page
from selmirror.state import STATE_DIR

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
FORMAT = "selmirror-bundle/1"
EXPORTS = "exports.json"
PARTIAL = "export-partial.json"  # where the export being written is (for the next one)
PARTIAL_PREFIX = f"{TMP_PREFIX}export-"
MAX_MANIFEST = 64 << 20
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_METADATA = ".metadata"
_PROVENANCE = ".provenance"


@dataclass(kw_only=True)
class ExportResult:
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    removed: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class ImportResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    files: Mapping[str, tuple[str, int]]  # path -> (sha256, size)
    removed: frozenset[str] = frozenset()


# -- export -------------------------------------------------------------------------------


def export(folder: MirrorFolder, output: Path, *, full: bool = False) -> ExportResult:
    """Write ``output``: what changed since the last export (or everything)."""
    if not (folder.root / JSON_PAGE).is_file():
        raise InputError(f"{folder.root} is not a selmirror mirror (no {JSON_PAGE})")
    state_path = folder.root / STATE_DIR / EXPORTS
    previous = _load(state_path)
    exported = {} if full else previous
    inventory = _inventory(folder)
    chosen = {p: v for p, v in inventory.items() if exported.get(p) != v[0]}
    removed = sorted(set(previous) - set(inventory))
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "full": full,
        "files": [{"path": p, "sha256": h, "size": s} for p, (h, s) in sorted(chosen.items())],
        "removed": removed,
    }
    _remove_partials(folder, output.parent)
    _write_bundle(folder, output, json.dumps(manifest, indent=1).encode(), sorted(chosen))
    # what the importing side has once it imported this bundle: exactly the inventory
    _write_state(state_path, {p: h for p, (h, _) in inventory.items()})
    return ExportResult(
        files=sorted(chosen), bytes=sum(s for _, s in chosen.values()), removed=removed
    )


def _inventory(folder: MirrorFolder) -> dict[str, tuple[str, int]]:
    """Every path a bundle may carry -> (sha256, size), from the pages: no re-hash."""
    for name in symlinked_projects(folder):
        log.warning("%s is a symlink: left out of the bundle", folder.project_dir(name))
    items: dict[str, tuple[str, int]] = {}
    try:
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
                sidecar = path.with_name(filename + _METADATA)
                if meta and sidecar.is_file():
                    items[f"{name}/{filename}{_METADATA}"] = (meta, sidecar.stat().st_size)
                kept = path.with_name(filename + _PROVENANCE)
                if record.provenance_sha256 and kept.is_file():
                    items[f"{name}/{filename}{_PROVENANCE}"] = (
                        record.provenance_sha256,
                        kept.stat().st_size,
                    )
        root = (folder.root / JSON_PAGE).read_bytes()
    except OSError as exc:
        raise OutputError(f"cannot read {exc.filename or folder.root}: {exc.strerror}") from None
    items[JSON_PAGE] = (hashlib.sha256(root).hexdigest(), len(root))
    return items


def _write_bundle(folder: MirrorFolder, output: Path, manifest: bytes, paths: list[str]) -> None:
    """The tar, under a locked temp name beside ``output``, renamed into place once whole."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file(output.parent, prefix=PARTIAL_PREFIX)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as raw:
            if fcntl is not None:  # alive: not for the next export to remove
                fcntl.flock(raw.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            _write_state(folder.root / STATE_DIR / PARTIAL, {"path": str(Path(tmp).absolute())})
            with tarfile.open(fileobj=raw, mode="w") as tar:
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime = len(manifest), int(time.time())
                tar.addfile(info, io.BytesIO(manifest))
                for path in paths:
                    tar.add(folder.root / path, arcname=f"files/{path}", recursive=False)
            raw.flush()
            os.fsync(raw.fileno())  # a bundle is carried away: all of it on the medium first
            os.replace(tmp, output)
    except OSError as exc:
        source = exc.filename is not None and Path(exc.filename).is_relative_to(folder.root)
        where = f"cannot read {exc.filename}" if source else f"cannot write {output}"
        raise OutputError(f"{where}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # gone already if it was renamed
    with contextlib.suppress(OSError):
        (folder.root / STATE_DIR / PARTIAL).unlink()


def _remove_partials(folder: MirrorFolder, directory: Path) -> None:
    """Remove what killed exports left: temp bundles in ``directory``, and the one the
    mirror's memory names wherever it is. One still locked belongs to a live export."""
    leftovers = set(directory.glob(PARTIAL_PREFIX + "*")) if directory.is_dir() else set()
    try:
        remembered = json.loads((folder.root / STATE_DIR / PARTIAL).read_bytes())["path"]
        if isinstance(remembered, str) and Path(remembered).name.startswith(PARTIAL_PREFIX):
            leftovers.add(Path(remembered))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass
    for path in sorted(leftovers):
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
            log.info("removed %s, left by an interrupted export", path)
        except OSError:
            pass  # locked: an export is writing it
        finally:
            os.close(fd)


def _load(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
        return {str(k): str(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, RecursionError):
        return {}


def _write_state(path: Path, data: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data).encode())
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or path}: {exc.strerror}") from None


# -- import: members and manifest ---------------------------------------------------------


def import_bundle(bundle: Path, folder: MirrorFolder) -> ImportResult:
    """Verify every member of ``bundle``, then merge it into ``folder`` (see module doc)."""
    try:
        folder.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.root, prefix=f"{TMP_PREFIX}import-"))
    except OSError as exc:
        raise OutputError(f"cannot write to {folder.root}: {exc.strerror}") from None
    try:
        manifest = _unpack_verified(bundle, staging)
        merge = _Merge.plan(folder, staging, manifest)
        return merge.apply()
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack_verified(bundle: Path, staging: Path) -> Manifest:
    try:
        tar = tarfile.open(bundle, mode="r:")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise InputError(f"no such bundle: {bundle}") from None
    except IsADirectoryError:
        raise InputError(f"{bundle} is a folder, not a bundle") from None
    except OSError as exc:
        raise OutputError(f"cannot read {bundle}: {exc.strerror}") from None
    except (tarfile.TarError, EOFError, ValueError) as exc:
        raise IntegrityError(f"bundle rejected: {bundle} is not a tar ({exc})") from None
    seen: set[str] = set()
    try:
        with tar:
            first = tar.next()
            if first is None or first.name != "manifest.json" or not first.isfile():
                raise IntegrityError(f"bundle rejected: {bundle} does not start with a manifest")
            if first.size > MAX_MANIFEST:
                raise IntegrityError("bundle rejected: manifest too large")
            stream = tar.extractfile(first)
            manifest = read_manifest(stream.read() if stream else b"")
            for member in tar:
                if member is first:
                    continue  # iterating a tar starts over from its first member
                name = member.name
                if not name.startswith("files/") or not member.isfile():
                    raise IntegrityError(f"bundle rejected: unexpected member {name[:120]!r}")
                path = _check_path(name[len("files/") :])
                if path not in manifest.files or path in seen:
                    raise IntegrityError(f"bundle rejected: {path} is not in the manifest")
                seen.add(path)
                _extract_checked(tar, member, staging / path, path, manifest.files[path])
    except (tarfile.TarError, EOFError, ValueError) as exc:
        raise IntegrityError(f"bundle rejected: {bundle} is damaged or truncated ({exc})") from None
    except OSError as exc:
        raise OutputError(f"cannot read {exc.filename or bundle}: {exc.strerror}") from None
    missing = sorted(set(manifest.files) - seen)
    if missing:
        raise IntegrityError(
            f"bundle rejected: {len(missing)} file(s) of the manifest are missing, "
            f"e.g. {missing[0]}"
        )
    return manifest


def read_manifest(data: bytes) -> Manifest:
    """Parse a bundle's ``manifest.json``; any other shape than ours is an IntegrityError
    that says where (``files[3].size: not a size``)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise IntegrityError("bundle rejected: the manifest is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise IntegrityError(f"bundle rejected: not a {FORMAT} bundle")
    files, removed = doc.get("files"), doc.get("removed", [])
    if not isinstance(files, list):
        raise IntegrityError("bundle rejected: manifest: files is not a list")
    if not isinstance(removed, list):
        raise IntegrityError("bundle rejected: manifest: removed is not a list")
    out: dict[str, tuple[str, int]] = {}
    for n, item in enumerate(files):
        where = f"manifest: files[{n}]"
        if not isinstance(item, dict):
            raise IntegrityError(f"bundle rejected: {where} is not an object")
        path, digest, size = item.get("path"), item.get("sha256"), item.get("size")
        if not isinstance(path, str):
            raise IntegrityError(f"bundle rejected: {where}.path is not a string")
        path = _check_path(path)
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise IntegrityError(f"bundle rejected: {where}.sha256 is not a sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise IntegrityError(f"bundle rejected: {where}.size is not a size")
        if path in out:
            raise IntegrityError(f"bundle rejected: {path} is twice in the manifest")
        out[path] = (digest, size)
    gone = set()
    for n, path in enumerate(removed):
        if not isinstance(path, str):
            raise IntegrityError(f"bundle rejected: manifest: removed[{n}] is not a string")
        gone.add(_check_path(path))
    return Manifest(files=out, removed=frozenset(gone))


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
    h = hashlib.sha256()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = open(dest, "wb", buffering=0)  # noqa: SIM115 - unbuffered: errors at write()
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror}") from None
    with out:
        while chunk := source.read(1 << 20):  # an OSError here is the bundle's
            h.update(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise OutputError(f"cannot write {dest}: {exc.strerror}") from None
    if h.hexdigest() != digest:
        raise IntegrityError(
            f"bundle rejected: hash mismatch for {path}: manifest says "
            f"{digest}, got {h.hexdigest()}"
        )


# -- import: cross-check, then merge ------------------------------------------------------


@dataclass(kw_only=True)
class _Merge:
    """What a checked bundle changes here: files in, pages, removals."""

    folder: MirrorFolder
    staging: Path
    manifest: Manifest
    pages: dict[NormalizedName, list[DistFile]] = field(default_factory=dict)
    statuses: dict[NormalizedName, ProjectStatus | None] = field(default_factory=dict)
    removals: dict[NormalizedName, dict[str, str | None]] = field(default_factory=dict)

    @classmethod
    def plan(cls, folder: MirrorFolder, staging: Path, manifest: Manifest) -> _Merge:
        """Cross-check the bundle's pages with its files and this mirror; raise
        :class:`IntegrityError` at the first thing that does not hold."""
        merge = cls(folder=folder, staging=staging, manifest=manifest)
        theirs = {
            NormalizedName(p.split("/")[0]): merge._their_page(p)
            for p in manifest.files
            if p.endswith(f"/{JSON_PAGE}")
        }
        claimed: set[str] = set()
        for name, files in sorted(theirs.items()):
            here = folder.recorded(name)
            for f in files.values():
                claimed |= merge._check_entry(name, f, here.get(f.filename))
            merge._merge_project(name, here, files)
        for path in sorted(set(manifest.files) - claimed):
            if path != JSON_PAGE and not path.endswith(f"/{JSON_PAGE}"):
                raise IntegrityError(f"bundle rejected: {path} is on none of its pages")
        if JSON_PAGE in manifest.files:
            merge._check_root(set(theirs))
        merge._check_case(theirs)
        return merge

    def _their_page(self, path: str) -> dict[str, DistFile]:
        name = NormalizedName(path.split("/")[0])
        url = (self.staging / name).resolve().as_uri() + "/"
        try:
            body = (self.staging / path).read_bytes()
            page = parse_json_page(body, url=url, project=name, schemes=("file",))
            rejected = [r for r in page.rejected if r.category != "quarantined"]
            self.statuses[name] = page.project_status  # PEP 792: theirs, as their page says
            files = own_records(body, url, name)  # and those a quarantined page withholds
        except (SelmirrorError, ValueError, RecursionError) as exc:
            raise IntegrityError(f"bundle rejected: {path} does not parse ({exc})") from None
        if rejected:
            raise IntegrityError(f"bundle rejected: {path}: {rejected[0].reason}")
        return files

    def _check_entry(self, name: str, f: DistFile, mine: DistFile | None) -> set[str]:
        """The page entry ``f`` against its file and sidecar, in the bundle or here; the
        bundle paths it accounts for."""
        path = f"{name}/{f.filename}"
        claimed = set()
        if f.sha256 is None:
            raise IntegrityError(f"bundle rejected: {name}/{JSON_PAGE}: {f.filename} has no sha256")
        if path in self.manifest.files:
            digest, size = self.manifest.files[path]
            if (digest, size) != (f.sha256, size if f.size is None else f.size):
                raise IntegrityError(
                    f"bundle rejected: {name}/{JSON_PAGE} says {f.filename} has sha256 "
                    f"{f.sha256} ({f.size} bytes); the bundle's has {digest} ({size} bytes)"
                )
            claimed.add(path)
        elif not _here(self.folder, mine, f.sha256, f.size):
            raise IntegrityError(
                f"bundle rejected: {name}/{JSON_PAGE} lists {f.filename} (sha256 {f.sha256}), "
                "which is neither in the bundle nor here",
                hint="import the earlier bundles first, or a bundle made with export --full",
            )
        if f.provenance_sha256 is not None:
            kept = path + _PROVENANCE
            if self.manifest.files.get(kept, ("",))[0] == f.provenance_sha256:
                claimed.add(kept)
            elif not (
                mine is not None
                and mine.provenance_sha256 == f.provenance_sha256
                and (self.folder.root / kept).is_file()
            ):
                raise IntegrityError(
                    f"bundle rejected: {name}/{JSON_PAGE} lists {f.filename}{_PROVENANCE} "
                    f"(sha256 {f.provenance_sha256}), which is neither in the bundle nor here"
                )
        meta = (f.core_metadata or {}).get("sha256")
        if meta is None:
            return claimed
        sidecar = path + _METADATA
        if sidecar in self.manifest.files:
            if self.manifest.files[sidecar][0] != meta:
                raise IntegrityError(
                    f"bundle rejected: {name}/{JSON_PAGE} says {f.filename}{_METADATA} has "
                    f"sha256 {meta}; the bundle's has {self.manifest.files[sidecar][0]}"
                )
            claimed.add(sidecar)
        elif not (
            mine is not None
            and (mine.core_metadata or {}).get("sha256") == meta
            and (self.folder.root / sidecar).is_file()
        ):
            raise IntegrityError(
                f"bundle rejected: {name}/{JSON_PAGE} lists {f.filename}{_METADATA} "
                f"(sha256 {meta}), which is neither in the bundle nor here",
                hint="import the earlier bundles first, or a bundle made with export --full",
            )
        return claimed

    def _merge_project(
        self, name: NormalizedName, here: dict[str, DistFile], theirs: dict[str, DistFile]
    ) -> None:
        """The new page: theirs, plus the files placed by hand here. The files selmirror put
        here that their page drops go, if the exporting side removed them."""
        directory = self.folder.project_dir(name)
        local = [
            r
            for f, r in here.items()
            if r.origin != "upstream" and f not in theirs and (directory / f).is_file()
        ]
        gone = {
            f: r.sha256
            for f, r in here.items()
            if r.origin == "upstream" and f not in theirs and (directory / f).is_file()
        }
        self._allow_removal(name, gone)
        self.pages[name] = [*theirs.values(), *local]

    def _allow_removal(self, name: str, gone: Mapping[str, str | None]) -> None:
        for filename in sorted(gone):
            if f"{name}/{filename}" not in self.manifest.removed:
                raise IntegrityError(
                    f"bundle rejected: it would remove {name}/{filename}, which the exporting "
                    "side did not record as removed"
                )
        if gone:
            self.removals[NormalizedName(name)] = dict(gone)

    def _check_root(self, theirs: set[NormalizedName]) -> None:
        """Projects the bundle's root page drops go, if the exporting side removed them; a
        project it lists must have a page, in the bundle or here."""
        try:
            doc = json.loads((self.staging / JSON_PAGE).read_bytes())
            listed = {canonicalize_name(p["name"]) for p in doc["projects"]}
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
            raise IntegrityError(f"bundle rejected: {JSON_PAGE} does not parse") from None
        mine = set(self.folder.projects())
        for name in sorted(listed - mine - theirs):
            raise IntegrityError(
                f"bundle rejected: {JSON_PAGE} lists project {name}, which has a page neither "
                "in the bundle nor here",
                hint="import the earlier bundles first, or a bundle made with export --full",
            )
        for name in sorted(theirs - listed):
            raise IntegrityError(f"bundle rejected: {name}/{JSON_PAGE} is not on its root page")
        for name in sorted(mine - listed):
            here = self.folder.recorded(name)
            directory = self.folder.project_dir(name)
            present = {f: r for f, r in here.items() if (directory / f).is_file()}
            local = [r for r in present.values() if r.origin != "upstream"]
            if not local and f"{name}/{JSON_PAGE}" not in self.manifest.removed:
                raise IntegrityError(
                    f"bundle rejected: it would remove project {name}, which the exporting "
                    "side did not record as removed"
                )
            self._allow_removal(
                name, {f: r.sha256 for f, r in present.items() if r.origin == "upstream"}
            )
            if local:
                self.pages[name] = local  # placed by hand here: the project stays for them

    def _check_case(self, theirs: Mapping[NormalizedName, Mapping[str, DistFile]]) -> None:
        """No project folder may end up with two names that differ only in case."""
        incoming: dict[str, set[str]] = {}
        for path in self.manifest.files:
            if "/" in path:
                name, filename = path.split("/")
                incoming.setdefault(name, set()).add(filename)
        for name, names in sorted(incoming.items()):
            directory = self.folder.project_dir(NormalizedName(name))
            leaving = {
                n
                for f in self.removals.get(NormalizedName(name), {})
                for n in (f, f + _METADATA, f + _PROVENANCE)
            }
            on_disk = set(os.listdir(directory)) if directory.is_dir() else set()
            _refuse_case_clash(name, sorted(names | (on_disk - leaving)))

    def apply(self) -> ImportResult:
        """Files first, then (removals recorded) pages, then the removals."""
        result = ImportResult()
        folder, files = self.folder, self.manifest.files
        try:
            moved = []
            for path in sorted(p for p in files if "/" in p and not p.endswith(f"/{JSON_PAGE}")):
                dest = folder.root / path
                if _same(dest, files[path]):
                    continue  # imported before: leave it be (importing twice changes nothing)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.staging / path, dest)
                moved.append(dest)
                result.added.append(path)
            make_durable(moved)  # on disk before any page lists them
        except OSError as exc:
            where = exc.filename or folder.root
            raise OutputError(f"cannot import into {where}: {exc.strerror}") from None
        if self.removals:
            prune.record_removal(folder, self.removals)
        for name, listing in sorted(self.pages.items()):
            write_project(folder, name, listing, self.statuses.get(name, Keep.STATUS))
            if f"{name}/{JSON_PAGE}" in files:
                result.pages.append(f"{name}/{JSON_PAGE}")
        result.removed = prune.finish(folder)
        write_root(folder)
        return result


def _here(folder: MirrorFolder, mine: DistFile | None, sha256: str, size: int | None) -> bool:
    """Whether this mirror's page records the file with ``sha256``, and it is in place."""
    if mine is None or mine.sha256 != sha256:
        return False
    try:
        actual = (folder.project_dir(mine.project) / mine.filename).stat().st_size
    except FileNotFoundError:
        return False
    return actual == mine.size and size in (None, actual)


def _refuse_case_clash(name: str, filenames: Iterable[str]) -> None:
    first: dict[str, str] = {}
    for filename in filenames:
        other = first.setdefault(filename.casefold(), filename)
        if other != filename:
            raise IntegrityError(
                f"bundle rejected: {name}/{filename} and {name}/{other} differ only in case; "
                "on a case-insensitive file system they are one file"
            )


def _same(path: Path, want: tuple[str, int]) -> bool:
    try:
        if path.stat().st_size != want[1]:
            return False
    except FileNotFoundError:
        return False
    return hashes.file_digest(path, ("sha256",))["sha256"] == want[0]
