"""``--exclude-newer``: a mirror-side cooldown. Pure: text and times in, a decision out.

A cutoff is written as uv and pip write theirs:

- an RFC 3339 time, ``2024-06-01T12:00:00Z`` (or with an offset): files uploaded at or
  after it are held back;
- a date, ``2024-06-01``: the whole day counts, as uv reads it (held back from the next
  midnight, UTC);
- an ISO 8601 duration, ``P7D``, ``P2W``, ``PT36H``, ``P1DT12H``: that long before now.

A file without an upload time is held back too (it could be a day old), unless
``allow_unknown``. ``packages`` gives a project its own cutoff, or none (``false``): an
exact ``==`` pin the user wrote is such an exemption by default, since a named pin is a
decision a person made.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from packaging.utils import NormalizedName

from selmirror.models import DistFile

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?",
    re.ASCII | re.IGNORECASE,
)
_DATE = re.compile(r"\d{4}-\d\d-\d\d", re.ASCII)
MAX_DAYS = 36_500  # a century: any longer is a typo


class BadCutoff(ValueError):
    """Text that is no cutoff; the message says what is accepted."""


def parse(text: str, now: datetime) -> datetime:
    """The instant ``text`` names (see the module docstring), in UTC."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if duration and value.upper() not in ("P", "PT") and not value.upper().endswith("T"):
        parts = {k: int(v) for k, v in duration.groupdict().items() if v}
        span = timedelta(**parts)
        if span.days > MAX_DAYS:
            raise BadCutoff(f"{text!r}: a cooldown longer than {MAX_DAYS} days")
        return now - span
    if _DATE.fullmatch(value):
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise BadCutoff(f"{text!r} is not a date") from None
        return day + timedelta(days=1)
    try:
        when = datetime.fromisoformat(_iso(value))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or "T" not in value.upper():
        raise BadCutoff(
            f"{text!r} is not a cutoff: use a date (2024-06-01), a time with its zone "
            "(2024-06-01T12:00:00Z) or a duration (P7D, P2W, PT36H)"
        )
    return when.astimezone(timezone.utc)


def _iso(text: str) -> str:
    """RFC 3339 as Python 3.10's ``fromisoformat`` reads it: ``Z`` as ``+00:00``, and the
    fraction of a second padded to 6 digits."""
    text = text.upper().replace("Z", "+00:00")
    return re.sub(r"\.(\d{1,6})(?=[+-]|$)", lambda m: "." + m.group(1).ljust(6, "0"), text)


@functools.lru_cache(maxsize=65536)
def uploaded(upload_time: str) -> datetime:
    """An upload time as pages write it (``_UPLOAD_TIME`` in :mod:`selmirror.pages`)."""
    return datetime.fromisoformat(_iso(upload_time))


@dataclass(frozen=True, slots=True, kw_only=True)
class Cutoff:
    """When files stop counting: ``default`` for every project, but ``packages``."""

    default: datetime | None
    allow_unknown: bool = False
    packages: tuple[tuple[NormalizedName, datetime | None], ...] = ()

    def of(self, project: NormalizedName) -> datetime | None:
        """The cutoff for ``project`` (``None``: none)."""
        for name, at in self.packages:
            if name == project:
                return at
        return self.default

    def holds_back(self, f: DistFile) -> bool:
        """Whether ``f`` is too new, or of unknown age, for its project's cutoff."""
        at = self.of(f.project)
        if at is None:
            return False
        if f.upload_time is None:
            return not self.allow_unknown
        return uploaded(f.upload_time) >= at

    def describe(self, project: NormalizedName) -> str:
        at = self.of(project)
        return "none" if at is None else at.strftime("%Y-%m-%dT%H:%M:%SZ")

    @staticmethod
    def build(
        default: datetime | None,
        *,
        allow_unknown: bool,
        packages: Mapping[NormalizedName, datetime | None],
    ) -> Cutoff | None:
        """``None`` when nothing is cut off at all."""
        if default is None and all(at is None for at in packages.values()):
            return None
        return Cutoff(
            default=default, allow_unknown=allow_unknown, packages=tuple(sorted(packages.items()))
        )
