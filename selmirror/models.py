"""Records that flow between the stages. Frozen, typed, validated where they are built."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from packaging.requirements import Requirement
from packaging.tags import Tag
from packaging.utils import NormalizedName
from packaging.version import Version

Kind = Literal["wheel", "sdist"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RootRequirement:
    """One requirement the user named, with where it came from.

    ``source`` is ``"command line"``, ``"FILE:LINE"`` or, for a lock file, the package's
    place in it (``"pylock.toml:packages[3]"``); ``hashes`` are the ``--hash`` options of
    that line, or the locked files' hashes, as ``(algorithm, hexdigest)`` pairs (empty: no
    hash checking). A ``locked`` requirement comes from a lock file: exactly that version
    and those files, its dependencies not followed (the lock names them too).
    """

    requirement: Requirement
    name: NormalizedName
    source: str
    hashes: frozenset[tuple[str, str]] = frozenset()
    locked: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RequirementSet:
    """Everything the requirement inputs said: what to mirror and how.

    ``requires_python`` are the ``(specifier, source)`` pairs of project files, scripts
    and locks (``requires-python``): a target outside one of them is left out.
    """

    requirements: tuple[RootRequirement, ...] = ()
    constraints: tuple[RootRequirement, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    pre: bool = False
    requires_python: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DistFile:
    """One distribution file of a project, as an index page describes it.

    Built only by the page parsers (:mod:`selmirror.pages`), which validate every field.
    ``yanked`` is ``None`` when the file is not yanked, else the reason (``""`` if none given).
    ``core_metadata`` is ``None`` when no PEP 658 metadata file is advertised, else the
    advertised hashes of that file (``{}``: advertised without a hash).
    """

    project: NormalizedName
    filename: str
    url: str
    version: Version
    kind: Kind
    tags: frozenset[Tag] = frozenset()
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    yanked: str | None = None
    size: int | None = None
    upload_time: str | None = None  # upstream's, as it said it (PEP 700), never ours
    # in the mirror's own pages (a private "_arrival-time" key): when this mirror first had
    # these bytes; never in place of upload_time, which date-based cutoffs read
    arrival_time: str | None = None
    core_metadata: Mapping[str, str] | None = None
    # in the mirror's own pages: "upstream" (selmirror downloaded it), "local" (found on
    # disk: placed by hand) or "upload" (taken by selmirror serve); prune and import only
    # ever remove "upstream" files, and a sync never mirrors upstream's files of a project
    # that has "upload" ones
    origin: str | None = None
    # in the mirror's own pages (a private "_removed-upstream" key): when a run first saw
    # that upstream no longer offers this file (deleted, or its project gone or
    # quarantined); prune removes such files unless --keep-removed
    removed_upstream: str | None = None
    # PEP 740: where this file's provenance is; on upstream's pages, the URL they give (an
    # absolute URL); on the mirror's own, upstream's URL kept (a private "_provenance" key)
    # when the mirror holds it beside the file, as ``<file>.provenance``
    provenance: str | None = None
    provenance_sha256: str | None = None  # the mirror's own pages: of ``<file>.provenance``

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")


@dataclass(frozen=True, slots=True)
class ProjectStatus:
    """PEP 792: a project's status on its index, when not the default ``active``
    (``archived``, ``deprecated``, ``quarantined``), and the reason the index gave."""

    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A file (or page entry) that was not kept, and why.

    ``category`` is a short stable key for counting (``"yanked"``, ``"version"``, ...);
    ``reason`` is the sentence shown to the user.
    """

    project: str
    filename: str
    category: str
    reason: str
