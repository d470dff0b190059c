"""``selmirror sbom``: a CycloneDX 1.6 JSON SBOM of every distribution file in the mirror.

One ``library`` component per file its project's JSON page lists (``upload`` and ``local``
files too): the normalized project name, the version, the purl
``pkg:pypi/<name>@<version>?file_name=<filename>``, the sha256, the license the core metadata
declares, and in the ``selmirror`` property namespace (CycloneDX's ``cdx:`` taxonomy has no
names for these, and reserves that namespace for its own):

- ``selmirror:size``: the file's size in bytes, as its page records it;
- ``selmirror:upload-time``: upstream's PEP 700 upload time, when the page records one;
- ``selmirror:origin``: ``upstream``, ``local`` or ``upload`` (see :class:`DistFile`).

:func:`build` is pure (records and metadata bytes in, a :class:`Bom` out); :func:`collect`
reads the mirror, through :class:`MirrorFolder` only; :func:`write` puts the JSON in place.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import (
    DisjunctiveLicense,
    License,
    LicenseAcknowledgement,
    LicenseExpression,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id
from packageurl import PackageURL
from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression
from packaging.metadata import parse_email

from selmirror import __version__
from selmirror.folder import MirrorFolder, atomic_write
from selmirror.models import DistFile

log = logging.getLogger(__name__)

SIZE = "selmirror:size"
UPLOAD_TIME = "selmirror:upload-time"
ORIGIN = "selmirror:origin"
_DECLARED = LicenseAcknowledgement.DECLARED


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One file of the mirror, and its core metadata file's bytes if it has one."""

    file: DistFile
    metadata: bytes | None = None


def collect(folder: MirrorFolder) -> Iterator[Entry]:
    """Every file every project page of ``folder`` lists, with its ``.metadata`` sidecar
    when the page advertises one (PEP 658) and it is there."""
    for name in folder.projects():
        for filename, record in sorted(folder.recorded(name).items()):
            metadata = None
            if record.core_metadata is not None:
                sidecar = folder.project_dir(name) / f"{filename}.metadata"
                try:
                    metadata = sidecar.read_bytes()
                except FileNotFoundError:
                    log.warning("%s is advertised but missing: no license for it", sidecar)
            yield Entry(file=record, metadata=metadata)


def build(entries: Iterable[Entry], *, mirror: str, timestamp: datetime) -> Bom:
    """The SBOM of a mirror named ``mirror`` (its folder's name) holding ``entries``."""
    root = Component(type=ComponentType.DATA, name=mirror, bom_ref=f"mirror:{mirror}")
    bom = Bom(metadata=BomMetaData(timestamp=timestamp, component=root))
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="selmirror", version=__version__)
    )
    components = [component(entry) for entry in entries]
    bom.components.update(components)
    bom.register_dependency(root, components)  # the mirror holds them all
    return bom


def component(entry: Entry) -> Component:
    """The component for one distribution file."""
    f = entry.file
    version = str(f.version)
    purl = PackageURL(
        type="pypi", name=f.project, version=version, qualifiers={"file_name": f.filename}
    )
    properties = [
        Property(name=name, value=value)
        for name, value in (
            (SIZE, None if f.size is None else str(f.size)),
            (UPLOAD_TIME, f.upload_time),
            (ORIGIN, f.origin),
        )
        if value is not None
    ]
    return Component(
        type=ComponentType.LIBRARY,
        name=f.project,
        version=version,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)] if f.sha256 else [],
        licenses=licenses(entry.metadata, f.filename) if entry.metadata is not None else [],
        properties=properties,
    )


def licenses(metadata: bytes, filename: str) -> list[License]:
    """What the core metadata declares: PEP 639's ``License-Expression`` if there is one (an
    SPDX expression, or a named license if it is not valid SPDX); else a one-line legacy
    ``License`` field, as an SPDX id if it is exactly one, else as a name. A license text in
    the ``License`` field, ``UNKNOWN``, and the classifiers are left out."""
    raw, _ = parse_email(metadata)
    expression = raw.get("license_expression", "").strip()
    if expression:
        try:
            return [
                LicenseExpression(
                    canonicalize_license_expression(expression), acknowledgement=_DECLARED
                )
            ]
        except InvalidLicenseExpression:
            log.warning("%s: License-Expression %r is not valid SPDX", filename, expression)
            return [DisjunctiveLicense(name=expression, acknowledgement=_DECLARED)]
    text = raw.get("license", "").strip()
    if not text or "\n" in text or text.upper() == "UNKNOWN":
        return []
    spdx_id = fixup_id(text)
    if spdx_id is not None:
        return [DisjunctiveLicense(id=spdx_id, acknowledgement=_DECLARED)]
    return [DisjunctiveLicense(name=text, acknowledgement=_DECLARED)]


def dumps(bom: Bom) -> str:
    """The SBOM as CycloneDX 1.6 JSON."""
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def write(folder: MirrorFolder, output: str, out: TextIO) -> int:
    """Write the SBOM of ``folder`` to ``output`` (atomically) or, for ``-``, to ``out``;
    return how many files it lists."""
    entries = list(collect(folder))
    bom = build(
        entries,
        mirror=folder.root.resolve().name or "mirror",
        timestamp=datetime.now(timezone.utc),
    )
    text = dumps(bom)
    if output == "-":
        out.write(text)
    else:
        atomic_write(Path(output), text.encode())
    return len(entries)
