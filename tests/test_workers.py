"""Worker processes: tasks run in forked processes, their logs and errors come back."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import tempfile
from pathlib import Path

import pytest

from selmirror import workers
from selmirror.errors import UpstreamError
from selmirror.upstream import Upstream, make_session

needs_fork = pytest.mark.skipif(not workers.can_fork(), reason="worker processes need fork")
INDEX = "http://127.0.0.1:9/simple/"


@pytest.fixture
def upstream() -> Upstream:
    return Upstream(make_session(1), [INDEX], timeout=7.0)


def where(upstream: Upstream, tag: str) -> tuple[int, tuple[str, ...], float, str]:
    return os.getpid(), upstream.indexes, upstream.timeout, tag


def warn_then(upstream: Upstream, fail: bool) -> str:
    logging.getLogger("selmirror.test").warning("from pid %d", os.getpid())
    if fail:
        raise UpstreamError("it broke", hint="try again")
    return "done"


class Awkward(Exception):
    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"HTTP {status} from {url}")


def raise_awkward(upstream: Upstream) -> None:
    raise Awkward("https://x.example/", 503)


def die_unless_in(upstream: Upstream, parent: int) -> int:
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def test_without_worker_processes_a_task_runs_here(upstream: Upstream) -> None:
    assert workers.call(where, upstream, "x", what="x") == (os.getpid(), (INDEX,), 7.0, "x")


@needs_fork
def test_a_task_runs_in_a_worker_with_an_upstream_like_the_parents(upstream: Upstream) -> None:
    with workers.worker_processes(2, upstream):
        assert workers.active()
        pid, indexes, timeout, tag = workers.call(where, upstream, "y", what="y")
    assert not workers.active()
    assert pid != os.getpid()
    assert (indexes, timeout, tag) == ((INDEX,), 7.0, "y")


@needs_fork
@pytest.mark.parametrize("fail", [False, True])
def test_a_workers_logs_and_errors_come_back_to_the_parent(
    upstream: Upstream, caplog: pytest.LogCaptureFixture, fail: bool
) -> None:
    caplog.set_level(logging.WARNING, logger="selmirror")
    with workers.worker_processes(1, upstream):
        if fail:
            with pytest.raises(UpstreamError, match="it broke") as raised:
                workers.call(warn_then, upstream, True, what="z")
            assert raised.value.hint == "try again"
        else:
            assert workers.call(warn_then, upstream, False, what="z") == "done"
    (record,) = [r for r in caplog.records if r.name == "selmirror.test"]
    assert record.getMessage().startswith("from pid ")
    assert record.getMessage() != f"from pid {os.getpid()}"


@needs_fork
def test_a_task_whose_worker_dies_is_done_here(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    with workers.worker_processes(1, upstream):
        assert workers.call(die_unless_in, upstream, os.getpid(), what="dying") == os.getpid()
    assert "a worker process died; dying here" in caplog.text


def test_no_processes_asked_for_means_none(upstream: Upstream) -> None:
    with workers.worker_processes(0, upstream):
        assert not workers.active()


def big(upstream: Upstream, size: int) -> bytes:
    return bytes(range(256)) * (size // 256)


@needs_fork
def test_a_large_answer_comes_back_whole_through_a_file_that_does_not_stay(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    received = []
    real = workers._received

    def recording(sent: object) -> object:
        received.append(type(sent))
        return real(sent)  # type: ignore[arg-type]

    monkeypatch.setattr(workers, "_received", recording)
    with workers.worker_processes(2, upstream):
        (spill,) = tmp_path.iterdir()
        answers = [workers.call(big, upstream, n, what="big") for n in (256, 4 << 20, 8 << 20)]
        assert list(spill.iterdir()) == []
    assert answers == [big(upstream, n) for n in (256, 4 << 20, 8 << 20)]
    assert [issubclass(t, Path) for t in received] == [False, True, True]
    assert list(tmp_path.iterdir()) == []


@needs_fork
def test_an_error_that_cannot_be_unpickled_arrives_as_its_message(upstream: Upstream) -> None:
    """Unpickling ``Awkward`` would fail in the parent, and the executor would call the
    pool broken; the worker sends its message instead, and the pool goes on."""
    with workers.worker_processes(1, upstream):
        with pytest.raises(RuntimeError, match=r"^Awkward: HTTP 503 from https://x\.example/$"):
            workers.call(raise_awkward, upstream, what="awkward")
        assert workers.call(where, upstream, "after", what="after")[0] != os.getpid()


@needs_fork
def test_a_large_answer_comes_back_through_the_pipe_when_no_file_can_be_written(
    upstream: Upstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with workers.worker_processes(1, upstream):
        (spill,) = tmp_path.iterdir()
        spill.rmdir()  # the workers' writes there now fail
        assert workers.call(big, upstream, 1 << 20, what="big") == big(upstream, 1 << 20)


def test_an_answer_is_pickled_into_memory_while_small_then_into_a_file(tmp_path: Path) -> None:
    small = {"a": b"x" * 100}
    spilled = workers._Spill(tmp_path)
    with spilled:
        pickle.dump(small, spilled, protocol=pickle.HIGHEST_PROTOCOL)
    assert spilled.name == ""
    assert list(tmp_path.iterdir()) == []

    large = {"page": b"y" * (workers.SPILL_BYTES * 3), "spans": list(range(1000))}
    spilled = workers._Spill(tmp_path)
    with spilled:
        pickle.dump(large, spilled, protocol=pickle.HIGHEST_PROTOCOL)
    assert Path(spilled.name).parent == tmp_path
    assert workers._received(Path(spilled.name)) == large
    assert list(tmp_path.iterdir()) == []  # read once, then gone


@needs_fork
def test_a_fork_while_workers_are_in_use_runs_none_of_the_runs_handlers(
    upstream: Upstream,
) -> None:
    """A worker forks on demand; until its initializer ran, a SIGTERM from the run ending
    it ran the run's own handler in the child (a traceback, and the run's error line)."""

    def runs_handler(signum: int, frame: object) -> None:
        raise AssertionError("the run's handler ran")

    previous = signal.signal(signal.SIGTERM, runs_handler)
    try:
        with workers.worker_processes(1, upstream):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child: report, and leave at once
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
                seen = (
                    signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
                    signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
                    signal.SIGTERM in blocked,
                )
                os.write(write, repr(seen).encode())
                os._exit(0)
            os.close(write)
            with os.fdopen(read) as answer:
                seen = answer.read()
            os.waitpid(pid, 0)
            assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
        assert seen == "(True, True, False)"
        assert signal.getsignal(signal.SIGTERM) is runs_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_signal_let_in_by_the_fork_hook_ends_the_run_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The signal that waited for a fork is handled as the mask is restored, still inside
    the at-fork hook, where a raised exception would be printed and lost."""
    from selmirror import signals

    class Libc:
        def pthread_sigmask(self, *args: object) -> int:
            raise signals.Interrupted(signal.SIGINT)  # as the handler does, there

    exits: list[int] = []
    monkeypatch.setattr(workers, "_libc", Libc)
    monkeypatch.setattr(signals, "force_exit", exits.append)
    workers._fork_mask.saved = workers._SigSet()
    workers._restore_signal_mask()
    assert exits == [signal.SIGINT]
    assert workers._fork_mask.saved is None
