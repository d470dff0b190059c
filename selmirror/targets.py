"""Target environments: the machines a mirror serves, each complete.

A target is a platform and a Python: the wheel tags an installer there accepts, the
Requires-Python it satisfies, and the PEP 508 marker environment its pip evaluates. Built only
from what the user says, never from the host selmirror runs on. An axis the user leaves open
(no ``--platform``, or no ``--python-version``) takes the values of the default matrix.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags, mac_platforms

from selmirror.errors import InputError

log = logging.getLogger(__name__)

IMPLEMENTATIONS = ("cp", "pp")
# The environments people actually run, used when no target is named: every CPython still
# in wide use x Linux (glibc x86_64/aarch64, musl x86_64), macOS (arm64, x86_64), Windows.
MATRIX_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
MATRIX_PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_28_aarch64",
    "musllinux_1_2_x86_64",
    "macosx_13_0_arm64",
    "macosx_13_0_x86_64",
    "win_amd64",
)
# uv's --python-platform names, so both tools can be told the same thing.
UV_PLATFORMS = {
    "windows": "win_amd64",
    "linux": "manylinux_2_28_x86_64",
    "macos": "macosx_13_0_arm64",
    "x86_64-pc-windows-msvc": "win_amd64",
    "aarch64-pc-windows-msvc": "win_arm64",
    "i686-pc-windows-msvc": "win32",
    "x86_64-unknown-linux-gnu": "manylinux_2_28_x86_64",
    "aarch64-unknown-linux-gnu": "manylinux_2_28_aarch64",
    "x86_64-unknown-linux-musl": "musllinux_1_2_x86_64",
    "aarch64-unknown-linux-musl": "musllinux_1_2_aarch64",
    "riscv64-unknown-linux": "manylinux_2_39_riscv64",
    "aarch64-apple-darwin": "macosx_13_0_arm64",
    "x86_64-apple-darwin": "macosx_13_0_x86_64",
}
_LEGACY_MANYLINUX = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_LEGACY_NAME = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}
_PLATFORM = re.compile(r"[a-z0-9_]+")
_WINDOWS_MACHINES = {
    "win_amd64": ("AMD64", "x86_64"),  # CPython says AMD64; uv's --python-platform says x86_64
    "win32": ("x86",),
    "win_arm64": ("ARM64", "aarch64"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One machine to mirror for."""

    platform: str
    python_version: tuple[int, ...]
    implementation: str = "cp"
    abis: tuple[str, ...] = ()
    tags: frozenset[Tag] = frozenset()
    # one marker environment, or a few when real installers disagree (Windows machine names)
    environments: tuple[Mapping[str, str], ...] = field(default=(), compare=False)
    # each tag's place in the installer's order of preference: 0 is the most specific
    tag_rank: Mapping[Tag, int] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        nodot = "".join(map(str, self.python_version[:2]))
        return f"{self.implementation}{nodot}-{self.platform}"

    @property
    def python_full_version(self) -> str:
        """``3.11`` means ``3.11.0``, as pip reads ``--python-version``."""
        return ".".join(map(str, (*self.python_version, 0, 0)[:3]))

    def accepts_wheel(self, wheel_tags: Iterable[Tag]) -> bool:
        return not self.tags.isdisjoint(wheel_tags)

    def wheel_rank(self, wheel_tags: Iterable[Tag]) -> int:
        """How much an installer here prefers a wheel: the rank of its best tag (lower is
        better, as pip and uv order them); ``len(tags)`` if it does not suit at all."""
        worst = len(self.tag_rank)
        return min((self.tag_rank.get(tag, worst) for tag in wheel_tags), default=worst)

    def accepts_requires_python(self, requires_python: str | None) -> bool:
        if requires_python is None:
            return True
        return _specifier(requires_python).contains(self.python_full_version, prereleases=True)

    def evaluate(self, marker: Marker | str, extras: Iterable[str] = ()) -> bool:
        """Whether ``marker`` holds here, for the requested ``extras`` (or none).

        Answers are remembered: the same markers come up for every version considered.
        """
        return _holds(self, str(marker), tuple(sorted(extras)))


@functools.lru_cache(maxsize=1 << 15)
def _holds(target: Target, marker: str, extras: tuple[str, ...]) -> bool:
    parsed = _marker(marker)
    return any(
        parsed.evaluate({**env, "extra": extra})
        for env in target.environments
        for extra in extras or ("",)
    )


@functools.lru_cache(maxsize=4096)
def _marker(text: str) -> Marker:
    return Marker(text)


