"""Which objects a publish puts and deletes, in which order. Pure.

The order is the promise that a bucket read at any moment is a consistent index:

1. distribution files and their ``.metadata`` and ``.provenance``;
2. project pages (each under its own key, and its directory key: see below);
3. the root pages;
4. deletions of objects no page lists any more, only once they have been unlisted for
   ``delay`` (pages a CDN cached before still name them).

Only objects whose bytes changed since the last publish (``published``: key -> sha256)
are put.

Plain S3 maps no ``name/`` to an ``index.html`` (its REST endpoint has no index documents;
website endpoints are HTTP only), and gives one representation per URL. So each page is
also stored under its directory key, ``PREFIX/name/``, in the representation chosen for
it (``canonical``): JSON by default, which current pip and uv ask for first and which
carries the upload times their cooldowns need; HTML for older clients; ``none`` for
servers that take a key ending in ``/`` for a folder (SeaweedFS keeps no bytes there).
Both stay at ``index.html`` and ``index.v1_json`` for a CDN function that negotiates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from selmirror.publish.inventory import Item

HTML = "text/html; charset=utf-8"
JSON = "application/vnd.pypi.simple.v1+json"
OCTETS = "application/octet-stream"
PAGE_CACHE = "max-age=60, must-revalidate"  # pip 26.2 honours it: new uploads show soon
FILE_CACHE = "public, max-age=31536000, immutable"  # a name never gets other bytes


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    source: str  # the path in the mirror, relative to its root
    sha256: str
    size: int
    content_type: str
    cache_control: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    files: tuple[Put, ...] = ()
    pages: tuple[Put, ...] = ()
    roots: tuple[Put, ...] = ()
    deletes: tuple[str, ...] = ()
    # keys no page lists, not yet deleted: key -> when a publish first found them unlisted
    unlisted: Mapping[str, str] = field(default_factory=dict)
    unchanged: int = 0

    @property
    def puts(self) -> tuple[Put, ...]:
        """Every put, in the order they must be made (files, pages, roots)."""
        return (*self.files, *self.pages, *self.roots)


def normalize_prefix(prefix: str) -> str:
    """``""`` or ``"a/b/"``: keys are ``prefix + path``."""
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"prefix {prefix!r}: no '.' or '..' segments")
    return "/".join(parts) + "/" if parts else ""


def objects(items: Iterable[Item], prefix: str, canonical: str = "json") -> list[Put]:
    """Every object the mirror publishes, with its key, type and caching."""
    if canonical not in ("json", "html", "none"):
        raise ValueError(f"canonical must be json, html or none, not {canonical!r}")
    out: list[Put] = []
    for item in items:
        key = prefix + item.path
        if item.kind in ("page-html", "page-json"):
            json_page = item.kind == "page-json"
            ctype = JSON if json_page else HTML
            out.append(Put(key, item.path, item.sha256, item.size, ctype, PAGE_CACHE))
            folder = prefix + (f"{item.project}/" if item.project else "")
            if canonical != "none" and json_page == (canonical == "json") and folder:
                out.append(Put(folder, item.path, item.sha256, item.size, ctype, PAGE_CACHE))
        elif item.kind == "provenance":  # attestations may be added: revalidated
            out.append(Put(key, item.path, item.sha256, item.size, "application/json", PAGE_CACHE))
        else:
            out.append(Put(key, item.path, item.sha256, item.size, OCTETS, FILE_CACHE))
    return out


def plan(
    wanted: Sequence[Put],
    published: Mapping[str, str],
    unlisted_since: Mapping[str, str],
    *,
    now: datetime,
    delay: timedelta,
) -> Plan:
    """What to put and delete to make the bucket (``published``) say ``wanted``.

    ``unlisted_since`` is the last plan's ``unlisted``; times are ISO 8601 strings.
    """
    keys = {p.key for p in wanted}
    changed = [p for p in wanted if published.get(p.key) != p.sha256]
    unlisted: dict[str, str] = {}
    deletes: list[str] = []
    for key in sorted(set(published) - keys):
        since = unlisted_since.get(key, now.isoformat())
        if now - datetime.fromisoformat(since) >= delay:
            deletes.append(key)
        else:
            unlisted[key] = since
    return Plan(
        files=tuple(p for p in changed if not _is_page(p)),
        pages=tuple(p for p in changed if _is_page(p) and not _is_root(p)),
        roots=tuple(p for p in changed if _is_root(p)),
        deletes=tuple(deletes),
        unlisted=unlisted,
        unchanged=len(wanted) - len(changed),
    )


def _is_page(put: Put) -> bool:
    return put.content_type in (HTML, JSON)


def _is_root(put: Put) -> bool:
    return _is_page(put) and "/" not in put.source
