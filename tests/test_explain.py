"""Why a resolution failed: one sentence per project, naming who wanted it and the cause."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.explain import no_version, wants
from selmirror.filter import Policy
from selmirror.models import DistFile
from selmirror.pages import ProjectPage
from selmirror.resolve import Need, pinned
from selmirror.targets import make_targets


def _versions(name: str, *entries: dict[str, object]) -> dict[Version, Sequence[DistFile]]:
    page = ProjectPage(name=NormalizedName(name), url="https://x/simple/x/", entries=entries)
    return {v: page.files_of(v) for v in page.versions()}


def _file(filename: str, **extra: object) -> dict[str, object]:
    return {"filename": filename, "url": filename, "hashes_raw": {"sha256": "a" * 64}} | extra


def _need(text: str, **extra: object) -> Need:
    req = Requirement(text)
    return Need(name=req.name, specifier=req.specifier, text=text, **extra)  # type: ignore[arg-type]


def _explain(
    name: str,
    causes: list[tuple[Need, str]],
    versions: dict[Version, Sequence[DistFile]],
    platform: str = "manylinux_2_28_x86_64",
    python: str = "3.13",
    policy: Policy | None = None,
) -> str:
    (target,) = make_targets([platform], [python])
    return no_version(name, causes, versions, target, policy or Policy(), pinned)


NUMPY = (
    _file("numpy-1.26.0.tar.gz", requires_python="<3.13,>=3.9"),
    *(
        _file(f"numpy-1.26.0-cp3{n}-cp3{n}-{p}.whl", requires_python="<3.13,>=3.9")
        for n in (9, 10, 11, 12)
        for p in ("manylinux_2_17_x86_64", "win_amd64", "macosx_11_0_arm64")
    ),
)


def test_a_requires_python_that_excludes_the_target_is_named_as_pip_words_it() -> None:
    versions = _versions("numpy", *NUMPY)
    message = _explain(
        "numpy",
        [(_need("numpy==1.26.0"), "command line")],
        versions,
        policy=Policy(source_only=True),
    )
    assert message == (
        "no version of numpy matches numpy==1.26.0 (from command line): numpy 1.26.0 "
        "requires a different Python: 3.13.0 not in '<3.13,>=3.9'"
    )


def test_no_wheel_for_the_target_lists_the_wheels_there_are() -> None:
    entries = [e for e in NUMPY if str(e["filename"]).endswith(".whl")]
    entries.append(_file("numpy-1.26.0-pp39-pypy39_pp73-win_amd64.whl"))
    versions = _versions("numpy", *(e | {"requires_python": None} for e in entries))
    message = _explain(
        "numpy", [(_need("numpy==1.26.0"), "command line")], versions, platform="win_arm64"
    )
    assert message == (
        "no version of numpy matches numpy==1.26.0 (from command line): numpy 1.26.0 has no "
        "wheel for cp313-win_arm64; its wheels: cp39-cp312, pp39 on macosx_11_0_arm64, "
        "manylinux_2_17_x86_64, win_amd64"
    )


def test_the_same_requirement_from_many_parents_is_said_once() -> None:
    versions = _versions("typed-ast", _file("typed_ast-1.5.5-cp38-cp38-win_amd64.whl"))
    parents = [f"black 23.{n}.0" for n in (3, 1)] + [f"black 22.{n}.0" for n in (12, 10, 8)]
    causes = [(_need("typed-ast>=1.4.2"), parent) for parent in parents]
    message = _explain("typed-ast", causes, versions, platform="win_amd64", python="3.7")
    assert message == (
        "no version of typed-ast matches typed-ast>=1.4.2 (from black 23.3.0, black 23.1.0, "
        "black 22.12.0 and 2 more): typed-ast 1.5.5 has no wheel for cp37-win_amd64; its "
        "wheels: cp38 on win_amd64"
    )


@pytest.mark.parametrize(
    ("entries", "need", "expected"),
    [
        ((), "x", "no version of x matches x (from r.txt:1): the index lists no files"),
        (
            (_file("x-1.0-py3-none-any.whl"), _file("x-2.0-py3-none-any.whl")),
            "x>=5",
            "no version of x matches x>=5 (from r.txt:1): the index has 2.0, 1.0",
        ),
        (
            (_file("x-1.0-py3-none-any.whl", yanked="broken"),),
            "x>=1",
            "no version of x matches x>=1 (from r.txt:1): x 1.0 is yanked (taken only when "
            "pinned with ==)",
        ),
        (
            (_file("x-1.0.tar.gz"),),
            "x==1.0",
            "no version of x matches x==1.0 (from r.txt:1): x 1.0 has no wheel (--binary-only)",
        ),
    ],
)
def test_other_causes(entries: tuple[dict[str, object], ...], need: str, expected: str) -> None:
    versions = _versions("x", *entries)
    policy = Policy(binary_only=need == "x==1.0")
    assert _explain("x", [(_need(need), "r.txt:1")], versions, policy=policy) == expected


def test_hashes_and_conflicts() -> None:
    versions = _versions("x", _file("x-1.0-py3-none-any.whl"), _file("x-2.0-py3-none-any.whl"))
    hashed = _need("x==1.0", hashes=frozenset({("sha256", "e" * 64)}))
    assert _explain("x", [(hashed, "r.txt:1")], versions).endswith(
        ": x 1.0 has no file that matches the --hash list"
    )
    causes = [(_need("x>=2"), "a 1.0"), (_need("x==1.0"), "constraint c.txt:3")]
    assert _explain("x", causes, versions) == (
        "conflicting requirements on x: x>=2 (from a 1.0) vs x==1.0 (from constraint c.txt:3)"
    )
    assert wants([(_need("x>=2"), "a"), (_need("x>=2"), "a")]) == "x>=2 (from a)"
