"""The resolver on in-memory projects: version rules, dependencies, markers, extras, conflicts.

The end-to-end scenarios against the fake index (with uv and pip as oracles) are in
test_resolution_e2e.py; these tables pin the rules down fast and precisely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from selmirror.filter import Policy
from selmirror.metadata import CoreMetadata
from selmirror.models import DistFile, RequirementSet, RootRequirement
from selmirror.pages import dist_file
from selmirror.resolve import TargetResolution, resolve_all
from selmirror.targets import make_targets


class Memory:
    """A Source over a dict: ``{project: {version: (files, requires_dist, requires_python)}}``."""

    def __init__(self) -> None:
        self.files: dict[str, dict[Version, list[DistFile]]] = {}
        self.meta: dict[tuple[str, Version], CoreMetadata] = {}
        self.metadata_reads: list[tuple[str, Version]] = []

    def add(
        self,
        name: str,
        version: str,
        *,
        deps: Sequence[str] = (),
        requires_python: str | None = None,
        tags: Sequence[str] = ("py3-none-any",),
        sdist: bool = False,
        yanked: str | None = None,
        known: bool = True,
    ) -> None:
        project = canonicalize_name(name)
        v = Version(version)
        dist = name.replace("-", "_")
        names = (
            [f"{dist}-{version}.tar.gz"] if sdist else [f"{dist}-{version}-{t}.whl" for t in tags]
        )
        files = self.files.setdefault(project, {}).setdefault(v, [])
        for filename in names:
            files.append(
                dist_file(
                    project=project,
                    filename=filename,
                    url=f"https://x/{filename}",
                    page_url="https://x/",
                    hashes_raw={"sha256": "a" * 64},
                    requires_python=requires_python,
                    yanked=yanked,
                )
            )
        self.meta[(project, v)] = CoreMetadata(
            requires_dist=tuple(deps), requires_python=requires_python, dependencies_known=known
        )

    def versions(self, name: NormalizedName) -> Mapping[Version, Sequence[DistFile]]:
        from selmirror.errors import ProjectNotFound

        if name not in self.files:
            raise ProjectNotFound(f"project {name} not found on https://x/")
        return {v: self.files[name][v] for v in sorted(self.files[name], reverse=True)}

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        self.metadata_reads.append((name, version))
        return self.meta[(name, version)]

    def explore(
        self,
        name: NormalizedName,
        specifier: SpecifierSet,
        extras: frozenset[str],
        *,
        deep: bool = True,
    ) -> None:
        pass


def _reqs(*lines: str, constraints: Sequence[str] = ()) -> RequirementSet:
    def root(line: str, n: int) -> RootRequirement:
        req = Requirement(line)
        return RootRequirement(
            requirement=req, name=canonicalize_name(req.name), source=f"r.txt:{n}"
        )

    return RequirementSet(
        requirements=tuple(root(line, n) for n, line in enumerate(lines, 1)),
        constraints=tuple(root(line, n) for n, line in enumerate(constraints, 1)),
    )


def _resolve(
    source: Memory,
    *lines: str,
    platforms: Sequence[str] = ("manylinux_2_28_x86_64",),
    pythons: Sequence[str] = ("3.12",),
    policy: Policy | None = None,
    constraints: Sequence[str] = (),
    follow: bool = True,
) -> list[TargetResolution]:
    targets = make_targets(list(platforms), list(pythons))
    resolutions = resolve_all(
        source,
        _reqs(*lines, constraints=constraints),
        targets,
        policy or Policy(),
        follow_deps=follow,
    )
    return resolutions.targets


def _picked(resolution: TargetResolution) -> dict[str, list[str]]:
    return {n: sorted(str(v) for v in vs) for n, vs in resolution.versions.items()}


@pytest.fixture
def diamond() -> Memory:
    m = Memory()
    m.add("app", "1.0", deps=["left", "right"])
    m.add("left", "1.0", deps=["base>=1"])
    m.add("right", "1.0", deps=["base<3"])
    for v in ("1.0", "2.0", "3.0"):
        m.add("base", v)
    return m


def test_diamond(diamond: Memory) -> None:
    (r,) = _resolve(diamond, "app")
    assert _picked(r) == {"app": ["1.0"], "left": ["1.0"], "right": ["1.0"], "base": ["2.0"]}
    assert r.chains["base"] == ["app", "left", "base>=1"]  # the first requirement that brought it
    assert r.chains["app"] == ["app"]
    assert r.errors == []


def test_backtracking_finds_the_compatible_pair() -> None:
    m = Memory()
    m.add("a", "2.0", deps=["b==2.0"])
    m.add("a", "1.0", deps=["b==1.0"])
    m.add("b", "2.0")
    m.add("b", "1.0")
    m.add("c", "1.0", deps=["b<2"])
    (r,) = _resolve(m, "a", "c")
    assert _picked(r) == {"a": ["1.0"], "b": ["1.0"], "c": ["1.0"]}


def test_unsolvable_conflict_names_both_sides_and_the_target() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["b>=2"])
    m.add("b", "1.0")
    m.add("b", "2.0")
    (r,) = _resolve(m, "a", "b<2")
    (error,) = r.errors
    assert error.exit_code == 7
    assert error.message.startswith("cannot resolve for cp312-manylinux_2_28_x86_64:")
    assert "b>=2 (from a 1.0)" in error.message
    assert "b<2 (from r.txt:2)" in error.message


def test_a_failure_on_many_targets_is_one_error_naming_them() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["ghost"])
    targets = make_targets(["win_amd64", "manylinux2014_x86_64"], ["3.11", "3.12"])
    out = resolve_all(m, _reqs("a"), targets, Policy())
    (error,) = out.errors
    assert error.message.startswith("cannot resolve for 4 targets (cp311-win_amd64, ...): ")
    assert "project ghost not found" in error.message
    assert len(out.targets) == 4


def test_a_named_project_missing_upstream_is_one_upstream_error() -> None:
    m = Memory()
    m.add("a", "1.0")
    out = resolve_all(
        m, _reqs("a", "nope"), make_targets(["win_amd64"], ["3.11", "3.12"]), Policy()
    )
    (error,) = out.errors
    assert error.exit_code == 3
    assert error.message == "project nope not found on https://x/"
    assert [_picked(r) for r in out.targets] == [{"a": ["1.0"]}, {"a": ["1.0"]}]
    stopped = resolve_all(
        m, _reqs("a", "nope"), make_targets(["win_amd64"], ["3.11"]), Policy(), keep_going=False
    )
    assert stopped.targets == []


def test_missing_dependency_is_named() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["ghost>=1"])
    (r,) = _resolve(m, "a")
    assert "project ghost not found" in r.errors[0].message
    assert "ghost>=1 (from a 1.0)" in r.errors[0].message


def test_markers_per_target() -> None:
    m = Memory()
    m.add(
        "click",
        "8.1.7",
        deps=['colorama; platform_system == "Windows"', 'tomli; python_version < "3.11"'],
    )
    m.add("colorama", "0.4.6")
    m.add("tomli", "2.0.1")
    results = _resolve(
        m, "click", platforms=["win_amd64", "manylinux2014_x86_64"], pythons=["3.10", "3.12"]
    )
    picked = {r.target.label: set(r.versions) for r in results}
    assert picked == {
        "cp310-win_amd64": {"click", "colorama", "tomli"},
        "cp312-win_amd64": {"click", "colorama"},
        "cp310-manylinux2014_x86_64": {"click", "tomli"},
        "cp312-manylinux2014_x86_64": {"click"},
    }
    linux312 = results[3]
    assert "platform_system" in linux312.dropped["colorama"]
    assert linux312.dropped["tomli"].startswith("not needed on cp312-manylinux2014_x86_64")


def test_top_level_markers_are_evaluated_per_target() -> None:
    m = Memory()
    m.add("pywin32", "306", tags=["cp312-cp312-win_amd64"])
    m.add("uvloop", "0.19", tags=["cp312-cp312-manylinux_2_17_x86_64"])
    results = _resolve(
        m,
        'pywin32; sys_platform == "win32"',
        'uvloop; sys_platform != "win32"',
        platforms=["win_amd64", "manylinux_2_28_x86_64"],
    )
    assert [set(r.versions) for r in results] == [{"pywin32"}, {"uvloop"}]


def test_extras_bind_to_one_version_and_only_asked_ones_are_followed() -> None:
    m = Memory()
    m.add("requests", "2.0", deps=['socks-lib; extra == "socks"', 'char; extra == "char"'])
    m.add("requests", "1.0", deps=['socks-lib; extra == "socks"'])
    m.add("socks-lib", "1.0")
    m.add("char", "1.0")
    (r,) = _resolve(m, "requests[socks]", "requests<2")
    assert _picked(r) == {"requests": ["1.0"], "socks-lib": ["1.0"]}
    assert "char" not in r.versions


def test_requires_python_cuts_off_the_newest_for_an_old_python() -> None:
    m = Memory()
    m.add("lib", "2.0", requires_python=">=3.11")
    m.add("lib", "1.0", requires_python=">=3.8")
    results = _resolve(m, "lib", pythons=["3.10", "3.12"])
    assert [_picked(r) for r in results] == [{"lib": ["1.0"]}, {"lib": ["2.0"]}]


def test_metadata_requires_python_is_honoured_even_when_files_do_not_say() -> None:
    m = Memory()
    m.add("lib", "2.0")
    m.meta[("lib", Version("2.0"))] = CoreMetadata(requires_python=">=3.13")
    m.add("lib", "1.0")
    (r,) = _resolve(m, "lib")
    assert _picked(r) == {"lib": ["1.0"]}


@pytest.mark.parametrize(
    ("line", "policy", "expected"),
    [
        ("lib", Policy(), ["2.0"]),
        ("lib", Policy(prereleases=True), ["3.0b1"]),
        ("lib>=3.0b1", Policy(), ["3.0b1"]),  # the specifier names a prerelease
        ("lib>2", Policy(), ["3.0b1"]),  # nothing else matches
        ("lib<2", Policy(), ["1.0"]),
        ("lib==2.5", Policy(), ["2.5"]),  # yanked, but pinned
        ("lib===2.5", Policy(), ["2.5"]),
        ("lib", Policy(latest=2), ["1.0", "2.0"]),
        ("lib", Policy(latest=None), ["1.0", "2.0"]),
        ("lib", Policy(latest=None, prereleases=True), ["1.0", "2.0", "3.0b1"]),
    ],
)
def test_version_rules(line: str, policy: Policy, expected: list[str]) -> None:
    m = Memory()
    m.add("lib", "1.0")
    m.add("lib", "2.0")
    m.add("lib", "2.5", yanked="broken")
    m.add("lib", "3.0b1")
    (r,) = _resolve(m, line, policy=policy)
    assert _picked(r) == {"lib": expected}
    assert ((NormalizedName("lib"), Version("2.5")) in r.yanked_ok) == ("2.5" in expected)


def test_older_versions_kept_by_latest_bring_their_own_dependencies() -> None:
    m = Memory()
    m.add("app", "2.0", deps=["dep>=2"])
    m.add("app", "1.0", deps=["dep<2"])
    m.add("dep", "2.0")
    m.add("dep", "1.0")
    (r,) = _resolve(m, "app", policy=Policy(latest=2))
    assert _picked(r) == {"app": ["1.0", "2.0"], "dep": ["1.0", "2.0"]}


def test_binary_only_skips_versions_without_a_wheel_for_the_target() -> None:
    m = Memory()
    m.add("lib", "2.0", tags=["cp312-cp312-win_amd64"])
    m.add("lib", "2.0", sdist=True)
    m.add("lib", "1.0", tags=["cp312-cp312-manylinux_2_17_x86_64"])
    (r,) = _resolve(m, "lib", policy=Policy(binary_only=True))
    assert _picked(r) == {"lib": ["1.0"]}
    (r,) = _resolve(m, "lib")
    assert _picked(r) == {"lib": ["2.0"]}  # the sdist suits every target


def test_constraints_narrow_and_add_nothing() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["b"])
    m.add("b", "1.0")
    m.add("b", "2.0")
    m.add("c", "1.0")
    (r,) = _resolve(m, "a", constraints=["b<2", "c==1.0"])
    assert _picked(r) == {"a": ["1.0"], "b": ["1.0"]}


def test_unknown_dependencies_are_reported() -> None:
    m = Memory()
    m.add("legacy", "1.0", sdist=True, deps=["never-seen"], known=False)
    (r,) = _resolve(m, "legacy")
    assert _picked(r) == {"legacy": ["1.0"]}
    assert r.unknown == {"legacy 1.0"}


def test_no_deps_reads_no_metadata() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["b"])
    (r,) = _resolve(m, "a", follow=False)
    assert _picked(r) == {"a": ["1.0"]}
    assert m.metadata_reads == []
