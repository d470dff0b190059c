"""Core metadata from distribution files: a wheel's METADATA, an sdist's PKG-INFO.

Reads one member and never extracts an archive; caps sizes against zip bombs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import Version

from selmirror.pages import too_long_number, usable_specifier
from selmirror.sdists import BadSdist, BuildSystem, build_system, read_sdist, sdist_metadata
from selmirror.zipmember import Member, Unreadable, read_member

log = logging.getLogger(__name__)
MAX_METADATA_BYTES = 10 << 20


class BadDistribution(ValueError):
    """The archive is unreadable or lacks its metadata."""


def wheel_metadata(source: str | Path | IO[bytes], filename: str) -> bytes:
    """The exact bytes of ``<name>-<version>.dist-info/METADATA`` in the wheel ``filename``.

    The ``.dist-info`` folder must belong to the wheel's own project and version, as pip
    checks; exactly one may exist. Whatever the archive holds, a failure is
    :class:`BadDistribution` (or what reading ``source`` itself raises).
    """
    name, version, _, _ = parse_wheel_filename(filename)
    if hasattr(source, "read"):
        return _wheel_metadata(cast(IO[bytes], source), filename, name, version)
    try:
        f = open(source, "rb")  # noqa: SIM115 - closed just below
    except OSError as exc:
        raise BadDistribution(f"{filename}: not a readable wheel ({exc})") from None
    with f:
        return _wheel_metadata(f, filename, name, version)


def _wheel_metadata(f: IO[bytes], filename: str, name: NormalizedName, version: Version) -> bytes:
    if (quick := _metadata_by_search(f, name, version)) is not None:
        return quick
    return _read_member(f, _member_by_zipfile(f, filename, name, version), filename)


# What reading a hostile archive with zipfile raises, besides BadZipFile: a short read
# (EOFError, struct.error), a name that is not UTF-8 (UnicodeDecodeError), an offset
# before the file's start or past what a seek takes (ValueError, OSError, OverflowError),
# a "version needed to extract" above 6.3 (NotImplementedError).
_UNREADABLE = (
    zipfile.BadZipFile,
    OSError,
    EOFError,
    ValueError,
    struct.error,
    OverflowError,
    NotImplementedError,
)


def _member_by_zipfile(
    f: IO[bytes], filename: str, name: NormalizedName, version: Version
) -> Member:
    """The METADATA member as zipfile's reading of the central directory finds it; zipfile
    also reads what the quick search leaves (a comment, data before the archive, zip64)."""
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as archive:
            candidates = [
                info
                for info in archive.infolist()
                if info.filename.count("/") == 1
                and info.filename.endswith(".dist-info/METADATA")
                and _dist_info_matches(info.filename.split("/")[0], name, version)
            ]
    except _UNREADABLE as exc:
        raise BadDistribution(f"{filename}: not a readable wheel ({exc})") from None
    if len(candidates) != 1:
        found = "no" if not candidates else "several"
        raise BadDistribution(f"{filename}: {found} {name}-{version}.dist-info/METADATA")
    info = candidates[0]
    return Member.of(info)


_END = struct.Struct("<4s4H2LH")  # end of central directory record (as zipfile reads it)
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
_METADATA = b".dist-info/METADATA"
MAX_DIRECTORY_BYTES = 64 << 20  # the central directory of a wheel of 100,000 files: 15 MB


def _metadata_by_search(
    source: str | Path | IO[bytes], name: NormalizedName, version: Version
) -> bytes | None:
    """METADATA found by searching the central directory for its name, or ``None``.

    zipfile builds an object for every member first: for 8 targets of W3 (152 wheels,
    some with 3,000 files) that was 0.2 s of CPU, and 0.03 s this way. Anything unusual
    (a comment, data before the archive, zip64, a method other than stored or deflate, no
    or several candidates, a member that cannot be read) gives ``None``, and
    :func:`wheel_metadata` asks zipfile, which also words every error.
    """
    try:
        with contextlib.ExitStack() as stack:
            f = source if hasattr(source, "read") else stack.enter_context(open(source, "rb"))
            return _search(f, name, version)  # type: ignore[arg-type]
    except (OSError, ValueError, EOFError, struct.error, OverflowError):  # BadDistribution too
        return None


def _search(f: IO[bytes], name: NormalizedName, version: Version) -> bytes | None:
    size = f.seek(0, io.SEEK_END)
    if size < _END.size:
        return None
    f.seek(size - _END.size)
    sig, disk, cd_disk, here, total, cd_size, cd_offset, comment = _END.unpack(f.read(_END.size))
    standard = sig == b"PK\x05\x06" and not (comment or disk or cd_disk) and here == total
    if not standard or cd_offset + cd_size != size - _END.size or cd_size > MAX_DIRECTORY_BYTES:
        return None
    f.seek(cd_offset)
    directory = f.read(cd_size)
    found = [
        record
        for end in _ends_of(directory, _METADATA)
        if (record := _record_ending_at(directory, end, name, version)) is not None
    ]
    if len(found) != 1:
        return None
    flags, method, crc, packed, unpacked, offset = (found[0][i] for i in (5, 6, 9, 10, 11, 18))
    if method not in (0, 8):
        return None
    return _read_member(f, Member(offset, method, flags, packed, unpacked, crc), "")


def _read_member(f: IO[bytes], member: Member, filename: str) -> bytes:
    """The METADATA member's data, bounded (see :mod:`selmirror.zipmember`)."""
    try:
        return read_member(f, member, MAX_METADATA_BYTES, "METADATA")
    except Unreadable as exc:
        raise BadDistribution(f"{filename}: not a readable wheel ({exc})") from None


