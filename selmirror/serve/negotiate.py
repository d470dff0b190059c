"""PEP 691 content negotiation for index pages: ``Accept`` (with q-values) or ``?format=``.

Pure functions over header text. The rules (RFC 9110 section 12.5.1 and PEP 691):

- each media range may carry ``q`` (0 to 1, three decimals at most); ``q=0`` means
  "never", a malformed ``q`` drops that range;
- a representation takes the q of the most specific range that matches it (an exact type,
  then ``type/*``, then ``*/*``); ``latest+json`` and ``latest+html`` are exact names for
  the current version (answered as ``v1``);
- the highest q wins; on a tie a type asked for by name beats one reached by a wildcard,
  and among names JSON comes first; among wildcards ``text/html`` does (what a browser or
  ``curl`` expects);
- no ``Accept`` (or an empty one) is ``text/html``; a set it cannot meet is ``None`` (406).
"""

from __future__ import annotations

import functools
from typing import Final, Literal, NamedTuple

JSON: Final = "application/vnd.pypi.simple.v1+json"
V1_HTML: Final = "application/vnd.pypi.simple.v1+html"
TEXT_HTML: Final = "text/html"
SERVED: Final = (JSON, V1_HTML, TEXT_HTML)

MAX_RANGES = 64  # more media ranges than any client sends: the rest is ignored

Representation = Literal["json", "html"]


class Choice(NamedTuple):
    representation: Representation
    content_type: str


# each type we can send: what it is, the exact names that ask for it, and its preference
# when asked for by name and when only reached by a wildcard (higher wins a tie)
_OFFERS: Final = (
    (Choice("json", JSON), (JSON, "application/vnd.pypi.simple.latest+json"), 3, 2),
    (Choice("html", V1_HTML), (V1_HTML, "application/vnd.pypi.simple.latest+html"), 2, 1),
    (Choice("html", TEXT_HTML), (TEXT_HTML,), 1, 3),
)
_BY_NAME: Final = {name: offer[0] for offer in _OFFERS for name in offer[1]}
DEFAULT: Final = Choice("html", TEXT_HTML)


def parse_accept(header: str) -> dict[str, float]:
    """``{media range: q}`` from an ``Accept`` header (lower-cased; a repeated range keeps
    its highest q; malformed ranges and ``q`` values are dropped)."""
    ranges: dict[str, float] = {}
    for item in header.split(",")[:MAX_RANGES]:
        media, *params = item.split(";")
        media = media.strip().lower()
        if media.count("/") != 1 or " " in media:
            continue
        q = _q(params)
        if q is not None:
            ranges[media] = max(q, ranges.get(media, 0.0))
    return ranges


def _q(params: list[str]) -> float | None:
    """The ``q`` among a range's parameters (1 if none); ``None`` if malformed."""
    q: float | None = 1.0
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            q = _quality(value.strip())
    return q


def _quality(text: str) -> float | None:
    """RFC 9110 ``qvalue``: ``0``, ``1``, or up to three decimals; else ``None``."""
    whole, _, fraction = text.partition(".")
    if whole not in ("0", "1") or len(fraction) > 3 or fraction.strip("0123456789"):
        return None
    value = float(text)
    return value if value <= 1.0 else None


@functools.lru_cache(maxsize=512)  # clients send a handful of distinct headers
def choose(accept: str | None) -> Choice | None:
    """The representation to send for ``accept``; ``None`` when nothing offered is
    acceptable."""
    if accept is None or not accept.strip():
        return DEFAULT
    ranges = parse_accept(accept)
    if not ranges:
        return DEFAULT  # nothing parseable: as if no Accept had been sent
    best: tuple[float, int, int] | None = None
    chosen: Choice | None = None
    for choice, names, by_name, by_wildcard in _OFFERS:
        named = [ranges[n] for n in names if n in ranges]
        if named:
            key = (max(named), 1, by_name)
        else:
            major = choice.content_type.split("/", 1)[0]
            q = ranges.get(f"{major}/*", ranges.get("*/*"))
            if q is None:
                continue
            key = (q, 0, by_wildcard)
        if key[0] > 0 and (best is None or key > best):
            best, chosen = key, choice
    return chosen


def from_format(value: str) -> Choice | None:
    """PEP 691's URL parameter: ``?format=`` names one content type; unknown is ``None``."""
    return _BY_NAME.get(value.strip().lower())


def accepts_gzip(header: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip: by name, else by ``*`` (q above 0)."""
    codings: dict[str, float | None] = {}
    for item in header.split(",")[:MAX_RANGES]:
        coding, *params = item.split(";")
        codings.setdefault(coding.strip().lower(), _q(params))
    q = codings["gzip"] if "gzip" in codings else codings.get("*")
    return bool(q)
