"""The one error hierarchy of selmirror; each class carries its exit code.

The CLI catches :class:`SelmirrorError` in one place and prints one ``error:`` line.
Anything else that escapes is a bug and shows its traceback.
"""

from __future__ import annotations


class SelmirrorError(Exception):
    """Base class: a failure the user can act on, described in one line."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InputError(SelmirrorError):
    """Bad input: arguments, requirement strings, requirements files."""

    exit_code = 2


class UpstreamError(SelmirrorError):
    """The upstream index failed, refused, or sent something unusable."""

    exit_code = 3


class ProjectNotFound(UpstreamError):
    """The index answered 404 for a project page."""


class IntegrityError(SelmirrorError):
    """A downloaded file (or metadata file) does not match its expected hash or size."""

    exit_code = 4


class OutputError(SelmirrorError):
    """The local folder cannot be written, or another run holds its lock."""

    exit_code = 5


class Locked(OutputError):
    """Another run holds the local folder's lock, past the time given to wait for it."""


class PartialFailure(SelmirrorError):
    """``--ignore-errors`` went on past failures; what succeeded was written."""

    exit_code = 6


class ResolutionFailed(SelmirrorError):
    """No set of versions satisfies the requirements for a target (a conflict, or no
    version with a file for it)."""

    exit_code = 7


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error (a bug: please report it with the traceback)",
    InputError.exit_code: "bad input: arguments, requirements or requirements files",
    UpstreamError.exit_code: "upstream: network failure, project not found, unusable page",
    IntegrityError.exit_code: "integrity: a file failed its hash or size check",
    OutputError.exit_code: "output: the local folder cannot be written or is locked",
    PartialFailure.exit_code: "partial failure: --ignore-errors went on past errors",
    ResolutionFailed.exit_code: "resolution: no versions satisfy the requirements for a target",
    129: "hung up (SIGHUP: the terminal or ssh session closed)",
    130: "interrupted (Ctrl-C, SIGINT)",
    141: "the reader of the output went away (a closed pipe, as in '| head')",
    143: "terminated (SIGTERM: kill, systemd stop)",
}