def _ends_of(data: bytes, needle: bytes) -> Iterator[int]:
    at = data.find(needle)
    while at >= 0:
        yield at + len(needle)
        at = data.find(needle, at + 1)


def _record_ending_at(
    directory: bytes, end: int, name: NormalizedName, version: Version
) -> tuple[Any, ...] | None:
    """The central directory record whose file name ends at ``end``, if that name is
    ``<dist-info of name and version>/METADATA``."""
    lowest = max(0, end - _CENTRAL.size - 0xFFFF)
    head = directory.rfind(b"PK\x01\x02", lowest, end)
    while head >= 0:
        record = _CENTRAL.unpack_from(directory, head)
        start = head + _CENTRAL.size
        if start + record[12] == end:
            parts = directory[start:end].decode("utf-8" if record[5] & 0x800 else "cp437")
            folder, _, rest = parts.partition("/")
            if rest == "METADATA" and _dist_info_matches(folder, name, version):
                return record
            return None
        head = directory.rfind(b"PK\x01\x02", lowest, head)
    return None


def _dist_info_matches(folder: str, name: str, version: Version) -> bool:
    stem = folder.removesuffix(".dist-info")
    dist, sep, ver = stem.rpartition("-")
    try:
        return bool(sep) and canonicalize_name(dist) == name and Version(ver) == version
    except ValueError:  # InvalidVersion, or a number too long for int()
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreMetadata:
    """What resolution needs of one distribution file.

    ``dependencies_known`` is false for an sdist with no static source of its dependencies
    (only a build could tell, and selmirror never runs a build backend). ``source`` says
    where they came from (``"pep658"``, ``"range"``, ``"egg-info requires.txt"``, ...);
    ``build`` is what building an sdist needs.
    """

    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()
    dependencies_known: bool = True
    source: str = ""
    build: BuildSystem | None = None


def parse_core_metadata(data: bytes, *, source: str) -> CoreMetadata:
    """Read the fields resolution needs from a wheel's METADATA, leniently (real metadata
    is often not valid)."""
    raw, _ = parse_email(data)
    return CoreMetadata(
        requires_dist=tuple(raw.get("requires_dist", [])),
        requires_python=_requires_python(raw.get("requires_python"), source),
        provides_extra=tuple(raw.get("provides_extra", [])),
        source=source,
    )


def _requires_python(value: str | None, source: str) -> str | None:
    """``Requires-Python`` if a target can compare its Python with it, else ``None`` (a
    warning): the resolver asks every target, and an invalid one would stop the run."""
    if value is None or usable_specifier(value):
        return value
    log.warning("%s: ignoring invalid Requires-Python %r", source or "metadata", value[:80])
    return None


def sdist_core_metadata(path: str | Path, filename: str, *, source: str = "") -> CoreMetadata:
    """What resolution needs of the sdist at ``path``, read from the best static source it
    has (see :mod:`selmirror.sdists`); an unreadable archive has unknown dependencies."""
    try:
        contents = read_sdist(path, filename)
    except BadSdist as exc:
        return CoreMetadata(dependencies_known=False, source=str(exc), build=BuildSystem())
    meta = sdist_metadata(contents)
    where = f"{source}: {meta.source}" if source else meta.source
    return CoreMetadata(
        requires_dist=meta.requires_dist or (),
        requires_python=_requires_python(meta.requires_python, where),
        provides_extra=meta.provides_extra,
        dependencies_known=meta.requires_dist is not None,
        source=where,
        build=build_system(contents),
    )


@dataclass(frozen=True, slots=True)
class Dependency:
    """One ``Requires-Dist`` line, parsed. ``marker`` is its text; ``text`` the line without it."""

    name: NormalizedName
    specifier: SpecifierSet
    extras: frozenset[str]
    marker: str | None
    url: str | None
    text: str


@functools.lru_cache(maxsize=1 << 14)
def parse_dependency(line: str) -> Dependency | None:
    """``line`` parsed once per run, whatever the number of targets; None if invalid.

    Every target's resolution and the explorer read the same lines again and again.
    """
    if too_long_number(line):  # it would parse, then fail every comparison with ValueError
        return None
    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    marker = str(req.marker) if req.marker is not None else None
    req.marker = None
    return Dependency(
        name=canonicalize_name(req.name),
        specifier=req.specifier,
        extras=frozenset(canonicalize_name(e) for e in req.extras),
        marker=marker,
        url=req.url,
        text=str(req),
    )
