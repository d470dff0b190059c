"""Command line: parse arguments, set up output, run, report. With :mod:`terminal`, the
only user of rich.

Every :class:`~selmirror.errors.SelmirrorError` is caught here and shown as one ``error:``
line with its exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from packaging.utils import InvalidName, NormalizedName, canonicalize_name

from selmirror import __version__, cutoff, deny, mirror, report, requirements, signals, upstream
from selmirror.errors import (
    EXIT_CODES,
    InputError,
    OutputError,
    PartialFailure,
    SelmirrorError,
)
from selmirror.filter import Policy
from selmirror.folder import atomic_write
from selmirror.models import RequirementSet
from selmirror.progress import Progress
from selmirror.targets import MATRIX_PLATFORMS, MATRIX_PYTHONS, make_targets, within
from selmirror.urls import redact

log = logging.getLogger("selmirror")

PYPI = "https://pypi.org/simple/"
# a full disk, a read-only file system, a quota, a permission: the output's fault, exit 5
DISK_ERRORS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EIO}
PIPE_CLOSED = 141  # the reader of our output went away: 128 + SIGPIPE, as shells report it
MIRROR_COMMANDS = ("mirror", "sync", "prune")  # share the mirror's options
OTHER_COMMANDS = ("verify", "index", "export", "import", "sbom")


MAX_WORKERS = 64  # parallel streams and processes: more only hurts an index, and the machine
MAX_SECONDS = 86_400.0  # a day: a timeout past that is no timeout


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _workers(text: str) -> int:
    value = _positive(text)
    if value > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WORKERS}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_WORKERS}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_SECONDS:  # nan and inf fail this too
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_SECONDS:g}")
    return value


def _size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.strip().upper().rstrip("IB").rstrip(), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    value = int(float(number) * units[unit]) if number.replace(".", "", 1).isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError("expected a size such as 500M or 20G")
    return value


def _folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(message, hint="see selmirror --help")


def build_parser() -> argparse.ArgumentParser:
    epilog = "exit codes:\n" + "\n".join(f"  {c:>3}  {d}" for c, d in EXIT_CODES.items())
    p = _Parser(
        prog="selmirror",
        description="Mirror exactly the named requirements from a Python package index into "
        "a static simple index that pip and uv install from offline.",
        usage="selmirror [mirror|sync|prune] [REQUIREMENT | FILE ...] [options]\n"
        "       selmirror verify|index|export|import|sbom|lock|serve|publish [options]\n"
        "       (see selmirror help COMMAND)",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="REQUIREMENT | FILE",
        help="a PEP 508 requirement ('numpy==1.26.0', 'requests>=2.31'), legacy 'name=1.0', "
        "or the path of a requirements file",
    )
    src = p.add_argument_group("what to mirror")
    src.add_argument(
        "-r",
        "--requirement",
        action="append",
        default=[],
        metavar="FILE",
        help="a requirements file (repeatable)",
    )
    src.add_argument(
        "-c",
        "--constraint",
        action="append",
        default=[],
        metavar="FILE",
        help="a constraints file: narrows named projects (repeatable)",
    )
    src.add_argument(
        "--pre",
        "--include-prereleases",
        action="store_true",
        dest="pre",
        help="consider prereleases",
    )
    kinds = src.add_mutually_exclusive_group()
    kinds.add_argument("--binary-only", action="store_true", help="wheels only")
    kinds.add_argument("--source-only", action="store_true", help="sdists only")
    versions = src.add_mutually_exclusive_group()
    versions.add_argument(
        "--latest",
        type=_positive,
        default=1,
        metavar="N",
        help="keep the N newest matching versions of each named project (1)",
    )
    versions.add_argument("--all-versions", action="store_true", help="keep every matching version")
    src.add_argument(
        "--exclude-newer",
        metavar="CUTOFF",
        help="a cooldown: only files uploaded before CUTOFF, a date (2024-06-01, the whole "
        "day), a time (2024-06-01T12:00:00Z) or a duration before now (P7D, P2W, PT36H)",
    )
    src.add_argument(
        "--exclude-newer-allow-unknown",
        action="store_true",
        help="with --exclude-newer, take files whose upload time the index does not say",
    )
    src.add_argument(
        "--exclude-newer-package",
        action="append",
        default=[],
        metavar="NAME=CUTOFF",
        help="a project's own cutoff, or NAME=false for none (repeatable); an exact == pin "
        "is exempt unless named here",
    )
    src.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="NAME[SPEC]",
        help="never mirror this project, or these versions of it (evil-pkg, 'urllib3<2'), "
        "whatever requires them; a run that needs one fails and says through what (repeatable)",
    )
    src.add_argument(
        "--deny-file",
        action="append",
        default=[],
        metavar="FILE",
        help="a deny list: one NAME[SPEC] per line, # comments (repeatable)",
    )
    src.add_argument(
        "--no-deps",
        action="store_true",
        help="mirror the named requirements, not their dependencies (nor build requirements)",
    )
    src.add_argument(
        "--no-build-deps",
        action="store_true",
        help="do not mirror what building the sdists a target installs needs",
    )
    src.add_argument(
        "--build-requirement",
        action="append",
        default=[],
        metavar="REQ",
        help="also mirror REQ for every target that builds an sdist, e.g. a backend's "
        "build-time need selmirror cannot see (repeatable)",
    )
    src.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="with a pyproject.toml: also its optional dependencies NAME (repeatable)",
    )
    src.add_argument("--all-extras", action="store_true", help="with a pyproject.toml: every extra")
    src.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="with a pyproject.toml: also its dependency group NAME (repeatable)",
    )
    tgt = p.add_argument_group(
        "targets (the machines to mirror for; none named: every environment of the matrix)"
    )
    tgt.add_argument(
        "--platform",
        "--python-platform",
        action="append",
        default=[],
        metavar="TAG",
        help="a wheel platform tag (manylinux_2_28_x86_64, musllinux_1_2_aarch64, win_amd64, "
        "macosx_11_0_arm64, ...) or a uv platform name (x86_64-manylinux_2_28, "
        "aarch64-apple-darwin, x86_64-pc-windows-msvc, linux, windows, macos); repeatable",
    )
    tgt.add_argument(
        "--python-version", action="append", default=[], metavar="X.Y", help="e.g. 3.11; repeatable"
    )
    tgt.add_argument("--implementation", metavar="cp|pp")
    tgt.add_argument("--abi", action="append", default=[], metavar="ABI", help="repeatable")
    tgt.add_argument(
        "--matrix-platform",
        action="append",
        default=[],
        metavar="TAG",
        help=f"replace the matrix's platforms ({', '.join(MATRIX_PLATFORMS)}); repeatable",
    )
    tgt.add_argument(
        "--matrix-python",
        action="append",
        default=[],
        metavar="X.Y",
        help=f"replace the matrix's Pythons ({', '.join(MATRIX_PYTHONS)}); repeatable",
    )
    net = p.add_argument_group("upstream")
    net.add_argument(
        "-i",
        "--index",
        "--index-url",
        dest="index",
        metavar="URL",
        help=f"simple index to copy from (default {PYPI})",
    )
    net.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="more indexes, asked in order when the first lacks a project",
    )
    net.add_argument(
        "--workers", type=_workers, default=8, metavar="N", help="parallel downloads (8; 1 to 64)"
    )
    net.add_argument(
        "--processes",
        type=_count,
        default=None,
        metavar="N",
        help="processes that fetch and parse project pages and fetch whole files "
        "(default: as many as --workers, on Linux; 0: threads do it all)",
    )
    net.add_argument(
        "--cert",
        metavar="PATH",
        help="the CA certificates (PEM) to trust, instead of the system's trust store",
    )
    net.add_argument(
        "--client-cert",
        metavar="PATH",
        help="a client certificate (PEM, with its private key) for indexes that want one",
    )
    net.add_argument(
        "--max-file-size",
        type=_size,
        default=upstream.DEFAULT_MAX_FILE,
        metavar="SIZE",
        help="the most a file whose size its page does not give may take, e.g. 500M, 20G (10G)",
    )
    net.add_argument(
        "--timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="network timeout in seconds (30)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="a TOML file of options (keys are the long option names)",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--local-folder",
        type=_folder,
        default=Path("simple"),
        metavar="DIR",
        help="the simple root to write (./simple)",
    )
    out.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")
    out.add_argument(
        "--prune",
        action="store_true",
        help="remove files the requirements no longer need (after the sync)",
    )
    out.add_argument(
        "--keep-latest",
        type=_positive,
        metavar="N",
        help="when pruning, keep the N newest versions of each named project",
    )
    out.add_argument(
        "--include-local",
        action="store_true",
        help="when pruning, also remove files placed by hand",
    )
    out.add_argument(
        "--keep-removed",
        action="store_true",
        help="when pruning, keep the files upstream no longer offers (takedowns)",
    )
    out.add_argument(
        "--base-url",
        type=_base_url,
        metavar="URL",
        help="the https URL the mirror is served at (remembered; '' forgets it): pages then "
        "link each file's PEP 740 provenance, which must be an absolute URL",
    )
    out.add_argument(
        "--diff-file",
        type=Path,
        metavar="PATH",
        help="write the paths this run added or changed, one per line",
    )
    out.add_argument("--report", metavar="FILE|-", help="write a JSON report ('-': stdout)")
    out.add_argument(
        "--report-detail",
        choices=("brief", "full"),
        default="brief",
        help="brief: what was chosen, kept and skipped among chosen versions, counts by "
        "reason (default); full: also every file of every version not chosen",
    )
    out.add_argument(
        "--ignore-errors", action="store_true", help="go on past failures (still exits non-zero)"
    )
    out.add_argument(
        "--lock-timeout",
        type=_seconds,
        default=300.0,
        metavar="S",
        help="wait this long for another run on the same folder (300)",
    )
    out.add_argument("-v", "--verbose", action="count", default=0, help="more log lines")
    out.add_argument(
        "-q",
        "--quiet",
        action="count",
        default=0,
        help="fewer log lines; -qq also drops the summary",
    )
    out.add_argument("--version", action="version", version=f"selmirror {__version__}")
    return p


def _split_command(argv: list[str]) -> tuple[str, list[str]]:
    """``(command, its arguments)``; no command word means ``mirror``."""
    if argv and argv[0] in (*MIRROR_COMMANDS, *OTHER_COMMANDS, "serve", "lock", "publish", "help"):
        return argv[0], argv[1:]
    return "mirror", argv


class _LogProgress(Progress):
    """Plain log lines when not on a terminal (cron)."""

    def downloads_start(self, files: int, total_bytes: int) -> None:
        log.info("checking %d file(s), %.1f MB", files, total_bytes / 1e6)

    def file_done(self, filename: str, status: str) -> None:
        log.log(logging.DEBUG if status == "present" else logging.INFO, "%s: %s", status, filename)


def _parse(argv: list[str]) -> argparse.Namespace:
    """The command line over the config file (``--config``), if there is one."""
    parser = build_parser()
    wants = _Parser(add_help=False)
    wants.add_argument("--config", type=_folder)
    chosen, _ = wants.parse_known_args(argv)
    if chosen.config is None:
        args = parser.parse_intermixed_args(argv)
        args.config_requirements = []
        return args
    from selmirror import config

    return config.merge(parser, argv, config.load(chosen.config, parser))


def _on_terminal() -> bool:
    return sys.stderr.isatty()


def _setup_logging(verbosity: int) -> None:
    """0: the run's story; -v: resolution decisions too; -vv: every request; -q: warnings
    and errors; -qq: errors."""
    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
    level = levels.get(max(-2, verbosity), upstream.TRACE)
    handler: logging.Handler
    if _on_terminal():
        from selmirror import terminal  # rich only when there is someone to look at it

        handler = terminal.log_handler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _indexes(args: argparse.Namespace, file_index: str | None, extras: Sequence[str]) -> list[str]:
    main_index = args.index or file_index or PYPI
    if args.index and file_index and file_index != args.index:
        log.warning("a requirements file sets --index-url %s; --index wins", redact(file_index))
    indexes = list(dict.fromkeys([main_index, *args.extra_index_url, *extras]))
    for url in indexes:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"index URL {redact(url)!r} is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1"):
            log.warning("index %s is plain http: anyone on the path can alter it", redact(url))
    return indexes


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Run selmirror; return the exit code."""
    with signals.handled():
        try:
            return _main(argv, stdout or sys.stdout)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, SIGHUP
            code, message = signals.exit_code_of(exc)
            with contextlib.suppress(OSError):
                print(f"error: {message}", file=sys.stderr)
            signals.said()
            return code
        except BrokenPipeError:
            # the reader went away (| head): not a failure of ours, and nothing more to say
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return PIPE_CLOSED


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    try:
        command, rest = _split_command(list(argv if argv is not None else sys.argv[1:]))
        if command == "help":  # selmirror help [COMMAND]: what --help says
            return _main([*rest[:1], "--help"], out)
        if command == "serve":
            from selmirror.serve import command as serve

            args = serve.parse(rest)
            _setup_logging(args.verbose - args.quiet)
            return serve.run(args, out)
        if command == "publish":
            from selmirror.publish import command as publish

            args = publish.parse(rest)
            _setup_logging(args.verbose - args.quiet)
            return publish.run(args, out)
        if command == "lock":
            from selmirror.lock import command as lock

            args = lock.parse(rest)
            _setup_logging(args.verbose - args.quiet)
            return lock.run(args, out)
        if command in OTHER_COMMANDS:
            from selmirror import commands  # only their users pay for tarfile and the rest

            args = commands.parse(command, rest)
            _setup_logging(args.verbose - args.quiet)
            return commands.run(args, out)
        args = _parse(rest)
        args.command = command
        _setup_logging(args.verbose - args.quiet)
        return _mirror(args, out)
    except SelmirrorError as exc:
        return _said(exc)
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise  # a bug: keep its traceback
        # the last line of defence: every write should map its own OSError where it happens
        where = f" {exc.filename}" if exc.filename else ""
        return _said(OutputError(f"cannot write{where}: {exc.strerror}"))


