"""Signals end a run as Ctrl-C does, whatever the threads are doing at that moment.

SIGINT, SIGTERM (systemd stop, ``kill``) and SIGHUP (a closed ssh session) each raise
:class:`Interrupted` in the main thread: the ``finally`` blocks on the way up terminate the
worker processes, remove temporary files and release the lock, and the CLI prints one
``error:`` line and exits 130, 143 or 129 (128 + the signal, as shells report it).

Unwinding cannot be trusted to finish: an interrupt that lands inside a lock another
thread needs (logging's, a pool's) leaves that thread blocked, and Python's exit joins the
pool threads. So the first signal also arms a watchdog: if the process is still alive
:data:`GRACE` seconds later, it removes the temporary paths registered with
:func:`temporary`, says why it ended, and leaves with ``os._exit``. A second signal does
that at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

GRACE = 1.0  # seconds from a signal to a forced exit
HANDLED: dict[int, tuple[int, str]] = {
    signal.SIGINT: (130, "interrupted"),
    signal.SIGTERM: (143, "terminated (SIGTERM)"),
}
if hasattr(signal, "SIGHUP"):  # pragma: no branch - POSIX
    HANDLED[signal.SIGHUP] = (129, "hung up (SIGHUP)")

_temporary: set[Path] = set()
_on_abort: list[Callable[[], None]] = []
_lock = threading.Lock()
_received: int | None = None
_watchdog: threading.Timer | None = None
_said = threading.Event()  # the error line is out


class Interrupted(KeyboardInterrupt):
    """A signal asked the run to end: ``exit_code`` and ``message`` say which."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code, self.message = HANDLED.get(signum, (130, "interrupted"))
        super().__init__(self.message)


def exit_code_of(exc: KeyboardInterrupt) -> tuple[int, str]:
    """The exit code and message of an interrupt (a bare KeyboardInterrupt is Ctrl-C)."""
    if isinstance(exc, Interrupted):
        return exc.exit_code, exc.message
    return 130, "interrupted"


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Within the block, the handled signals raise :class:`Interrupted` (main thread only;
    elsewhere, and on exit, the previous handlers stand)."""
    global _received, _watchdog
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}
    for signum in HANDLED:
        previous[signum] = signal.signal(signum, _on_signal)
    _received, _watchdog = None, None
    _said.clear()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if _watchdog is not None:
            _watchdog.cancel()


def received() -> int | None:
    """The signal that ended this run, if one did."""
    return _received


def aborting() -> bool:
    """Whether a signal is ending this run: nothing should wait for work under way."""
    return _received is not None


@contextlib.contextmanager
def on_abort(fn: Callable[[], None]) -> Iterator[None]:
    """Within the block, a signal calls ``fn`` first thing (e.g. to stop worker processes,
    so that nothing is written after the run began to end)."""
    with _lock:
        _on_abort.append(fn)
    try:
        yield
    finally:
        with _lock:
            _on_abort.remove(fn)


def said() -> None:
    """The CLI printed its error line: a forced exit need not say it again."""
    _said.set()


@contextlib.contextmanager
def temporary(path: Path) -> Iterator[Path]:
    """Register ``path`` (a temp folder or file) for removal if a forced exit comes first."""
    with _lock:
        _temporary.add(path)
    try:
        yield path
    finally:
        with _lock:
            _temporary.discard(path)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received, _watchdog
    if _received is not None:  # a second signal: no more patience
        force_exit(signum)
    _received = signum
    for fn in list(_on_abort):
        with contextlib.suppress(Exception):
            fn()
    _watchdog = threading.Timer(GRACE, force_exit, args=(signum,))
    _watchdog.daemon = True
    _watchdog.start()
    raise Interrupted(signum)


def force_exit(signum: int, *, cleanup: Callable[[Path], None] | None = None) -> None:
    """Remove the registered temporary paths, say why, and end the process now."""
    remove = cleanup or _remove
    with _lock:
        paths = list(_temporary)
    for path in paths:
        remove(path)
    code, message = HANDLED.get(signum, (130, "interrupted"))
    if not _said.is_set():
        with contextlib.suppress(OSError):
            os.write(2, f"error: {message}\n".encode())
    os._exit(code)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
