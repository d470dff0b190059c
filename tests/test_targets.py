"""Targets: platform expansion, wheel tag matching, Requires-Python; never the host's values."""

from __future__ import annotations

import pytest
from packaging.markers import Marker
from packaging.utils import parse_wheel_filename

from selmirror.errors import InputError
from selmirror.targets import (
    MATRIX_PLATFORMS,
    MATRIX_PYTHONS,
    expand_platform,
    make_targets,
    parse_python_version,
)

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
    targets = make_targets(platform, python, impl)
    return [
        w
        for w in NUMPY_1_26_0_WHEELS
        if any(t.accepts_wheel(parse_wheel_filename(w)[3]) for t in targets)
    ]


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
        (  # no platform: the matrix's (no win32 there)
            [],
            ["3.12"],
            [w for w in NUMPY_1_26_0_WHEELS if "-cp312-" in w and not w.endswith("win32.whl")],
        ),
        (  # no Python: the matrix's, 3.10 and newer
            ["win32"],
            [],
            [f"numpy-1.26.0-cp3{n}-cp3{n}-win32.whl" for n in (10, 11, 12)],
        ),
        (["x86_64-pc-windows-msvc"], ["3.11"], ["numpy-1.26.0-cp311-cp311-win_amd64.whl"]),
        (
            ["aarch64-manylinux_2_28"],
            ["3.11"],
            ["numpy-1.26.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"],
        ),
        (["aarch64-apple-darwin"], ["3.10"], ["numpy-1.26.0-cp310-cp310-macosx_11_0_arm64.whl"]),
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
    (t,) = make_targets(["linux"], ["3.11"])
    assert t.python_full_version == "3.11.0"
    assert t.accepts_requires_python(">=3.9,<3.13")
    assert not t.accepts_requires_python(">=3.11.4")
    assert not t.accepts_requires_python("<3.11")
    assert t.accepts_requires_python(None)
    (exact,) = make_targets(["linux"], ["3.11.7"])
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
    matrix = make_targets([], [])
    assert len(matrix) == len(MATRIX_PLATFORMS) * len(MATRIX_PYTHONS) == 30
    assert {t.platform for t in matrix} == set(MATRIX_PLATFORMS)


@pytest.mark.parametrize(
    ("platforms", "versions", "impl", "message"),
    [
        ([], ["three"], None, "--python-version 'three'"),
        ([], ["3"], None, "--python-version '3'"),
        (["Win AMD64"], [], None, "--platform 'Win AMD64'"),
        ([], ["3.11"], "jy", "--implementation 'jy'"),
        (["freebsd_13_x86_64"], ["3.11"], None, "cannot tell its marker environment"),
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


MARKER_KEYS = {
    "os_name",
    "sys_platform",
    "platform_system",
    "platform_machine",
    "platform_release",
    "platform_version",
    "python_version",
    "python_full_version",
    "implementation_name",
    "implementation_version",
    "platform_python_implementation",
}


@pytest.mark.parametrize(
    ("platform", "python", "expected"),
    [
        (
            "win_amd64",
            "3.12",
            {
                "os_name": "nt",
                "sys_platform": "win32",
                "platform_system": "Windows",
                "platform_machine": "AMD64",
            },
        ),
        (
            "manylinux_2_28_aarch64",
            "3.11.4",
            {
                "sys_platform": "linux",
                "platform_machine": "aarch64",
                "python_full_version": "3.11.4",
            },
        ),
        ("musllinux_1_2_x86_64", "3.13", {"os_name": "posix", "platform_system": "Linux"}),
        (
            "macosx_14_0_arm64",
            "3.10",
            {
                "sys_platform": "darwin",
                "platform_machine": "arm64",
                "python_version": "3.10",
                "python_full_version": "3.10.0",
            },
        ),
    ],
)
def test_marker_environment_is_complete_and_never_the_hosts(
    platform: str, python: str, expected: dict[str, str]
) -> None:
    (t,) = make_targets([platform], [python])
    env = t.environments[0]
    assert set(env) == MARKER_KEYS  # every key: Marker.evaluate would fill gaps from the host
    assert expected.items() <= env.items()
    assert env["implementation_name"] == "cpython"
    assert env["platform_release"] == env["platform_version"] == ""


def test_markers_are_evaluated_in_the_targets_environment() -> None:
    win, linux = make_targets(["win_amd64", "linux"], ["3.10"])
    windows_only = Marker('platform_system == "Windows"')
    assert win.evaluate(windows_only)
    assert not linux.evaluate(windows_only)
    # CPython on Windows says AMD64, uv's target says x86_64: either one counts
    assert win.evaluate(Marker('platform_machine == "x86_64"'))
    assert win.evaluate(Marker('platform_machine == "AMD64"'))
    assert linux.evaluate(Marker('python_version < "3.11"'))
    assert linux.evaluate(Marker('extra == "socks"'), extras=["socks"])
    assert not linux.evaluate(Marker('extra == "socks"'))


@pytest.mark.parametrize(
    ("uv_name", "tag"),
    [
        ("windows", "win_amd64"),
        ("linux", "manylinux_2_28_x86_64"),
        ("macos", "macosx_13_0_arm64"),
        ("x86_64-manylinux2014", "manylinux2014_x86_64"),
        ("aarch64-manylinux_2_31", "manylinux_2_31_aarch64"),
        ("x86_64-unknown-linux-musl", "musllinux_1_2_x86_64"),
        ("i686-pc-windows-msvc", "win32"),
    ],
)
def test_uv_platform_names(uv_name: str, tag: str) -> None:
    (t,) = make_targets([uv_name], ["3.12"])
    assert t.platform == tag


def test_cpython_before_3_8_takes_pymalloc_wheels_as_its_interpreter_does() -> None:
    (t37,) = make_targets(["win_amd64"], ["3.7"])
    assert t37.accepts_wheel(parse_wheel_filename("typed_ast-1.5.5-cp37-cp37m-win_amd64.whl")[3])
    assert not t37.accepts_wheel(parse_wheel_filename("x-1.0-cp37-cp37-win_amd64.whl")[3])
    assert t37.accepts_wheel(parse_wheel_filename("x-1.0-cp36-abi3-win_amd64.whl")[3])
    (t38,) = make_targets(["win_amd64"], ["3.8"])
    assert t38.accepts_wheel(parse_wheel_filename("x-1.0-cp38-cp38-win_amd64.whl")[3])
    assert not t38.accepts_wheel(parse_wheel_filename("x-1.0-cp38-cp38m-win_amd64.whl")[3])
    (debug,) = make_targets(["win_amd64"], ["3.7"], abis=["cp37dm"])  # an explicit ABI wins
    assert not debug.accepts_wheel(parse_wheel_filename("x-1.0-cp37-cp37m-win_amd64.whl")[3])


def test_wheels_rank_as_the_installer_prefers_them() -> None:
    (t,) = make_targets(["manylinux_2_28_x86_64"], ["3.12"])

    def rank(filename: str) -> int:
        return t.wheel_rank(parse_wheel_filename(filename)[3])

    order = [
        "x-1.0-cp312-cp312-manylinux_2_28_x86_64.whl",
        "x-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "x-1.0-cp312-abi3-manylinux_2_17_x86_64.whl",
        "x-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
        "x-1.0-py3-none-manylinux_2_17_x86_64.whl",
        "x-1.0-py3-none-any.whl",
        "x-1.0-cp312-cp312-win_amd64.whl",  # does not suit: after everything
    ]
    assert sorted(order, key=rank) == order
    assert rank(order[-1]) == len(t.tag_rank)
