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
from selmirror.sdists import BuildSystem
from selmirror.targets import make_targets


class Memory:
    """A Source over a dict: ``{project: {version: (files, requires_dist, requires_python)}}``."""

    def __init__(self) -> None:
        self.files: dict[str, dict[Version, list[DistFile]]] = {}
        self.meta: dict[tuple[str, Version], CoreMetadata] = {}
        self.file_meta: dict[str, CoreMetadata] = {}  # one file's own, when its version's differ
        self.metadata_reads: list[str] = []

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
        build: Sequence[str] = (),
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
            requires_dist=tuple(deps),
            requires_python=requires_python,
            dependencies_known=known,
            build=BuildSystem(requires=tuple(build), source="test") if sdist else None,
        )

    def versions(self, name: NormalizedName) -> Mapping[Version, Sequence[DistFile]]:
        from selmirror.errors import ProjectNotFound

        if name not in self.files:
            raise ProjectNotFound(f"project {name} not found on https://x/")
        return {v: self.files[name][v] for v in sorted(self.files[name], reverse=True)}

    def status(self, name: NormalizedName) -> str | None:
        return None

    def metadata(self, f: DistFile) -> CoreMetadata:
        self.metadata_reads.append(f.filename)
        return self.file_meta.get(f.filename) or self.meta[(f.project, f.version)]

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
    assert r.unknown == {"legacy 1.0": "legacy-1.0.tar.gz: "}


def test_no_deps_reads_no_metadata() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["b"])
    (r,) = _resolve(m, "a", follow=False)
    assert _picked(r) == {"a": ["1.0"]}
    assert m.metadata_reads == []


def test_each_target_reads_the_metadata_of_the_wheel_it_installs() -> None:
    m = Memory()
    # tensorflow 2.15's shape: the Windows wheel is a stub that depends on nothing
    m.add("tf", "2.15", tags=["cp311-cp311-win_amd64", "cp311-cp311-manylinux_2_17_x86_64"])
    linux_wheel = "tf-2.15-cp311-cp311-manylinux_2_17_x86_64.whl"
    m.file_meta[linux_wheel] = CoreMetadata(requires_dist=("keras>=2",))
    m.add("keras", "3.0")
    targets = make_targets(["win_amd64", "manylinux_2_28_x86_64"], ["3.11"])
    out = resolve_all(m, _reqs("tf"), targets, Policy())
    windows, linux = out.targets
    assert set(windows.versions) == {"tf"}
    assert set(linux.versions) == {"tf", "keras"}
    assert sorted(set(m.metadata_reads)) == [
        "keras-3.0-py3-none-any.whl",
        linux_wheel,
        "tf-2.15-cp311-cp311-win_amd64.whl",
    ]
    use = out.metadata[(NormalizedName("tf"), Version("2.15"))]
    assert use.differ
    assert set(use.files) == {linux_wheel, "tf-2.15-cp311-cp311-win_amd64.whl"}
    assert not out.metadata[(NormalizedName("keras"), Version("3.0"))].differ


def test_a_target_that_builds_the_sdist_reads_the_sdists_metadata() -> None:
    m = Memory()
    m.add("lib", "1.0", tags=["cp312-cp312-win_amd64"])
    m.add("lib", "1.0", sdist=True)
    m.file_meta["lib-1.0.tar.gz"] = CoreMetadata(
        requires_dist=("helper",), build=BuildSystem(requires=())
    )
    m.add("helper", "1.0")
    windows, linux = _resolve(m, "lib", platforms=["win_amd64", "manylinux_2_28_x86_64"])
    assert set(windows.versions) == {"lib"}
    assert set(linux.versions) == {"lib", "helper"}
    assert linux.installs[(NormalizedName("lib"), Version("1.0"))].filename == "lib-1.0.tar.gz"


@pytest.fixture
def builds() -> Memory:
    """setuptools old and new, wheel, and sdist-only projects with build requirements."""
    m = Memory()
    m.add("setuptools", "80.9.0")
    m.add("setuptools", "65.5.0")
    m.add("wheel", "0.45.1")
    m.add("legacy", "1.0", sdist=True, deps=["jinja"], build=["setuptools>=40.8.0"])
    m.add("jinja", "3.0")
    return m


def test_what_building_an_sdist_needs_is_mirrored_for_its_target(builds: Memory) -> None:
    (r,) = _resolve(builds, "legacy")
    assert r.errors == []
    assert _picked(r) == {"legacy": ["1.0"], "jinja": ["3.0"], "setuptools": ["80.9.0"]}
    assert r.chains["setuptools"] == ["build requirement of legacy 1.0", "setuptools>=40.8.0"]


