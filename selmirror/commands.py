"""The maintenance commands: ``verify``, ``index``, ``export``, ``import`` and ``sbom``.

Each parses its own arguments and prints its results; errors are raised for the CLI's one
``error:`` line. ``mirror``, ``sync`` and ``prune`` share the mirror's options (cli.py).

Every command but a plain ``verify`` and ``sbom`` (which only read) first puts right what a
killed run left (a pending removal, temp files). An :class:`OSError` that escapes a command
(a full disk, a read-only file system) is an :class:`OutputError` naming the path, never a
traceback.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from packaging.utils import NormalizedName

from selmirror import bundle, indexer, state, upstream, verify
from selmirror.download import Job, fetch_verified
from selmirror.errors import InputError, IntegrityError, OutputError, SelmirrorError
from selmirror.folder import MirrorFolder, atomic_write
from selmirror.metadata import BadDistribution, wheel_metadata

log = logging.getLogger("selmirror")
PYPI = "https://pypi.org/simple/"


class Parser(argparse.ArgumentParser):
    """A command's parser: a bad argument is an :class:`InputError`, one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message, hint=f"see {self.prog} --help")


def base_parser(command: str, description: str) -> argparse.ArgumentParser:
    """A command's parser with the options every command but the mirror's has."""
    p = Parser(prog=f"selmirror {command}", description=description)
    p.add_argument(
        "--local-folder",
        type=Path,
        default=Path("simple"),
        metavar="DIR",
        help="the mirror (./simple)",
    )
    p.add_argument("--lock-timeout", type=float, default=300.0, metavar="S")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.add_argument("-q", "--quiet", action="count", default=0)
    return p


def parse(command: str, argv: Sequence[str]) -> argparse.Namespace:
    if command == "verify":
        p = base_parser("verify", "Check a mirror offline; one line per problem.")
        p.add_argument(
            "--repair",
            action="store_true",
            help="re-fetch broken files and regenerate broken pages",
        )
        p.add_argument(
            "-i",
            "--index",
            "--index-url",
            dest="index",
            default=PYPI,
            metavar="URL",
            help="where --repair fetches from (default PyPI)",
        )
        p.add_argument("--timeout", type=float, default=30.0, metavar="S")
    elif command == "index":
        p = base_parser("index", "Regenerate pages from the files on disk (hand-placed included).")
        p.add_argument("--full", action="store_true", help="read every project folder")
    elif command == "export":
        p = base_parser("export", "Write a bundle of what changed since the last export.")
        p.add_argument("--output", "-o", type=Path, required=True, metavar="BUNDLE.tar")
        p.add_argument("--full", action="store_true", help="everything, not just what changed")
    elif command == "sbom":
        p = base_parser("sbom", "Write a CycloneDX 1.6 JSON SBOM of every file in the mirror.")
        p.add_argument("--output", "-o", required=True, metavar="FILE", help="'-': stdout")
    else:
        p = base_parser("import", "Verify a bundle, then merge it into this mirror.")
        p.add_argument("bundle", type=Path, metavar="BUNDLE.tar")
    args = p.parse_args(list(argv))
    args.command = command
    return args


def run(args: argparse.Namespace, out: TextIO) -> int:
    folder = MirrorFolder(args.local_folder)
    if args.command != "import" and not folder.root.is_dir():
        raise InputError(f"no mirror at {folder.root}")
    with folder.lock(args.lock_timeout):
        try:
            return _run_locked(folder, args, out)
        except OSError as exc:
            where = exc.filename or folder.root
            raise OutputError(f"{args.command}: cannot use {where}: {exc.strerror}") from None


def _run_locked(folder: MirrorFolder, args: argparse.Namespace, out: TextIO) -> int:
    if args.command == "verify":
        return _verify(folder, args, out)
    if args.command == "sbom":
        return _sbom(folder, args.output, out)
    folder.clean_stale_temps()  # and finishes a removal a killed run left
    if args.command == "index":
        done = indexer.index(folder, full=args.full)
        for line in done.refused:
            print(line, file=out)
        print(
            f"{len(done.scanned)} project folder(s) read, {done.hashed} file(s) hashed, "
            f"{len(done.rewritten)} page(s) rewritten"
            + (f", {len(done.refused)} refused" if done.refused else ""),
            file=out,
        )
        return 0
    if args.command == "export":
        made = bundle.export(folder, args.output, full=args.full)
        print(f"{args.output}: {len(made.files)} file(s), {made.bytes / 1e6:.1f} MB", file=out)
        return 0
    merged = bundle.import_bundle(args.bundle, folder)
    state.completed(folder.root)
    print(
        f"{args.bundle}: {len(merged.added)} file(s) in, {len(merged.pages)} page(s), "
        f"{len(merged.removed)} file(s) removed",
        file=out,
    )
    return 0


