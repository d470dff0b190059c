"""Target environments: which wheels and Requires-Python ranges suit a machine.

Built only from what the user says (``--platform``, ``--python-version``, ``--implementation``,
``--abi``), never from the host selmirror runs on. A target that leaves an axis open (no
platform, or no Python version) accepts every value on that axis.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags, mac_platforms

from selmirror.errors import InputError

_LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_LEGACY_NAME = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}
_PLATFORM = re.compile(r"[a-z0-9_]+")
IMPLEMENTATIONS = ("cp", "pp")


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One machine to mirror for; ``None`` on an axis means "any"."""

    platform: str | None
    python_version: tuple[int, ...] | None
    implementation: str = "cp"
    abis: tuple[str, ...] = ()
    platforms: frozenset[str] = frozenset()
    tags: frozenset[Tag] = frozenset()

    @property
    def label(self) -> str:
        py = "any-python"
        if self.python_version is not None:
            py = self.implementation + "".join(map(str, self.python_version[:2]))
        return f"{py}-{self.platform or 'any-platform'}"

    @property
    def python_full_version(self) -> str | None:
        """``3.11`` means ``3.11.0``, as pip reads ``--python-version``."""
        if self.python_version is None:
            return None
        return ".".join(map(str, (*self.python_version, 0, 0)[:3]))

    def accepts_wheel(self, wheel_tags: Iterable[Tag]) -> bool:
        for tag in wheel_tags:
            platform_ok = self.platform is None or tag.platform in self.platforms
            if self.python_version is None:
                abi_ok = not self.abis or tag.abi in (*self.abis, "none", "abi3")
                interpreter_ok = tag.interpreter.startswith((self.implementation, "py"))
                if platform_ok and abi_ok and interpreter_ok:
                    return True
            elif self.platform is None:
                if Tag(tag.interpreter, tag.abi, "any") in self.tags:
                    return True
            elif tag in self.tags:
                return True
        return False

    def accepts_requires_python(self, requires_python: str | None) -> bool:
        full = self.python_full_version
        if requires_python is None or full is None:
            return True
        return SpecifierSet(requires_python).contains(full, prereleases=True)


def manylinux_platforms(glibc_minor: int, arch: str) -> list[str]:
    """Every manylinux tag a glibc 2.``glibc_minor`` machine accepts, newest first (PEP 600)."""
    floor = 5 if arch in ("x86_64", "i686") else 17  # older manylinux existed only for x86
    out = []
    for minor in range(glibc_minor, floor - 1, -1):
        out.append(f"manylinux_2_{minor}_{arch}")
        if minor in _LEGACY_NAME and (minor == 17 or floor == 5):
            out.append(f"{_LEGACY_NAME[minor]}_{arch}")
    return out


def expand_platform(platform: str) -> list[str]:
    """The platform tags an installer on ``platform`` accepts, the way that machine would.

    Unlike ``pip download --platform``, ``manylinux_2_28_x86_64`` also takes
    ``manylinux_2_17``/``manylinux2014`` wheels and ``macosx_11_0_arm64`` takes
    ``universal2`` and older macOS tags.
    """
    if m := re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform):
        return manylinux_platforms(int(m[1]), m[2])
    if m := re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform):
        return manylinux_platforms(_LEGACY_MANYLINUX[m[1]], m[2])
    if m := re.fullmatch(r"musllinux_1_(\d+)_(\w+)", platform):
        return [f"musllinux_1_{minor}_{m[2]}" for minor in range(int(m[1]), -1, -1)]
    if m := re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform):
        return [platform, *mac_platforms((int(m[1]), int(m[2])), m[3])]
    return [platform]


def parse_python_version(text: str) -> tuple[int, ...]:
    """``3.11``, ``3.11.4`` or pip's ``311`` -> ``(3, 11)`` / ``(3, 11, 4)``."""
    if re.fullmatch(r"3\d{1,2}", text):
        return 3, int(text[1:])
    if re.fullmatch(r"\d+\.\d+(\.\d+)?", text):
        return tuple(int(p) for p in text.split("."))
    raise InputError(f"--python-version {text!r}: expected X.Y or X.Y.Z, e.g. 3.11")


def _tags(
    version: tuple[int, ...], implementation: str, abis: Sequence[str], platforms: list[str]
) -> frozenset[Tag]:
    major_minor = (version[0], version[1])
    nodot = f"{version[0]}{version[1]}"
    interpreter = f"{implementation}{nodot}"
    if implementation == "cp":
        # abis always explicit: abis=None would read the host's ABI flags
        specific = cpython_tags(major_minor, abis=list(abis) or [interpreter], platforms=platforms)
    else:
        pypy_abis = list(abis) or [f"pypy{nodot}_pp73"]
        specific = generic_tags(interpreter, abis=pypy_abis, platforms=platforms)
    compatible = compatible_tags(major_minor, interpreter=interpreter, platforms=platforms)
    return frozenset(itertools.chain(specific, compatible))


def make_targets(
    platforms: Sequence[str],
    python_versions: Sequence[str],
    implementation: str | None = None,
    abis: Sequence[str] = (),
) -> tuple[Target, ...]:
    """The cross product of platforms and Python versions; ``()`` when nothing was asked."""
    if not (platforms or python_versions or implementation or abis):
        return ()
    impl = implementation or "cp"
    if impl not in IMPLEMENTATIONS:
        raise InputError(f"--implementation {impl!r}: expected one of {', '.join(IMPLEMENTATIONS)}")
    for name in platforms:
        if not _PLATFORM.fullmatch(name):
            raise InputError(f"--platform {name!r}: not a wheel platform tag")
    versions = [parse_python_version(v) for v in python_versions]
    targets = []
    platform_axis: list[str | None] = [*platforms] or [None]
    version_axis: list[tuple[int, ...] | None] = [*versions] or [None]
    for platform, version in itertools.product(platform_axis, version_axis):
        expanded = expand_platform(platform) if platform else ["any"]
        targets.append(
            Target(
                platform=platform,
                python_version=version,
                implementation=impl,
                abis=tuple(abis),
                platforms=frozenset([*expanded, "any"]),
                tags=_tags(version, impl, abis, [*expanded, "any"]) if version else frozenset(),
            )
        )
    return tuple(dict.fromkeys(targets))
