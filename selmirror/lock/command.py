"""``selmirror lock``: its options, the offline resolution, and the lock written.

One target, named in full (``--platform`` and ``--python-version``, once each): a lock is
for the machine that installs it, and selmirror never guesses a machine from the one it
runs on. The requirements are read as the mirror command reads them (files, locks,
``pyproject.toml``; no URLs: the lock is made offline) and resolved against the mirror
alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from packaging.pylock import is_valid_pylock_path
from packaging.utils import NormalizedName

from selmirror import requirements
from selmirror.commands import Parser
from selmirror.errors import InputError, IntegrityError, OutputError, ResolutionFailed
from selmirror.filter import Policy
from selmirror.folder import atomic_write
from selmirror.lock.pylock import Chosen, Where, build, render, usable
from selmirror.lock.source import MirrorSource
from selmirror.models import RequirementSet
from selmirror.resolve import TargetResolution, resolve_all
from selmirror.targets import Target, make_targets, within

log = logging.getLogger("selmirror")


def parse(argv: list[str]) -> argparse.Namespace:
    p = Parser(
        prog="selmirror lock",
        description="Write a PEP 751 pylock.toml for one target, resolved offline against "
        "the mirror, pointing at the mirror's files.",
    )
    p.add_argument("inputs", nargs="*", metavar="REQUIREMENT | FILE")
    p.add_argument("-r", "--requirement", action="append", default=[], metavar="FILE")
    p.add_argument("-c", "--constraint", action="append", default=[], metavar="FILE")
    p.add_argument("--extra", action="append", default=[], metavar="NAME")
    p.add_argument("--all-extras", action="store_true")
    p.add_argument("--group", action="append", default=[], metavar="NAME")
    p.add_argument("--pre", "--include-prereleases", action="store_true", dest="pre")
    p.add_argument("--binary-only", action="store_true", help="lock wheels only")
    p.add_argument(
        "--platform",
        "--python-platform",
        action="append",
        default=[],
        metavar="TAG",
        help="the target's platform, as for the mirror (required, once)",
    )
    p.add_argument(
        "--python-version",
        action="append",
        default=[],
        metavar="X.Y",
        help="the target's Python (required, once)",
    )
    p.add_argument("--implementation", metavar="cp|pp")
    p.add_argument("--abi", action="append", default=[], metavar="ABI")
    p.add_argument(
        "--local-folder", type=Path, default=Path("simple"), metavar="DIR", help="the mirror"
    )
    p.add_argument(
        "-o",
        "--output",
        default="pylock.toml",
        metavar="FILE|-",
        help="where to write (./pylock.toml; '-': stdout, paths relative to here)",
    )
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="point at the files by URL under the mirror's URL, not by path",
    )
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)
    return p.parse_intermixed_args(argv)


def target_of(args: argparse.Namespace) -> Target:
    """The one target: exactly one platform and one Python."""
    for option, values in (
        ("--platform", args.platform),
        ("--python-version", args.python_version),
    ):
        if len(values) != 1:
            said = ", ".join(values) or "none"
            raise InputError(
                f"a lock is for one target: name {option} exactly once (got {said})",
                hint="write one lock per target, each with its -o pylock.NAME.toml"
                if values
                else "e.g. --platform linux --python-version 3.12",
            )
    (target,) = make_targets(args.platform, args.python_version, args.implementation, args.abi)
    return target


def run(args: argparse.Namespace, out: TextIO) -> int:
    target = target_of(args)
    root: Path = args.local_folder
    if not root.is_dir():
        raise InputError(f"no mirror at {root}")
    to_stdout = args.output == "-"
    output = Path.cwd() / "pylock.toml" if to_stdout else Path(args.output)
    if not to_stdout:
        _check_output(output)
    reqs = requirements.collect(
        args.inputs,
        args.requirement,
        args.constraint,
        cwd=Path.cwd(),
        project=requirements.ProjectChoice(
            extras=tuple(args.extra), all_extras=args.all_extras, groups=tuple(args.group)
        ),
    )
    if not reqs.requirements:
        raise InputError("nothing to lock: name a requirement or a requirements file")
    (target,) = within([target], reqs.requires_python)
    policy = Policy(binary_only=args.binary_only, prereleases=args.pre or reqs.pre)
    source = MirrorSource(root)
    resolution = resolve(source, reqs, target, policy)
    chosen = choices(source, reqs, resolution)
    folder = os.path.relpath(root.resolve(), output.parent.resolve())
    where = Where(folder=Path(folder).as_posix(), base_url=args.base_url)
    lock = build(target, chosen, where, policy)
    _check_files(source, chosen, target, policy)
    data = render(lock)
    if to_stdout:
        out.write(data.decode())
        out.flush()
    else:
        atomic_write(output, data)
    if args.quiet < 1:
        print(
            f"{'stdout' if to_stdout else output}: {len(lock.packages)} package(s) for "
            f"{target.label}, from {root}",
            file=sys.stderr if to_stdout else out,
        )
    return 0


def _check_output(path: Path) -> None:
    if not is_valid_pylock_path(path):
        raise InputError(
            f"-o {path}: a lock file is named pylock.toml or pylock.NAME.toml (PEP 751); "
            "pip and uv read no other name as one"
        )
    if path.is_dir() or not path.parent.is_dir():
        where = "is a folder" if path.is_dir() else f"no such folder {path.parent}"
        raise OutputError(f"-o {path}: {where}")


def resolve(
    source: MirrorSource, reqs: RequirementSet, target: Target, policy: Policy
) -> TargetResolution:
    """The one target's resolution from the mirror alone; a failure raises its error.

    No build environments: a lock says what is installed, not what builds it.
    """
    found = resolve_all(source, reqs, [target], policy, keep_going=False, build_deps=False)
    if found.errors:
        # the resolver's words are a sync's, whose source is the upstream index: here the
        # mirror is ("the index has 2.0" would send the reader upstream)
        errors = [
            type(e)(e.message.replace("the index", "the mirror"), hint=e.hint) for e in found.errors
        ]
        for error in errors[1:]:
            log.error("%s", error)
        raise errors[0]
    (resolution,) = found.targets
    for what, why in sorted(resolution.unknown.items()):
        log.warning("%s: dependencies unknown (%s); the lock may lack some", what, why)
    return resolution


def choices(
    source: MirrorSource, reqs: RequirementSet, resolution: TargetResolution
) -> list[Chosen]:
    """Per project, the version chosen and the mirror's files of it."""
    hashes: dict[NormalizedName, frozenset[tuple[str, str]]] = {}
    for root in reqs.requirements:
        if root.hashes:
            hashes[root.name] = hashes.get(root.name, frozenset()) | root.hashes
    chosen = []
    for name, versions in sorted(resolution.versions.items()):
        if len(versions) > 1:
            listed = ", ".join(str(v) for v in sorted(versions))
            raise ResolutionFailed(
                f"{name}: the requirements want several versions ({listed}); a lock has one"
            )
        (version,) = versions
        chosen.append(
            Chosen(
                name=name,
                version=version,
                files=tuple(source.versions(name)[version]),
                yanked_ok=(name, version) in resolution.yanked_ok,
                hashes=hashes.get(name, frozenset()),
            )
        )
    return chosen


def _check_files(
    source: MirrorSource, chosen: list[Chosen], target: Target, policy: Policy
) -> None:
    """Every file the lock names is on disk (a page may outlive a file a copy lost)."""
    for item in chosen:
        wheels, sdist = usable(item, target, policy)
        for f in (*wheels, *([sdist] if sdist else [])):
            if not source.path(f).is_file():
                raise IntegrityError(
                    f"{source.path(f)} is on its page but not on disk",
                    hint="see selmirror verify --repair",
                )
