"""``--deny``: projects and versions never to mirror, whatever requires them. Pure.

A rule is a requirement without extras, URL or markers: ``evil-pkg`` denies every version,
``urllib3<2`` or ``ctx==0.2.6`` some. A deny-list file (``--deny-file``) holds one rule per
line, ``#`` comments and blank lines allowed. A denied file is refused by the filter like
any other policy (category ``denied``), so resolution never takes it; a requirement only a
denied version satisfies fails the run with the chain that needed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

MAX_RULES = 100_000  # a deny list longer than this is not a list anyone wrote


class BadRule(ValueError):
    """Text that is no deny rule; the message says why."""


@dataclass(frozen=True, slots=True)
class Rule:
    name: NormalizedName
    specifier: SpecifierSet
    text: str  # as written, for messages
    source: str  # "--deny" or "deny.txt:3"

    def matches(self, name: str, version: Version) -> bool:
        return name == self.name and self.specifier.contains(version, prereleases=True)

    def __str__(self) -> str:
        return f"{self.text} ({self.source})"


def parse_rule(text: str, source: str = "--deny") -> Rule:
    try:
        req = Requirement(text.strip())
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0]  # packaging adds the text and a caret below
        raise BadRule(f"{source}: {text.strip()[:120]!r} is not NAME[SPECIFIER]: {why}") from None
    if req.extras or req.url or req.marker:
        raise BadRule(
            f"{source}: {text.strip()[:120]!r}: only a name and versions, no extras, URL or marker"
        )
    return Rule(canonicalize_name(req.name), req.specifier, text.strip(), source)


def parse_file(text: str, where: str) -> list[Rule]:
    """The rules of a deny-list file's ``text`` (``where`` names it in errors)."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.partition("#")[0].strip()
        if line:
            rules.append(parse_rule(line, f"{where}:{number}"))
        if len(rules) > MAX_RULES:
            raise BadRule(f"{where}: more than {MAX_RULES} rules")
    return rules


def read_file(path: Path, limit: int = 16 * 2**20) -> list[Rule]:
    """The rules of a deny-list file; :class:`OSError` if it cannot be read."""
    with path.open("rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise BadRule(f"{path}: larger than {limit // 2**20} MiB")
    try:
        return parse_file(data.decode(), str(path))
    except UnicodeDecodeError:
        raise BadRule(f"{path}: not UTF-8 text") from None


def denied_by(rules: Iterable[Rule], name: str, version: Version) -> Rule | None:
    """The first rule that denies ``name`` ``version``, if any."""
    return next((r for r in rules if r.matches(name, version)), None)
