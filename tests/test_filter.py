"""The file filter: chosen versions per target in, kept files and one reason per rejection out."""

from __future__ import annotations

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.filter import Policy, installs, select
from selmirror.models import DistFile
from selmirror.pages import ProjectPage
from selmirror.targets import make_targets

FOO = NormalizedName("foo")


def _file(filename: str, **extra: object) -> dict[str, object]:
    """A page entry, as the parsers hand them to ProjectPage."""
    entry = {"filename": filename, "url": filename, "hashes_raw": {"sha256": "a" * 64}}
    return entry | extra


FILES = (
    _file("foo-1.0.tar.gz"),
    _file("foo-1.0-cp311-cp311-win_amd64.whl"),
    _file("foo-2.0.tar.gz", requires_python=">=3.12"),
    _file("foo-2.0-cp312-cp312-win_amd64.whl"),
    _file("foo-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
    _file("foo-2.0-py3-none-any.whl", yanked="broken"),
)
PAGE = ProjectPage(name=FOO, url="https://x.example/simple/foo/", entries=FILES)
TARGETS = make_targets(["win_amd64"], ["3.11", "3.12"])
V1, V2 = Version("1.0"), Version("2.0")


def _run(**kwargs: object) -> tuple[list[str], dict[str, str]]:
    chosen = kwargs.pop("chosen", {"cp311-win_amd64": {V1}, "cp312-win_amd64": {V2}})
    sel = select(PAGE, chosen, TARGETS, kwargs.pop("policy", Policy()), **kwargs)  # type: ignore[arg-type]
    return sorted(f.filename for f in sel.kept), {r.filename: r.category for r in sel.rejections()}


def test_each_target_gets_the_files_of_its_own_version() -> None:
    kept, rejected = _run()
    assert kept == [
        "foo-1.0-cp311-cp311-win_amd64.whl",
        "foo-1.0.tar.gz",
        "foo-2.0-cp312-cp312-win_amd64.whl",
        "foo-2.0.tar.gz",
    ]
    assert rejected == {
        "foo-2.0-cp312-cp312-manylinux_2_17_x86_64.whl": "platform",
        "foo-2.0-py3-none-any.whl": "yanked",
    }


def test_a_file_for_another_target_of_the_same_version_is_not_kept() -> None:
    kept, rejected = _run(chosen={"cp311-win_amd64": {V2}})
    assert "foo-2.0-cp312-cp312-win_amd64.whl" not in kept
    assert rejected["foo-2.0-cp312-cp312-win_amd64.whl"] == "platform"
    assert rejected["foo-2.0.tar.gz"] == "requires-python"
    assert rejected["foo-1.0.tar.gz"] == "version"


def test_pinned_yanked_version_keeps_its_yanked_files() -> None:
    kept, _ = _run(chosen={"cp312-win_amd64": {V2}}, yanked_ok={V2})
    assert "foo-2.0-py3-none-any.whl" in kept


def test_all_files_mode_keeps_every_file_of_a_chosen_version() -> None:
    kept, rejected = _run(chosen={"cp312-win_amd64": {V2}}, all_files=True)
    assert kept == [
        "foo-2.0-cp312-cp312-manylinux_2_17_x86_64.whl",
        "foo-2.0-cp312-cp312-win_amd64.whl",
        "foo-2.0.tar.gz",
    ]
    assert rejected["foo-2.0-py3-none-any.whl"] == "yanked"


def test_binary_and_source_only() -> None:
    kept, rejected = _run(policy=Policy(binary_only=True))
    assert all(k.endswith(".whl") for k in kept)
    assert rejected["foo-1.0.tar.gz"] == "binary-only"
    kept, rejected = _run(policy=Policy(source_only=True))
    assert kept == ["foo-1.0.tar.gz", "foo-2.0.tar.gz"]
    assert rejected["foo-1.0-cp311-cp311-win_amd64.whl"] == "source-only"


def test_versions_are_reported_per_target_newest_first() -> None:
    sel = select(PAGE, {"cp312-win_amd64": {V1, V2}}, TARGETS, Policy())
    assert sel.versions == {"cp312-win_amd64": (V2, V1)}


def test_unchosen_versions_are_never_validated_but_still_reported() -> None:
    entries = [*FILES, _file("foo-0.5.tar.gz", url="file:///etc/foo-0.5.tar.gz")]
    page = ProjectPage(name=FOO, url="https://x.example/simple/foo/", entries=entries)
    sel = select(page, {"cp312-win_amd64": {V2}}, TARGETS, Policy())
    reasons = {r.filename: (r.category, r.reason) for r in sel.rejections()}
    assert reasons["foo-0.5.tar.gz"] == ("version", "foo-0.5.tar.gz: version 0.5 not chosen")
    assert page.rejected_of(Version("0.5")) == ()  # nothing looked at it
    assert [r.category for r in page.rejected] == ["bad-url"]  # it is refused once read


def _files(*entries: dict[str, object]) -> list[DistFile]:
    page = ProjectPage(name=FOO, url="https://x.example/simple/foo/", entries=entries)
    return [f for v in page.versions() for f in page.files_of(v)]


@pytest.mark.parametrize(
    ("platform", "policy", "expected"),
    [
        ("manylinux_2_28_x86_64", Policy(), "foo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
        ("manylinux2014_x86_64", Policy(), "foo-1.0-2-cp312-abi3-manylinux_2_17_x86_64.whl"),
        ("win_amd64", Policy(), "foo-1.0-py3-none-any.whl"),
        ("win_amd64", Policy(source_only=True), "foo-1.0.tar.gz"),
        ("win_arm64", Policy(), "foo-1.0-py3-none-any.whl"),
        ("macosx_14_0_arm64", Policy(), "foo-1.0-py3-none-any.whl"),
    ],
)
def test_the_file_an_installer_takes(platform: str, policy: Policy, expected: str) -> None:
    files = _files(
        _file("foo-1.0.zip"),
        _file("foo-1.0.tar.gz"),
        _file("foo-1.0-py3-none-any.whl"),
        _file("foo-1.0-cp312-abi3-manylinux_2_17_x86_64.whl"),
        _file("foo-1.0-2-cp312-abi3-manylinux_2_17_x86_64.whl"),  # build 2 beats no build
        _file("foo-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
        _file("foo-1.0-cp312-cp312-macosx_11_0_arm64.whl", yanked="bad"),
    )
    files = [f for f in files if platform != "macosx_14_0_arm64" or f.kind == "wheel"]
    (target,) = make_targets([platform], ["3.12"])
    chosen = installs(files, target, policy)
    assert chosen is not None
    assert chosen.filename == expected


def test_an_sdist_when_no_wheel_suits_and_nothing_when_binary_only() -> None:
    files = _files(
        _file("foo-1.0.zip"), _file("foo-1.0.tar.gz"), _file("foo-1.0-cp39-cp39-win32.whl")
    )
    (target,) = make_targets(["win_amd64"], ["3.12"])
    chosen = installs(files, target, Policy())
    assert chosen is not None
    assert chosen.filename == "foo-1.0.tar.gz"
    assert installs(files, target, Policy(binary_only=True)) is None
    old = _files(_file("foo-1.0.tar.gz", requires_python="<3"))
    assert installs(old, target, Policy()) is None


def test_names_differing_only_by_case_keep_the_first() -> None:
    page = ProjectPage(
        name=FOO,
        url="https://x.example/simple/foo/",
        entries=(_file("Foo-1.0.tar.gz"), _file("foo-1.0.tar.gz")),
    )
    sel = select(page, {"cp312-win_amd64": {V1}}, make_targets(["win_amd64"], ["3.12"]), Policy())
    assert [f.filename for f in sel.kept] == ["Foo-1.0.tar.gz"]
    (clash,) = sel.rejected
    assert (clash.filename, clash.category) == ("foo-1.0.tar.gz", "case-clash")