@functools.lru_cache(maxsize=4096)
def _specifier(text: str) -> SpecifierSet:
    return SpecifierSet(text)


def manylinux_platforms(glibc_minor: int, arch: str) -> list[str]:
    """Every manylinux tag a glibc 2.``glibc_minor`` machine accepts, newest first (PEP 600)."""
    floor = 5 if arch in ("x86_64", "i686") else 17  # older manylinux existed only for x86
    out = []
    for minor in range(glibc_minor, floor - 1, -1):
        out.append(f"manylinux_2_{minor}_{arch}")
        if minor in _LEGACY_NAME and (minor == 17 or floor == 5):
            out.append(f"{_LEGACY_NAME[minor]}_{arch}")
    return out


MAX_MINOR = 99  # glibc 2.99, musl 1.99, macOS 99.99, Python 3.99: far beyond any real one


def _bounded(platform: str, *numbers: str) -> None:
    """Tag lists grow with these numbers (manylinux_2_9999999 made minutes of tags)."""
    if any(int(n) > MAX_MINOR for n in numbers):
        raise InputError(f"--platform {platform!r}: a version past {MAX_MINOR} is not real")


def expand_platform(platform: str) -> list[str]:
    """The platform tags an installer on ``platform`` accepts, the way that machine would.

    Unlike ``pip download --platform``, ``manylinux_2_28_x86_64`` also takes
    ``manylinux_2_17``/``manylinux2014`` wheels and ``macosx_11_0_arm64`` takes
    ``universal2`` and older macOS tags.
    """
    if m := re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform):
        _bounded(platform, m[1])
        return manylinux_platforms(int(m[1]), m[2])
    if m := re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", platform):
        return manylinux_platforms(_LEGACY_MANYLINUX[m[1]], m[2])
    if m := re.fullmatch(r"musllinux_1_(\d+)_(\w+)", platform):
        _bounded(platform, m[1])
        return [f"musllinux_1_{minor}_{m[2]}" for minor in range(int(m[1]), -1, -1)]
    if m := re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", platform):
        _bounded(platform, m[1], m[2])
        return [platform, *mac_platforms((int(m[1]), int(m[2])), m[3])]
    return [platform]


def canonical_platform(name: str) -> str:
    """A wheel platform tag from a tag or one of uv's ``--python-platform`` names."""
    if name in UV_PLATFORMS:
        return UV_PLATFORMS[name]
    if m := re.fullmatch(r"(x86_64|aarch64)-manylinux(2014|_2_\d+)", name):
        return f"manylinux{m[2]}_{m[1]}"
    if not _PLATFORM.fullmatch(name):
        raise InputError(f"--platform {name!r}: not a wheel platform tag or a uv platform name")
    return name


def _system(platform: str) -> tuple[str, str, str, tuple[str, ...]]:
    """``(os_name, sys_platform, platform_system, platform_machine values)`` of a platform."""
    if platform in _WINDOWS_MACHINES:
        return "nt", "win32", "Windows", _WINDOWS_MACHINES[platform]
    if m := re.fullmatch(
        r"(?:manylinux_\d+_\d+|manylinux\d+|musllinux_\d+_\d+|linux)_(\w+)", platform
    ):
        return "posix", "linux", "Linux", (m[1],)
    if m := re.fullmatch(r"macosx_\d+_\d+_(\w+)", platform):
        arch = m[1]
        machines = {"universal2": ("arm64", "x86_64"), "intel": ("x86_64",)}.get(arch, (arch,))
        return "posix", "darwin", "Darwin", machines
    raise InputError(
        f"--platform {platform!r}: selmirror cannot tell its marker environment "
        "(known: manylinux, musllinux, linux, macosx, win32, win_amd64, win_arm64)"
    )


def marker_environments(
    platform: str, version: tuple[int, ...], implementation: str
) -> tuple[dict[str, str], ...]:
    """Complete PEP 508 environments: every key set, so nothing leaks from the host."""
    os_name, sys_platform, system, machines = _system(platform)
    full = ".".join(map(str, (*version, 0, 0)[:3]))
    cpython = implementation == "cp"
    return tuple(
        {
            "os_name": os_name,
            "sys_platform": sys_platform,
            "platform_system": system,
            "platform_machine": machine,
            "platform_release": "",
            "platform_version": "",
            "python_version": f"{version[0]}.{version[1]}",
            "python_full_version": full,
            "implementation_name": "cpython" if cpython else "pypy",
            "implementation_version": full,
            "platform_python_implementation": "CPython" if cpython else "PyPy",
        }
        for machine in machines
    )