def _said(exc: SelmirrorError) -> int:
    print(f"error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {exc.hint}", file=sys.stderr)
    return exc.exit_code


def _write_report(where: str, document: dict[str, Any], out: TextIO) -> None:
    """``--report``: to stdout for ``-``, else to that file (replacing the last run's)."""
    if where == "-":
        print(report.dumps(document, indent=2 if out.isatty() else None), file=out)
    else:
        try:
            atomic_write(Path(where), report.dumps(document).encode())
        except OSError as exc:
            raise OutputError(f"cannot write the report {where}: {exc.strerror}") from None


def _mirror(args: argparse.Namespace, out: TextIO) -> int:
    result: mirror.RunResult | None = None
    indexes: list[str] = []
    try:
        upstream.configure_tls(args.cert, args.client_cert)
        with upstream.make_session(args.workers) as session:
            fetch = upstream.Upstream(session, (), timeout=args.timeout).document
            reqs, indexes, options = _prepare(args, fetch)
            result = mirror.RunResult(requirements=reqs, options=options)
            client = upstream.Upstream(
                session, indexes, timeout=args.timeout, max_file_size=args.max_file_size
            )
            mirror.run(reqs, client, options, _progress(args), result)
    except SelmirrorError as exc:
        # a failed run still writes its report, so the last run's never stands for this one
        if args.report:
            document = (
                report.failed(exc)
                if result is None
                else report.build(result, tuple(indexes), full=args.report_detail == "full")
            )
            with contextlib.suppress(SelmirrorError):  # the run's own error is the one to tell
                if args.report == "-" or _problem(Path(args.report)) is None:
                    _write_report(args.report, document, out)
        raise
    lines = report.summary(result)
    if args.report:  # a night's document lists every file: built only when asked for
        document = report.build(result, tuple(indexes), full=args.report_detail == "full")
        _write_report(args.report, document, out)
    if args.report == "-":
        for line in lines:
            print(line, file=sys.stderr)
    elif args.quiet < 2:
        print("\n".join(lines), file=out)
    if result.errors:
        raise PartialFailure(f"{len(result.errors)} error(s); what succeeded was written")
    return 0


