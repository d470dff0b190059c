"""From requirements to what is wanted of each project.

Today this merges every line naming a project (requirements and ``-c`` constraints) into one
:class:`~selmirror.filter.Wanted`. Dependency resolution per target slots in here.
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.utils import NormalizedName

from selmirror.filter import Wanted
from selmirror.models import RequirementSet, RootRequirement


def wanted_projects(requirements: RequirementSet) -> dict[NormalizedName, Wanted]:
    """One :class:`Wanted` per named project, in the order the user named them.

    Same-name lines combine as pip combines them (the specifiers intersect, ``--hash`` lists
    unite); a constraint narrows a named project and adds nothing by itself.
    """
    wanted: dict[NormalizedName, Wanted] = {}
    for root in requirements.requirements:
        wanted[root.name] = _merge(wanted.get(root.name), root)
    for constraint in requirements.constraints:
        if constraint.name in wanted:
            wanted[constraint.name] = _merge(wanted[constraint.name], constraint)
    return wanted


def _merge(current: Wanted | None, root: RootRequirement) -> Wanted:
    if current is None:
        return Wanted(
            name=root.name,
            specifier=root.requirement.specifier,
            sources=(root.source,),
            allowed_hashes=root.hashes,
        )
    return Wanted(
        name=root.name,
        specifier=current.specifier & root.requirement.specifier,
        sources=_unique((*current.sources, root.source)),
        allowed_hashes=current.allowed_hashes | root.hashes,
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