def _verify(folder: MirrorFolder, args: argparse.Namespace, out: TextIO) -> int:
    problems = verify.verify(folder)
    if problems and args.repair:
        folder.clean_stale_temps()  # and finishes a removal a killed run left
        _repair(folder, verify.verify(folder), args)
        problems = verify.verify(folder)
    for problem in problems:
        print(problem, file=out)
    if problems:
        raise IntegrityError(f"{len(problems)} problem(s) in {folder.root}")
    print(f"{folder.root}: no problems", file=out)
    return 0


def _sbom(folder: MirrorFolder, output: str, out: TextIO) -> int:
    try:
        from selmirror import sbom
    except ImportError as exc:
        raise InputError(
            f"selmirror sbom needs its extra ({(exc.name or '').split('.')[0]} is missing): "
            "pip install 'selmirror[sbom]'"
        ) from None
    files = sbom.write(folder, output, out)
    if output != "-":
        print(f"{output}: {files} file(s)", file=out)
    return 0


def _repair(
    folder: MirrorFolder, problems: Sequence[verify.Problem], args: argparse.Namespace
) -> None:
    """Delete temp files, re-fetch broken files (only if upstream still has the very same
    bytes), re-extract sidecars from their wheels, then re-index (which re-reads every
    sidecar, so a re-extracted one gets its new hash on the pages)."""
    client = upstream.Upstream(upstream.make_session(4), [args.index], timeout=args.timeout)
    touched = set()
    for problem in problems:
        if problem.kind == "temp":
            path = folder.root / problem.path
            log.info("removing %s", problem.path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        elif problem.kind in ("missing", "size", "hash", "metadata") and problem.project:
            touched.add(problem.project)
            try:
                _refetch(folder, client, problem)
            except SelmirrorError as exc:
                log.error("cannot repair %s: %s", problem.path, exc)
        elif problem.kind == "provenance" and problem.project:
            # a copy that is missing or not what the page says goes from the pages; the
            # next sync fetches it again
            touched.add(problem.project)
            (folder.root / problem.path).unlink(missing_ok=True)
            log.info("dropped %s; the next sync fetches it again", problem.path)
        elif problem.kind == "page" and problem.project:
            touched.add(problem.project)
    if touched or any(p.kind == "page" for p in problems):
        indexer.index(folder, full=True, rewrite=True)


def _refetch(folder: MirrorFolder, client: upstream.Upstream, problem: verify.Problem) -> None:
    if problem.project is None or problem.filename is None:
        return
    record = folder.recorded(NormalizedName(problem.project)).get(problem.filename)
    if record is None:
        raise IntegrityError(f"{problem.path} is not on its page")
    path = folder.project_dir(record.project) / record.filename
    if problem.kind == "metadata" and path.is_file():
        try:
            data = wheel_metadata(path, record.filename)
        except BadDistribution as exc:
            raise IntegrityError(str(exc)) from None
        atomic_write(path.with_name(path.name + ".metadata"), data)
        log.info("re-extracted %s/%s.metadata from the wheel", record.project, record.filename)
        return
    page, _ = client.project_page(record.project)
    fresh = page.find(record.filename)
    if fresh is None:
        raise IntegrityError(f"{record.filename} is no longer on {client.indexes[0]}")
    if fresh.sha256 not in (None, record.sha256):
        raise IntegrityError(f"upstream's {record.filename} differs from the recorded one")
    allowed = frozenset({("sha256", record.sha256)}) if record.sha256 else frozenset()
    fetch_verified(client, Job(file=fresh, allowed_hashes=allowed), path)
    log.info("re-fetched %s/%s", record.project, record.filename)