def _cutoff(args: argparse.Namespace, reqs: RequirementSet) -> cutoff.Cutoff | None:
    """``--exclude-newer`` and its exemptions: per project, and exact pins by default."""
    now = datetime.now(timezone.utc)

    def when(text: str, option: str) -> datetime:
        try:
            return cutoff.parse(text, now)
        except cutoff.BadCutoff as exc:
            raise InputError(f"{option}: {exc}") from None

    default = None if args.exclude_newer is None else when(args.exclude_newer, "--exclude-newer")
    packages: dict[NormalizedName, datetime | None] = {}
    if default is not None:
        for root in reqs.requirements:
            specs = list(root.requirement.specifier)
            if (
                len(specs) == 1
                and specs[0].operator in ("==", "===")
                and "*" not in specs[0].version
            ):
                packages[root.name] = None  # a pin someone wrote: their decision, not ours
    for item in args.exclude_newer_package:
        name, sep, value = item.partition("=")
        try:
            project = canonicalize_name(name.strip(), validate=True)
        except InvalidName:
            project = None
        if not sep or project is None:
            raise InputError(f"--exclude-newer-package {item!r}: write NAME=CUTOFF or NAME=false")
        off = value.strip().lower() == "false"
        packages[project] = None if off else when(value, f"--exclude-newer-package {name.strip()}")
    return cutoff.Cutoff.build(
        default, allow_unknown=args.exclude_newer_allow_unknown, packages=packages
    )