def test_old_setuptools_asks_for_wheel_at_build_time(builds: Memory) -> None:
    builds.add("old", "1.0", sdist=True, build=["setuptools<70"])
    (r,) = _resolve(builds, "old")
    assert _picked(r) == {"old": ["1.0"], "setuptools": ["65.5.0"], "wheel": ["0.45.1"]}
    assert r.chains["wheel"] == ["build requirement of old 1.0", "wheel"]


def test_build_environments_ignore_the_users_constraints_and_pins(builds: Memory) -> None:
    (r,) = _resolve(builds, "legacy", "setuptools", constraints=["setuptools<70"])
    assert r.errors == []
    # the constrained one the user named, and the build's own newest: both are needed
    assert _picked(r)["setuptools"] == ["65.5.0", "80.9.0"]


def test_no_build_environment_where_a_wheel_is_installed(builds: Memory) -> None:
    builds.add("legacy", "1.0", tags=["py3-none-any"])  # now it has a wheel too
    (r,) = _resolve(builds, "legacy")
    assert "setuptools" not in r.versions
    builds.add("setuptools", "80.9.0", sdist=True)
    builds.add("wheel", "0.45.1", sdist=True)
    (r,) = _resolve(builds, "legacy", policy=Policy(source_only=True))
    assert r.errors == []
    assert _picked(r)["setuptools"] == ["80.9.0"]  # from source too


def test_build_requirements_are_followed_to_their_own_sdists(builds: Memory) -> None:
    builds.add("app", "1.0", sdist=True, build=["flit-core>=3", "cython; os_name == 'nt'"])
    builds.add("flit-core", "3.9", sdist=True, build=["setuptools"])
    builds.add("cython", "3.0")
    windows, linux = _resolve(builds, "app", platforms=["win_amd64", "manylinux_2_28_x86_64"])
    assert _picked(windows) == {
        "app": ["1.0"],
        "flit-core": ["3.9"],
        "cython": ["3.0"],
        "setuptools": ["80.9.0"],
    }
    assert "cython" not in linux.versions  # the marker holds on Windows only
    assert linux.chains["setuptools"] == ["build requirement of flit-core 3.9", "setuptools"]


def test_extra_build_requirements_only_for_targets_that_build(builds: Memory) -> None:
    builds.add("pure", "1.0")
    targets = make_targets(["manylinux_2_28_x86_64"], ["3.12"])
    for names, expected in ((("pure",), False), (("pure", "legacy"), True)):
        out = resolve_all(builds, _reqs(*names), targets, Policy(), build_requirements=["wheel"])
        (r,) = out.targets
        assert ("wheel" in r.versions) == expected
    out = resolve_all(builds, _reqs("legacy"), targets, Policy(), build_deps=False)
    assert "setuptools" not in out.targets[0].versions
    out = resolve_all(builds, _reqs("legacy"), targets, Policy(binary_only=True))
    assert out.targets == [] or "setuptools" not in out.targets[0].versions


def test_a_build_requirement_the_index_lacks_fails_the_target_and_says_whose(
    builds: Memory,
) -> None:
    builds.add("odd", "1.0", sdist=True, build=["ghost-backend>=1"])
    (r,) = _resolve(builds, "odd")
    (error,) = r.errors
    assert "project ghost not found" in error.message or "ghost-backend" in error.message
    assert "(wanted: ghost-backend>=1 (from build requirement of odd 1.0))" in error.message


def test_locked_requirements_take_exactly_their_files_and_no_dependencies() -> None:
    m = Memory()
    m.add("a", "1.0", deps=["b"], tags=["py3-none-any", "cp312-cp312-manylinux_2_17_x86_64"])
    m.add("b", "1.0")
    for f in m.files["a"][Version("1.0")]:
        digest = ("a" if "py3" in f.filename else "b") * 64
        object.__setattr__(f, "hashes", {"sha256": digest})  # one hash per file
    req = Requirement("a==1.0")
    locked = RootRequirement(
        requirement=req,
        name=NormalizedName("a"),
        source="pylock.toml:packages[0]",
        hashes=frozenset({("sha256", "a" * 64)}),
        locked=True,
    )
    targets = make_targets(["manylinux_2_28_x86_64"], ["3.12"])
    out = resolve_all(m, RequirementSet(requirements=(locked,)), targets, Policy())
    (r,) = out.targets
    assert _picked(r) == {"a": ["1.0"]}
    assert m.metadata_reads == []
    assert r.installs[(NormalizedName("a"), Version("1.0"))].filename == "a-1.0-py3-none-any.whl"