def parse_python_version(text: str) -> tuple[int, ...]:
    """``3.11``, ``3.11.4`` or pip's ``311`` -> ``(3, 11)`` / ``(3, 11, 4)``."""
    if re.fullmatch(r"3\d{1,2}", text):
        return 3, int(text[1:])
    if re.fullmatch(r"[23]\.\d{1,2}(\.\d{1,3})?", text):
        return tuple(int(p) for p in text.split("."))
    raise InputError(f"--python-version {text!r}: expected X.Y or X.Y.Z, e.g. 3.11")


def default_abi(version: tuple[int, ...], implementation: str = "cp") -> str:
    """The ABI of a stock interpreter: ``cp312``; ``cp37m`` before 3.8 (pymalloc, as
    packaging's ``cpython_tags`` derives it); ``pypy310_pp73`` for PyPy."""
    nodot = f"{version[0]}{version[1]}"
    if implementation != "cp":
        return f"pypy{nodot}_pp73"
    return f"cp{nodot}m" if (version[0], version[1]) < (3, 8) else f"cp{nodot}"


def _tags(
    version: tuple[int, ...], implementation: str, abis: Sequence[str], platforms: list[str]
) -> dict[Tag, int]:
    """Every tag an installer on this machine accepts, with its rank (best first)."""
    major_minor = (version[0], version[1])
    nodot = f"{version[0]}{version[1]}"
    interpreter = f"{implementation}{nodot}"
    # abis always explicit: abis=None would read the host's ABI flags
    chosen = list(abis) or [default_abi(version, implementation)]
    if implementation == "cp":
        specific = cpython_tags(major_minor, abis=chosen, platforms=platforms)
    else:
        specific = generic_tags(interpreter, abis=chosen, platforms=platforms)
    compatible = compatible_tags(major_minor, interpreter=interpreter, platforms=platforms)
    ranks: dict[Tag, int] = {}
    for tag in itertools.chain(specific, compatible):
        ranks.setdefault(tag, len(ranks))
    return ranks


def make_target(
    platform: str, version: tuple[int, ...], implementation: str = "cp", abis: Sequence[str] = ()
) -> Target:
    ranks = _tags(version, implementation, abis, [*expand_platform(platform), "any"])
    return Target(
        platform=platform,
        python_version=version,
        implementation=implementation,
        abis=tuple(abis),
        tags=frozenset(ranks),
        environments=marker_environments(platform, version, implementation),
        tag_rank=ranks,
    )


def make_targets(
    platforms: Sequence[str],
    python_versions: Sequence[str],
    implementation: str | None = None,
    abis: Sequence[str] = (),
    *,
    matrix_platforms: Sequence[str] = MATRIX_PLATFORMS,
    matrix_pythons: Sequence[str] = MATRIX_PYTHONS,
) -> tuple[Target, ...]:
    """The cross product of platforms and Python versions, open axes from the matrix."""
    impl = implementation or "cp"
    if impl not in IMPLEMENTATIONS:
        raise InputError(f"--implementation {impl!r}: expected one of {', '.join(IMPLEMENTATIONS)}")
    chosen_platforms = [canonical_platform(p) for p in (platforms or matrix_platforms)]
    versions = [parse_python_version(v) for v in (python_versions or matrix_pythons)]
    targets = [
        make_target(platform, version, impl, abis)
        for platform, version in itertools.product(chosen_platforms, versions)
    ]
    return tuple(dict.fromkeys(targets))


def within(
    targets: Sequence[Target], requires_python: Sequence[tuple[str, str]]
) -> tuple[Target, ...]:
    """The targets inside every ``requires-python`` of the inputs (a project file, a script,
    a lock): a target outside one is left out, with a warning; none left is an error."""
    kept = []
    for target in targets:
        outside = [(spec, source) for spec, source in requires_python if not _fits(target, spec)]
        if outside:
            spec, source = outside[0]
            log.warning(
                "%s left out: Python %s is outside requires-python %s of %s",
                target.label,
                target.python_full_version,
                spec,
                source,
            )
        else:
            kept.append(target)
    if not kept and targets:
        spec, source = requires_python[0]
        raise InputError(f"no target is inside requires-python {spec} of {source}")
    return tuple(kept)


def _fits(target: Target, spec: str) -> bool:
    try:
        return target.accepts_requires_python(spec)
    except InvalidSpecifier:
        raise InputError(f"requires-python {spec!r} is not a valid specifier") from None