def _base_url(text: str) -> str:
    """``--base-url``: an https URL, with the trailing slash pages are joined to ('' too)."""
    if text == "":
        return text
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(
            "an https URL such as https://mirror.example/simple/ (PEP 740 wants https)"
        )
    if not text.isprintable() or " " in text or len(text) > 1024:
        raise argparse.ArgumentTypeError("spaces, control characters, or longer than 1024")
    return text if text.endswith("/") else text + "/"


def _deny(args: argparse.Namespace) -> tuple[deny.Rule, ...]:
    """``--deny`` rules, then those of each ``--deny-file``."""
    try:
        rules = [deny.parse_rule(text) for text in args.deny]
        for name in args.deny_file:
            try:
                rules += deny.read_file(Path(name))
            except OSError as exc:
                raise InputError(f"--deny-file {name}: {exc.strerror}") from None
    except deny.BadRule as exc:
        raise InputError(str(exc)) from None
    return tuple(rules)


def _check_writable(option: str, path: Path) -> None:
    """Before any work: a report or diff file that cannot be written fails now, not after
    the mirror was written."""
    if (problem := _problem(path)) is not None:
        raise OutputError(f"{option} {path}: {problem}")


def _problem(path: Path) -> str | None:
    if path.is_dir():
        return "is a folder"
    if not path.parent.is_dir():
        return f"no such folder {path.parent}"
    if not os.access(path.parent, os.W_OK):
        return f"cannot write in {path.parent}"
    return None


