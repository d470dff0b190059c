"""Chosen versions and the mirror's files of them, to a PEP 751 lock for one target. Pure.

Each package lists every wheel of its version that the target installs (its tags and
Requires-Python) and the sdist, if the mirror has one: the installer on that machine picks
among them, as pip and uv do from an index. Yanked files count only for a pinned version
(PEP 592), and a package named with hashes (``--hash``, or a lock read in) keeps only
files with those. Files are pointed to by ``path`` (relative to the lock, so the lock and
the mirror travel together) or by ``url`` under a base URL, with sha256, size and upstream's
upload time. The structure is :mod:`packaging.pylock`'s, validated before it is written.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

import tomli_w
from packaging.markers import Marker
from packaging.pylock import Package, PackageSdist, PackageWheel, Pylock, PylockValidationError
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.cutoff import uploaded
from selmirror.errors import InputError, IntegrityError, SelmirrorError
from selmirror.filter import Policy, hash_allowed, suits
from selmirror.models import DistFile
from selmirror.targets import Target

T = TypeVar("T", PackageWheel, PackageSdist)
LOCK_VERSION = Version("1.0")
CREATED_BY = "selmirror"
# what an environment marker of the lock says about its target (the rest of the marker
# environment is not the target's to fix: a release, a patch version)
_MARKER_KEYS = ("sys_platform", "platform_machine", "implementation_name", "python_version")


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """Where the lock points at the mirror: under ``base_url`` (``url``), else at
    ``folder``, the mirror's root as seen from the lock's folder (``path``, POSIX)."""

    folder: str = "."
    base_url: str | None = None

    def __post_init__(self) -> None:
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https", "file") or not (
                parts.netloc or parts.scheme == "file"
            ):
                raise InputError(
                    f"--base-url {self.base_url!r}: expected the mirror's http(s) URL, "
                    "such as https://mirror.example/simple/"
                )

    def url(self, f: DistFile) -> str | None:
        """As the index writer links: the project folder, then the quoted filename."""
        if self.base_url is None:
            return None
        return f"{self.base_url.rstrip('/')}/{quote(f.project)}/{quote(f.filename)}"

    def path(self, f: DistFile) -> str | None:
        if self.base_url is not None:
            return None
        return posixpath.normpath(posixpath.join(self.folder, f.project, f.filename))


@dataclass(frozen=True, slots=True, kw_only=True)
class Chosen:
    """One package of the lock: its version, every file of that version in the mirror,
    whether yanked files may count (pinned), and the hashes it was named with (if any)."""

    name: NormalizedName
    version: Version
    files: tuple[DistFile, ...]
    yanked_ok: bool = False
    hashes: frozenset[tuple[str, str]] = frozenset()


def environments(target: Target) -> list[Marker]:
    """One marker per marker environment of the target (Windows has two machine names)."""
    markers = []
    for env in target.environments:
        text = " and ".join(f'{key} == "{env[key]}"' for key in _MARKER_KEYS)
        markers.append(Marker(text))
    return list(dict.fromkeys(markers))


def requires_python(target: Target) -> SpecifierSet:
    """The target's Python: ``==3.12.*``, and ``>=3.12.4`` too when a patch was named."""
    major, minor = target.python_version[:2]
    spec = SpecifierSet(f"=={major}.{minor}.*")
    if len(target.python_version) > 2:
        spec &= SpecifierSet(f">={target.python_full_version}")
    return spec


def usable(
    chosen: Chosen, target: Target, policy: Policy
) -> tuple[list[DistFile], DistFile | None]:
    """The wheels the target installs and the sdist it could build, of one package."""
    files = [
        f
        for f in chosen.files
        if f.version == chosen.version
        and suits(f, target)
        and (f.yanked is None or chosen.yanked_ok)
        and (not chosen.hashes or hash_allowed(f, chosen.hashes))
    ]
    wheels = [] if policy.source_only else [f for f in files if f.kind == "wheel"]
    sdists = [] if policy.binary_only else [f for f in files if f.kind == "sdist"]
    # one sdist per package (PEP 751): the one pip and uv prefer, and not a yanked one
    sdist = min(
        sdists,
        key=lambda f: (f.yanked is not None, not f.filename.endswith(".tar.gz"), f.filename),
        default=None,
    )
    return sorted(wheels, key=lambda f: f.filename), sdist


def _entry(kind: type[T], f: DistFile, where: Where) -> T:
    """A wheel or sdist entry: where it is, its sha256, size and upstream upload time."""
    if f.sha256 is None:
        raise IntegrityError(f"{f.project}/{f.filename}: its page records no sha256")
    return kind(
        name=f.filename,
        url=where.url(f),
        path=where.path(f),
        hashes={"sha256": f.sha256},
        size=f.size,
        upload_time=uploaded(f.upload_time) if f.upload_time else None,
    )


def build(
    target: Target, packages: Sequence[Chosen], where: Where, policy: Policy | None = None
) -> Pylock:
    """The lock of ``packages`` for ``target``, validated (:meth:`Pylock.validate`)."""
    policy = policy or Policy()
    locked = []
    for chosen in sorted(packages, key=lambda c: c.name):
        wheels, sdist = usable(chosen, target, policy)
        if not wheels and sdist is None:
            raise IntegrityError(
                f"{chosen.name} {chosen.version}: the mirror has no file of it for {target.label}"
            )
        locked.append(
            Package(
                name=chosen.name,
                version=chosen.version,
                wheels=[_entry(PackageWheel, f, where) for f in wheels] or None,
                sdist=_entry(PackageSdist, sdist, where) if sdist else None,
            )
        )
    lock = Pylock(
        lock_version=LOCK_VERSION,
        environments=environments(target),
        requires_python=requires_python(target),
        created_by=CREATED_BY,
        packages=locked,
        tool={"selmirror": {"target": target.label}},
    )
    try:
        lock.validate()
    except PylockValidationError as exc:  # a bug of ours, or a record no lock can hold
        raise SelmirrorError(f"the lock for {target.label} is not valid: {exc}") from None
    return lock


def render(lock: Pylock) -> bytes:
    """The lock as TOML (``pylock.toml``)."""
    return tomli_w.dumps(lock.to_dict()).encode()
