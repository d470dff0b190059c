"""Worker processes: the network and the parsing, away from the resolver's GIL.

A thread that reads from the network needs the GIL at every TLS record. Beside the resolver
or a JSON parse it gets it back only once per switch interval: measured here, a download ran
at 457 MB/s alone and at 5 MB/s beside one busy Python thread. So where fork is safe
(Linux), a run forks worker processes at its start, before any thread, connection or lock
exists, and hands them whole-file downloads and project pages (fetched and parsed: the
parent gets the parsed page back, and never holds the JSON).

A worker has its own HTTP session on the same indexes. What it logs comes back with its
answer and is logged in the parent, in order. A task whose worker died is done in the
calling thread instead, with a warning.

A large answer (a parsed page of a big project) comes back through a file rather than the
result pipe: the parent reads a pipe 64 KiB at a time, taking the GIL back after each read,
and beside a busy resolver every one of those waits a switch interval (measured: 30 MB in
2.4 s through the pipe, 0.15 s through files).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

from selmirror import signals
from selmirror.upstream import Upstream, make_session, tls_context

log = logging.getLogger(__name__)
T = TypeVar("T")

SPILL_BYTES = 256 << 10  # answers larger than this come back through a file
SPILL_PREFIX = "selmirror-answers-"  # then the run's pid: a later run can tell it is gone
PR_SET_PDEATHSIG = 1  # linux/prctl.h

_pool: ProcessPoolExecutor | None = None
_worker_upstream: Upstream | None = None  # in a worker: its own session


def can_fork() -> bool:
    """Worker processes are used on Linux only: fork is safe there, and cheap."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def active() -> bool:
    """Whether tasks go to worker processes right now."""
    return _pool is not None


@contextlib.contextmanager
def worker_processes(count: int, upstream: Upstream) -> Iterator[None]:
    """Within the block, :func:`call` runs tasks in ``count`` worker processes.

    Must be entered before any thread starts. ``count`` 0, a platform without a safe fork,
    or a fork that fails: tasks run in the calling threads.
    """
    global _pool
    if count <= 0 or not can_fork() or _pool is not None:
        yield
        return
    global _pool_forks
    tls_context()  # loaded once here, inherited by every worker (about 20 ms each otherwise)
    _guard_forks()
    remove_stale_spills()
    spill: Path | None = None
    _pool_forks = True
    try:
        spill = Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-"))
        pool = ProcessPoolExecutor(
            count,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(upstream, spill, os.getpid()),  # inherited by the fork, not pickled
        )
        pool.submit(int)  # forks every worker now, while this is the only thread
    except OSError as exc:
        log.debug("no worker processes (%s); working in threads", exc)
        _pool_forks = False
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)
        yield
        return
    _pool = pool
    finished = False
    try:
        with signals.temporary(spill), signals.on_abort(lambda: _terminate(pool)):
            yield
        finished = True
    finally:
        _pool = None
        _pool_forks = False
        if not finished:  # an error or Ctrl-C: tasks under way are not waited for
            _terminate(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(spill, ignore_errors=True)


def stop() -> None:
    """Stop the worker processes now (the run is failing): nothing they do is waited for,
    and they write nothing more."""
    if _pool is not None:
        _terminate(_pool)


def _terminate(pool: ProcessPoolExecutor) -> None:
    for process in list(getattr(pool, "_processes", {}).values()):
        process.terminate()


class Stopped(Exception):
    """The run is ending: the worker that had this task was stopped on purpose."""


def call(fn: Callable[..., T], upstream: Upstream, *args: Any, what: str) -> T:
    """``fn(upstream, *args)``, in a worker process (with its own upstream session) when
    they run, else here. ``fn`` and the arguments must pickle; ``what`` names the task in
    the warning when its worker dies (``"downloading x.whl"``)."""
    pool = _pool
    if pool is not None:
        try:
            answer = _received(pool.submit(_run, fn, args).result())
        except BrokenProcessPool:
            if signals.aborting():  # stopped on purpose: do nothing more
                raise Stopped(what) from None
            log.warning("a worker process died; %s here", what)
        else:
            for record in answer.records:
                logging.getLogger(record.name).handle(record)
            if answer.error is not None:
                raise answer.error
            return answer.result  # type: ignore[no-any-return]
    return fn(upstream, *args)


@dataclass
class _Answer:
    result: Any = None
    error: Exception | None = None
    records: list[logging.LogRecord] = field(default_factory=list)


class _Keep(logging.Handler):
    """Keeps a worker's log records, made picklable, for the parent to log."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg = record.getMessage()
        record.args = None
        record.exc_info = record.exc_text = record.stack_info = None
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        records, self.records = self.records, []
        return records


_kept = _Keep()
_spill: Path | None = None  # in a worker: where large answers go
_parent = 0  # in a worker: the run's process


def _received(sent: _Answer | Path) -> _Answer:
    if isinstance(sent, _Answer):
        return sent
    try:
        with sent.open("rb") as f:  # not read whole first: a page is not held twice
            return pickle.load(f)  # type: ignore[no-any-return]  # noqa: S301 - our own
    finally:
        sent.unlink()


def remove_stale_spills() -> None:
    """Remove the answer folders of runs that are gone (a ``kill -9`` leaves them, with
    pickled pages inside): those whose process no longer exists, or, from before their
    name carried it, older than a day."""
    for folder in Path(tempfile.gettempdir()).glob(SPILL_PREFIX + "*"):
        owner = folder.name.removeprefix(SPILL_PREFIX).split("-", 1)[0]
        try:
            if folder.is_symlink() or folder.stat().st_uid != os.getuid():
                continue
            if owner.isdigit():
                if _alive(int(owner)):
                    continue
            elif time.time() - folder.stat().st_mtime < 86_400:
                continue
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, someone else's
    return True


def _die_with(parent: int) -> None:
    """End this worker when ``parent`` does, whatever kills it (``kill -9``, the OOM killer):
    Linux's parent-death signal, and a check for a parent gone before it was set."""
    with contextlib.suppress(OSError, AttributeError):
        libc = _libc()
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _check_parent(parent)


def _check_parent(parent: int) -> None:
    if os.getppid() != parent:  # orphaned: never write anything more
        os._exit(1)


_ENDING = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s)
_fork_mask = threading.local()  # the forking thread's signal mask, while it forks
_forks_guarded = False
_pool_forks = False  # while a pool may fork: forks are guarded