def _progress(args: argparse.Namespace) -> Progress:
    if _on_terminal() and args.quiet == 0:
        from selmirror import terminal

        return terminal.BarProgress()
    return _LogProgress()


def _prepare(
    args: argparse.Namespace, fetch: Callable[[str], bytes]
) -> tuple[RequirementSet, list[str], mirror.Options]:
    """The requirements, indexes and options of a mirror run, from the arguments."""
    reqs = requirements.collect(
        args.inputs,
        args.requirement,
        args.constraint,
        cwd=Path.cwd(),
        fetch=fetch,
        project=requirements.ProjectChoice(
            extras=tuple(args.extra), all_extras=args.all_extras, groups=tuple(args.group)
        ),
    )
    inline = [requirements.parse_requirement(r, f"{args.config}") for r in args.config_requirements]
    reqs = dataclasses.replace(reqs, requirements=(*inline, *reqs.requirements))
    if not reqs.requirements:
        raise InputError("nothing to mirror: name a requirement or a requirements file")
    for option, where in (("--report", args.report), ("--diff-file", args.diff_file)):
        if where is not None and str(where) != "-":
            _check_writable(option, Path(where))
    indexes = _indexes(args, reqs.index_url, reqs.extra_index_urls)
    named = bool(args.platform or args.python_version or args.implementation or args.abi)
    targets = within(
        make_targets(
            args.platform,
            args.python_version,
            args.implementation,
            args.abi,
            matrix_platforms=args.matrix_platform or MATRIX_PLATFORMS,
            matrix_pythons=args.matrix_python or MATRIX_PYTHONS,
        ),
        reqs.requires_python,
    )
    if not named:
        log.info(
            "no target named: mirroring every file of each chosen version, for the default "
            "matrix of %d targets (CPython %s on %s); name yours with --platform and "
            "--python-version",
            len(targets),
            ", ".join(args.matrix_python or MATRIX_PYTHONS),
            ", ".join(args.matrix_platform or MATRIX_PLATFORMS),
        )
    options = mirror.Options(
        local_folder=args.local_folder,
        targets=targets,
        all_files=not named,
        optional_targets=not (args.platform and args.python_version),
        follow_deps=not args.no_deps,
        build_deps=not (args.no_deps or args.no_build_deps),
        build_requirements=tuple(
            str(requirements.parse_requirement(r, "--build-requirement").requirement)
            for r in args.build_requirement
        ),
        policy=Policy(
            binary_only=args.binary_only,
            source_only=args.source_only,
            prereleases=args.pre or reqs.pre,
            latest=None if args.all_versions else args.latest,
            cutoff=_cutoff(args, reqs),
            deny=_deny(args),
        ),
        workers=args.workers,
        processes=args.workers if args.processes is None else args.processes,
        dry_run=args.dry_run,
        download=args.command != "prune",
        detailed=bool(args.report),
        prune=args.prune or args.command == "prune",
        keep_latest=args.keep_latest,
        include_local=args.include_local,
        keep_removed=args.keep_removed,
        base_url=args.base_url,
        diff_file=args.diff_file,
        keep_going=args.ignore_errors,
        lock_timeout=args.lock_timeout,
    )
    return reqs, indexes, options


def run() -> None:
    """Console-script entry point."""
    code = main()
    if signals.received() is not None:
        # what had to be cleaned up was, on the way out of main(); leave without joining
        # threads a signal may have left blocked on a lock (interpreter exit would)
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
