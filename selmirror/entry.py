"""The ``selmirror`` command: signals handled from the first moment, before any import.

Importing the CLI takes a few tenths of a second; an interrupt then must still end in one
line, not a traceback through the import machinery. Nothing needs cleaning up yet, so the
early handler just says so and leaves; the CLI installs its own when it starts.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

_EARLY: dict[int, tuple[int, str]] = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (143, "terminated (SIGTERM)"),
}
if hasattr(signal, "SIGHUP"):  # pragma: no branch - POSIX
    _EARLY[signal.SIGHUP] = (129, "hung up (SIGHUP)")


def _early(signum: int, frame: FrameType | None) -> None:
    code, message = _EARLY[signum]
    os.write(2, f"error: {message}\n".encode())
    os._exit(code)


def run() -> None:
    """Console-script entry point."""
    for signum in _EARLY:
        signal.signal(signum, _early)
    from selmirror.cli import run as cli_run

    cli_run()
    sys.exit(0)  # pragma: no cover - cli_run exits
