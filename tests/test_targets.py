"""Targets: platform expansion, wheel tag matching, Requires-Python; never the host's values."""

from __future__ import annotations

import pytest
from packaging.utils import parse_wheel_filename

from selmirror.errors import InputError
from selmirror.targets import expand_platform, make_targets, parse_python_version

NUMPY_1_26_0_WHEELS = [
    f"numpy-1.26.0-{py}-{plat}.whl"
    for py in ("cp39-cp39", "cp310-cp310", "cp311-cp311", "cp312-cp312")
    for plat in (
        "macosx_10_9_x86_64",
        "macosx_11_0_arm64",
        "manylinux_2_17_aarch64.manylinux2014_aarch64",
        "manylinux_2_17_x86_64.manylinux2014_x86_64",
        "musllinux_1_1_x86_64",
        "win32",
        "win_amd64",
    )
] + [
    "numpy-1.26.0-pp39-pypy39_pp73-macosx_10_9_x86_64.whl",
    "numpy-1.26.0-pp39-pypy39_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "numpy-1.26.0-pp39-pypy39_pp73-win_amd64.whl",
]


def _matching(*, platform: list[str], python: list[str], impl: str | None = None) -> list[str]:
    (target,) = make_targets(platform, python, impl)
    return [w for w in NUMPY_1_26_0_WHEELS if target.accepts_wheel(parse_wheel_filename(w)[3])]


@pytest.mark.parametrize(
    ("platform", "python", "expected"),
    [
        (
            ["manylinux2014_x86_64"],
            ["3.11"],
            ["numpy-1.26.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"],
        ),
        (  # a newer glibc accepts older manylinux wheels (pip --platform does not)
            ["manylinux_2_28_x86_64"],
            ["3.12"],
            ["numpy-1.26.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"],
        ),
        (["manylinux_2_12_x86_64"], ["3.12"], []),  # too old a glibc for manylinux2014
        (["win_amd64"], ["3.10"], ["numpy-1.26.0-cp310-cp310-win_amd64.whl"]),
        (["macosx_14_0_arm64"], ["3.9"], ["numpy-1.26.0-cp39-cp39-macosx_11_0_arm64.whl"]),
        (["macosx_10_9_arm64"], ["3.9"], []),
        (["musllinux_1_2_x86_64"], ["3.11"], ["numpy-1.26.0-cp311-cp311-musllinux_1_1_x86_64.whl"]),
        (["musllinux_1_0_x86_64"], ["3.11"], []),
        ([], ["3.12"], [w for w in NUMPY_1_26_0_WHEELS if "-cp312-" in w]),
        (["win32"], [], [w for w in NUMPY_1_26_0_WHEELS if w.endswith("-win32.whl")]),
    ],
)
def test_wheel_matching(platform: list[str], python: list[str], expected: list[str]) -> None:
    assert _matching(platform=platform, python=python) == expected


def test_pypy_target() -> None:
    assert _matching(platform=["win_amd64"], python=["3.9"], impl="pp") == [
        "numpy-1.26.0-pp39-pypy39_pp73-win_amd64.whl"
    ]


def test_pure_and_abi3_wheels_suit_a_cpython_target() -> None:
    (t,) = make_targets(["win_arm64"], ["3.13"])
    assert t.accepts_wheel(parse_wheel_filename("x-1.0-py3-none-any.whl")[3])
    assert t.accepts_wheel(parse_wheel_filename("x-1.0-cp39-abi3-win_arm64.whl")[3])
    assert not t.accepts_wheel(parse_wheel_filename("x-1.0-cp39-abi3-win_amd64.whl")[3])
    assert not t.accepts_wheel(parse_wheel_filename("x-1.0-py2-none-any.whl")[3])


def test_requires_python_uses_x_y_0_like_pip() -> None:
    (t,) = make_targets([], ["3.11"])
    assert t.python_full_version == "3.11.0"
    assert t.accepts_requires_python(">=3.9,<3.13")
    assert not t.accepts_requires_python(">=3.11.4")
    assert not t.accepts_requires_python("<3.11")
    assert t.accepts_requires_python(None)
    (exact,) = make_targets([], ["3.11.7"])
    assert exact.accepts_requires_python(">=3.11.4")


def test_manylinux_expansion_includes_legacy_aliases() -> None:
    expanded = expand_platform("manylinux_2_28_aarch64")
    assert expanded[0] == "manylinux_2_28_aarch64"
    assert "manylinux2014_aarch64" in expanded
    assert "manylinux_2_17_aarch64" in expanded
    assert "manylinux_2_16_aarch64" not in expanded  # pre-2.17 never existed off x86
    assert "manylinux1_x86_64" in expand_platform("manylinux2014_x86_64")


def test_targets_are_the_cross_product() -> None:
    targets = make_targets(["win_amd64", "manylinux2014_x86_64"], ["3.11", "3.12"])
    assert [t.label for t in targets] == [
        "cp311-win_amd64",
        "cp312-win_amd64",
        "cp311-manylinux2014_x86_64",
        "cp312-manylinux2014_x86_64",
    ]
    assert make_targets([], []) == ()


@pytest.mark.parametrize(
    ("platforms", "versions", "impl", "message"),
    [
        ([], ["three"], None, "--python-version 'three'"),
        ([], ["3"], None, "--python-version '3'"),
        (["Win AMD64"], [], None, "--platform 'Win AMD64'"),
        ([], ["3.11"], "jy", "--implementation 'jy'"),
    ],
)
def test_bad_target_values(
    platforms: list[str], versions: list[str], impl: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        make_targets(platforms, versions, impl)


@pytest.mark.parametrize(
    ("text", "expected"), [("3.11", (3, 11)), ("311", (3, 11)), ("3.12.4", (3, 12, 4))]
)
def test_python_version_forms(text: str, expected: tuple[int, ...]) -> None:
    assert parse_python_version(text) == expected
