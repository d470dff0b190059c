"""The mirror on disk as the resolver's :class:`~selmirror.resolve.Source`: no network.

Files are what each project's JSON page records (:meth:`MirrorFolder.recorded`); a wheel's
metadata is its ``.metadata`` sidecar (else the wheel's own ``METADATA``), an sdist's is
read from the sdist (or, without static dependencies, a wheel of its version), as a sync
reads what the mirror already holds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.errors import IntegrityError, ProjectNotFound
from selmirror.folder import JSON_PAGE, MirrorFolder
from selmirror.index_writer import page_status
from selmirror.metadata import (
    BadDistribution,
    CoreMetadata,
    parse_core_metadata,
    sdist_core_metadata,
    wheel_metadata,
)
from selmirror.models import DistFile

log = logging.getLogger(__name__)


class MirrorSource:
    """Projects, files and metadata of the mirror at ``root``; reads only, each once."""

    def __init__(self, root: Path) -> None:
        self.folder = MirrorFolder(root)
        self._versions: dict[NormalizedName, dict[Version, tuple[DistFile, ...]]] = {}
        self._metadata: dict[tuple[NormalizedName, str], CoreMetadata] = {}

    def versions(self, name: NormalizedName) -> Mapping[Version, Sequence[DistFile]]:
        """The project's files by version, newest first, as its page records them."""
        if name not in self._versions:
            if not (self.folder.project_dir(name) / JSON_PAGE).is_file():
                raise ProjectNotFound(
                    f"{name} is not in the mirror {self.folder.root}",
                    hint=f"mirror it first: selmirror {name} --local-folder {self.folder.root}",
                )
            by_version: dict[Version, list[DistFile]] = {}
            # a file upstream took down (every file of a quarantined project is one) is
            # never locked, though it waits in the mirror for a prune
            for f in self.folder.recorded(name).values():
                if f.removed_upstream is None:
                    by_version.setdefault(f.version, []).append(f)
            self._versions[name] = {
                v: tuple(sorted(by_version[v], key=lambda f: f.filename))
                for v in sorted(by_version, reverse=True)
            }
        return self._versions[name]

    def status(self, name: NormalizedName) -> str | None:
        found = page_status(self.folder.project_dir(name) / JSON_PAGE)
        return None if found is None else found.status

    def explore(
        self,
        name: NormalizedName,
        specifier: SpecifierSet,
        extras: frozenset[str],
        *,
        deep: bool = True,
    ) -> None:
        """Nothing to read ahead: the disk answers at once."""

    def path(self, f: DistFile) -> Path:
        return self.folder.project_dir(f.project) / f.filename

    def metadata(self, f: DistFile) -> CoreMetadata:
        key = (f.project, f.filename)
        if key not in self._metadata:
            self._metadata[key] = self._read(f)
        return self._metadata[key]

    def _read(self, f: DistFile) -> CoreMetadata:
        path = self.path(f)
        if not path.is_file():
            raise IntegrityError(
                f"{path} is on its page but not on disk", hint="see selmirror verify --repair"
            )
        if f.kind == "sdist":
            return self._sdist(f, sdist_core_metadata(path, f.filename, source=str(path)))
        sidecar = path.with_name(f.filename + ".metadata")
        try:
            return parse_core_metadata(sidecar.read_bytes(), source=str(sidecar))
        except FileNotFoundError:
            log.debug("%s: no sidecar; reading the wheel's METADATA", path)
        except OSError as exc:
            raise IntegrityError(f"cannot read {sidecar}: {exc.strerror}") from None
        try:
            return parse_core_metadata(wheel_metadata(path, f.filename), source=str(path))
        except (BadDistribution, OSError) as exc:
            raise IntegrityError(f"{path}: no readable metadata: {exc}") from None

    def _sdist(self, f: DistFile, meta: CoreMetadata) -> CoreMetadata:
        """An sdist with no static dependency data takes those of a wheel of its version,
        as a sync does (see :meth:`~selmirror.repository.Repository._with_fallback`)."""
        if meta.dependencies_known:
            return meta
        wheels = [w for w in self.versions(f.project).get(f.version, ()) if w.kind == "wheel"]
        if not wheels:
            return meta
        found = self.metadata(wheels[0])
        return replace(
            meta,
            requires_dist=found.requires_dist,
            provides_extra=found.provides_extra,
            dependencies_known=True,
            source=f"{wheels[0].filename} (the sdist itself: {meta.source})",
        )