def _guard_forks() -> None:
    """While worker processes are in use, a fork of this process runs none of the run's
    own signal handlers.

    Workers fork on demand, in whichever thread submits. Between the fork and the
    worker's initializer, a signal (the run ending its workers with SIGTERM) used to run
    the run's handler in the child, which printed a traceback from the middle of
    ``random``'s after-fork reseeding and the run's "error:" line. The forking thread now
    blocks the signals that end a run across the fork; the child sets a worker's own
    handlers first and only then lets them in, pending ones included.
    """
    global _forks_guarded
    if _forks_guarded:
        return
    _forks_guarded = True
    os.register_at_fork(
        before=_block_ending_signals,
        after_in_parent=_restore_signal_mask,
        after_in_child=_become_worker_signals,
    )


class _SigSet(ctypes.Structure):
    _fields_ = [("bits", ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong))))]


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _block_ending_signals() -> None:
    """Block the signals that end a run, in this (the forking) thread. Through libc, not
    ``signal.pthread_sigmask``: that runs pending handlers, and a handler raising inside
    an at-fork hook is printed as a traceback and otherwise lost."""
    if not _pool_forks:
        return
    libc = _libc()
    ending, saved = _SigSet(), _SigSet()
    libc.sigemptyset(ctypes.byref(ending))
    for signum in _ENDING:
        libc.sigaddset(ctypes.byref(ending), int(signum))
    if libc.pthread_sigmask(signal.SIG_BLOCK, ctypes.byref(ending), ctypes.byref(saved)) == 0:
        _fork_mask.saved = saved


def _restore_signal_mask() -> None:
    """Let them in again; a pending one is then handled when Python next looks (see
    below when that is still here)."""
    saved = getattr(_fork_mask, "saved", None)
    _fork_mask.saved = None
    if saved is None:
        return
    try:
        _libc().pthread_sigmask(signal.SIG_SETMASK, ctypes.byref(saved), None)
    except signals.Interrupted as exc:
        # the signal that waited for the fork is handled as soon as Python looks, which
        # can be here, still inside the at-fork hook, where an exception is printed as a
        # traceback and lost: end the run as a second signal would, cleaning up first
        signals.force_exit(exc.signum)


def _become_worker_signals() -> None:
    if getattr(_fork_mask, "saved", None) is not None:
        _worker_signals()
        _restore_signal_mask()


def _worker_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    for signum in _ENDING[1:]:  # the parent's handlers do not belong here: die at once
        signal.signal(signum, signal.SIG_DFL)


def _start_worker(upstream: Upstream, spill: Path, parent: int) -> None:
    global _worker_upstream, _spill, _parent
    _die_with(parent)
    _spill, _parent = spill, parent
    _worker_signals()  # already so after a guarded fork
    # every record once, to be handled in the parent; levels stay as the parent set them
    logging.getLogger().handlers[:] = [_kept]
    ours = logging.getLogger("selmirror")
    ours.handlers[:] = [_kept]
    ours.propagate = False
    _worker_upstream = Upstream(
        make_session(1),
        upstream.indexes,
        timeout=upstream.timeout,
        retrying=upstream.retrying,
        max_file_size=upstream.max_file_size,
    )


def _portable(exc: Exception) -> Exception:
    """``exc``, or if it would not come back whole from a pickle (an exception class whose
    ``__init__`` wants other arguments than its message), a RuntimeError saying what it was:
    the parent's executor treats a result it cannot unpickle as a broken pool."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    except Exception:  # noqa: BLE001 - whatever went wrong, the message survives
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _run(fn: Callable[..., Any], args: tuple[Any, ...]) -> _Answer | Path:
    assert _worker_upstream is not None, "initializer ran"
    _check_parent(_parent)
    _kept.take()
    try:
        answer = _Answer(result=fn(_worker_upstream, *args))
    except Exception as exc:  # noqa: BLE001 - raised again in the parent, after the logs
        answer = _Answer(error=_portable(exc))
    answer.records = _kept.take()
    if _spill is None:
        return answer
    spilled = _Spill(_spill)
    try:
        with spilled:
            pickle.dump(answer, spilled, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:  # no room for it: through the pipe, slower but whole
        with contextlib.suppress(OSError):
            os.unlink(spilled.name)
        return answer
    return Path(spilled.name) if spilled.name else answer


class _Spill:
    """Where a worker pickles an answer: in memory while it is small (then it goes through
    the pipe), else into a file of the spill folder, written as it is pickled: a page of
    100 MiB is never a second 100 MiB of pickled bytes in the worker."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = ""
        self._small = bytearray()
        self._file: IO[bytes] | None = None

    def write(self, data: bytes) -> int:
        if self._file is None:
            if len(self._small) + len(data) <= SPILL_BYTES:
                self._small += data
                return len(data)
            fd, self.name = tempfile.mkstemp(dir=self.folder)
            self._file = os.fdopen(fd, "wb")
            self._file.write(self._small)
            self._small = bytearray()
        return self._file.write(data)  # a large bytes object comes whole: not copied

    def __enter__(self) -> _Spill:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
