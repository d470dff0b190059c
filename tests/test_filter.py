"""The file filter: one reason per rejected file, versions per target, prerelease/yanked rules."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName

from selmirror.filter import Policy, Wanted, select
from selmirror.models import DistFile, ProjectPage
from selmirror.pages import dist_file
from selmirror.targets import make_targets

FOO = NormalizedName("foo")


def _file(filename: str, **extra: object) -> DistFile:
    sha = extra.pop("sha256", "a" * 64)
    return dist_file(
        project=FOO,
        filename=filename,
        url=f"https://x.example/{filename}",
        page_url="https://x.example/",
        hashes_raw={"sha256": sha},
        **extra,  # type: ignore[arg-type]
    )


def _page(*files: DistFile) -> ProjectPage:
    return ProjectPage(name=FOO, url="https://x.example/simple/foo/", files=files)


def _kept(
    files: Sequence[DistFile],
    spec: str = "",
    policy: Policy | None = None,
    targets: tuple[str, ...] = (),
    python: tuple[str, ...] = (),
    hashes: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[list[str], dict[str, str]]:
    wanted = Wanted(
        name=FOO, specifier=SpecifierSet(spec), sources=("req.txt:1",), allowed_hashes=hashes
    )
    sel = select(_page(*files), wanted, make_targets(targets, python), policy or Policy())
    return sorted(f.filename for f in sel.kept), {r.filename: r.category for r in sel.rejected}


FILES = [
    _file("foo-1.0.tar.gz"),
    _file("foo-1.0-py3-none-any.whl"),
    _file("foo-2.0.tar.gz"),
    _file("foo-2.0-py3-none-any.whl"),
    _file("foo-3.0b1.tar.gz"),
]


def test_newest_final_release_by_default() -> None:
    kept, rejected = _kept(FILES)
    assert kept == ["foo-2.0-py3-none-any.whl", "foo-2.0.tar.gz"]
    assert rejected == {
        "foo-1.0.tar.gz": "older",
        "foo-1.0-py3-none-any.whl": "older",
        "foo-3.0b1.tar.gz": "prerelease",
    }


@pytest.mark.parametrize(
    ("spec", "policy", "expected"),
    [
        ("==1.0", Policy(), ["foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"]),
        ("<2", Policy(), ["foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz"]),
        ("", Policy(binary_only=True), ["foo-2.0-py3-none-any.whl"]),
        ("", Policy(source_only=True), ["foo-2.0.tar.gz"]),
        ("", Policy(prereleases=True), ["foo-3.0b1.tar.gz"]),
        (">=3.0b1", Policy(), ["foo-3.0b1.tar.gz"]),  # the specifier names a prerelease
        (">2", Policy(), ["foo-3.0b1.tar.gz"]),  # nothing else matches
        (
            "",
            Policy(latest=2),
            [
                "foo-1.0-py3-none-any.whl",
                "foo-1.0.tar.gz",
                "foo-2.0-py3-none-any.whl",
                "foo-2.0.tar.gz",
            ],
        ),
        ("", Policy(latest=None, prereleases=True), sorted(f.filename for f in FILES)),
        ("===2.0", Policy(), ["foo-2.0-py3-none-any.whl", "foo-2.0.tar.gz"]),
    ],
)
def test_version_rules(spec: str, policy: Policy, expected: list[str]) -> None:
    assert _kept(FILES, spec, policy)[0] == expected


def test_versions_outside_the_specifier_say_so() -> None:
    _, rejected = _kept(FILES, "==1.0")
    assert rejected["foo-2.0.tar.gz"] == "version"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ["foo-1.0.tar.gz"]),  # unpinned: the yanked 2.0 is skipped, 1.0 chosen
        (">=1", ["foo-1.0.tar.gz"]),
        ("==2.*", []),  # a wildcard is not a pin
        ("==2.0", ["foo-2.0.tar.gz"]),  # pinned: yanked files count (PEP 592)
        ("===2.0", ["foo-2.0.tar.gz"]),
    ],
)
def test_yanked_only_when_pinned(spec: str, expected: list[str]) -> None:
    files = [_file("foo-1.0.tar.gz"), _file("foo-2.0.tar.gz", yanked="broken")]
    kept, rejected = _kept(files, spec)
    assert kept == expected
    if "foo-2.0.tar.gz" not in kept:
        assert rejected["foo-2.0.tar.gz"] in ("yanked", "version")


def test_unsatisfied_is_reported_not_raised() -> None:
    wanted = Wanted(name=FOO, specifier=SpecifierSet("==9"))
    sel = select(_page(*FILES), wanted, (), Policy())
    assert sel.kept == ()
    assert sel.unsatisfied == ("any",)


WHEELS = [
    _file("foo-1.0-cp311-cp311-win_amd64.whl", requires_python=">=3.8"),
    _file("foo-2.0-cp312-cp312-win_amd64.whl", requires_python=">=3.12"),
    _file("foo-2.0-cp312-cp312-manylinux2014_x86_64.whl", requires_python=">=3.12"),
    _file("foo-2.0.tar.gz", requires_python=">=3.12"),
    _file("foo-1.0.tar.gz", requires_python=">=3.8"),
]


def test_versions_are_chosen_per_target() -> None:
    wanted = Wanted(name=FOO, specifier=SpecifierSet())
    targets = make_targets(["win_amd64"], ["3.11", "3.12"])
    sel = select(_page(*WHEELS), wanted, targets, Policy(binary_only=True))
    assert {k: [str(v) for v in vs] for k, vs in sel.versions.items()} == {
        "cp311-win_amd64": ["1.0"],
        "cp312-win_amd64": ["2.0"],
    }
    assert sorted(f.filename for f in sel.kept) == [
        "foo-1.0-cp311-cp311-win_amd64.whl",
        "foo-2.0-cp312-cp312-win_amd64.whl",
    ]
    reasons = {r.filename: r.category for r in sel.rejected}
    assert reasons["foo-2.0-cp312-cp312-manylinux2014_x86_64.whl"] == "platform"
    assert reasons["foo-2.0.tar.gz"] == "binary-only"


def test_requires_python_excluding_every_target() -> None:
    kept, rejected = _kept(WHEELS, targets=("win_amd64",), python=("3.11",))
    assert kept == ["foo-1.0-cp311-cp311-win_amd64.whl", "foo-1.0.tar.gz"]
    assert rejected["foo-2.0.tar.gz"] == "requires-python"
    assert rejected["foo-2.0-cp312-cp312-win_amd64.whl"] == "platform"


def test_hash_list_limits_files_with_advertised_hashes() -> None:
    files = [_file("foo-1.0.tar.gz", sha256="b" * 64), _file("foo-1.0-py3-none-any.whl")]
    kept, rejected = _kept(files, "==1.0", hashes=frozenset({("sha256", "b" * 64)}))
    assert kept == ["foo-1.0.tar.gz"]
    assert rejected == {"foo-1.0-py3-none-any.whl": "hash"}
