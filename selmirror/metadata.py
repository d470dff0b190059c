"""Core metadata from distribution files: a wheel's METADATA, an sdist's PKG-INFO.

Reads one member and never extracts an archive; caps sizes against zip bombs.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import IO

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

MAX_METADATA_BYTES = 10 << 20


class BadDistribution(ValueError):
    """The archive is unreadable or lacks its metadata."""


def wheel_metadata(source: str | Path | IO[bytes], filename: str) -> bytes:
    """The exact bytes of ``<name>-<version>.dist-info/METADATA`` in the wheel ``filename``.

    The ``.dist-info`` folder must belong to the wheel's own project and version, as pip
    checks; exactly one may exist.
    """
    name, version, _, _ = parse_wheel_filename(filename)
    try:
        with zipfile.ZipFile(source) as archive:
            candidates = [
                info
                for info in archive.infolist()
                if info.filename.count("/") == 1
                and info.filename.endswith(".dist-info/METADATA")
                and _dist_info_matches(info.filename.split("/")[0], name, version)
            ]
            if len(candidates) != 1:
                found = "no" if not candidates else "several"
                raise BadDistribution(f"{filename}: {found} {name}-{version}.dist-info/METADATA")
            info = candidates[0]
            if info.file_size > MAX_METADATA_BYTES:
                raise BadDistribution(f"{filename}: METADATA larger than 10 MiB")
            with archive.open(info) as member:
                data = member.read(MAX_METADATA_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadDistribution(f"{filename}: not a readable wheel ({exc})") from None
    if len(data) > MAX_METADATA_BYTES:
        raise BadDistribution(f"{filename}: METADATA larger than 10 MiB")
    return data


def _dist_info_matches(folder: str, name: str, version: Version) -> bool:
    stem = folder.removesuffix(".dist-info")
    dist, sep, ver = stem.rpartition("-")
    try:
        return bool(sep) and canonicalize_name(dist) == name and Version(ver) == version
    except InvalidVersion:
        return False


def sdist_pkg_info(path: str | Path, filename: str) -> bytes:
    """The bytes of ``{name}-{version}/PKG-INFO`` of an sdist (``.tar.gz`` or ``.zip``)."""
    name, version = parse_sdist_filename(filename)
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if _is_pkg_info(info.filename, name, version):
                        if info.file_size > MAX_METADATA_BYTES:
                            break
                        with archive.open(info) as member:
                            return member.read(MAX_METADATA_BYTES)
        else:
            with tarfile.open(path, "r:gz") as archive:
                for entry in archive:
                    if _is_pkg_info(entry.name, name, version) and entry.isfile():
                        if entry.size > MAX_METADATA_BYTES:
                            break
                        stream = archive.extractfile(entry)
                        if stream is not None:
                            return stream.read(MAX_METADATA_BYTES)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BadDistribution(f"{filename}: not a readable sdist ({exc})") from None
    raise BadDistribution(f"{filename}: no usable PKG-INFO")


def _is_pkg_info(member: str, name: str, version: Version) -> bool:
    top, sep, rest = member.partition("/")
    return (
        sep == "/" and rest == "PKG-INFO" and _dist_info_matches(top + ".dist-info", name, version)
    )
