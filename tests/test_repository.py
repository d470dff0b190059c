"""repository: exploring ahead of the resolver never fails the run."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from selmirror import upstream
from selmirror.errors import UpstreamError
from selmirror.filter import Policy
from selmirror.metadata import CoreMetadata
from selmirror.models import DistFile
from selmirror.repository import Repository, _Job, _speculative
from selmirror.targets import make_targets


def test_a_failing_exploration_callback_prints_no_traceback(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt shuts the pools between a check and a submit: the callback exploring
    ahead raised, and concurrent.futures printed its traceback on stderr."""
    pool = ThreadPoolExecutor(1)
    pool.shutdown()

    def explore(future: Future[int]) -> None:
        pool.submit(int)  # RuntimeError: cannot schedule new futures after shutdown

    monkeypatch.setattr(logging.getLogger("selmirror"), "propagate", True)  # as a run leaves it
    caplog.set_level(logging.DEBUG, logger="selmirror.repository")
    future: Future[int] = Future()
    future.add_done_callback(_speculative(explore))
    future.set_result(1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "not explored ahead: RuntimeError" in caplog.text


def test_what_the_resolver_waits_for_never_waits_behind_exploring() -> None:
    """Exploring ahead queues many reads; the one the resolver asks for runs at once in
    its own thread when no pool thread has started it, and the queue's turn does nothing."""
    pool = ThreadPoolExecutor(1)
    release = threading.Event()
    pool.submit(release.wait, 5)  # exploring work holding the only thread
    runs: list[str] = []

    def work() -> int:
        runs.append(threading.current_thread().name)
        return 42

    job = _Job(work)
    pool.submit(job.run)
    seen: list[int] = []
    job.future.add_done_callback(lambda f: seen.append(f.result()))
    try:
        assert job.result() == 42  # else it waits the 5 s, and runs in the pool's thread
        assert runs == [threading.current_thread().name]
        assert seen == [42]  # whoever waited on the future got the answer
    finally:
        release.set()
        pool.shutdown()
    assert runs == [threading.current_thread().name]  # the pool's turn did nothing


def test_a_job_a_pool_thread_runs_is_waited_for_not_run_twice() -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        started.set()
        release.wait()
        return 7

    job = _Job(work)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(job.run)
        started.wait()
        threading.Timer(0.05, release.set).start()
        assert job.result() == 7
    assert calls == [1]


def test_a_job_failing_in_the_callers_thread_fails_every_waiter() -> None:
    def work() -> int:
        raise UpstreamError("gone")

    job = _Job(work)
    with pytest.raises(UpstreamError, match="gone"):
        job.result()
    assert isinstance(job.future.exception(), UpstreamError)


def test_reads_only_later_targets_need_wait_until_the_resolver_reaches_them(
    fake_index: FakeIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With several targets, exploring ahead reads the first target's files with every
    thread, and the other targets' files with a few, in the background; when the resolver
    first asks for one of those, the rest are moved up to every thread."""
    linux = fake_index.add_wheel("alpha", "1.0", tag="cp311-cp311-manylinux_2_28_x86_64")
    windows = fake_index.add_wheel("alpha", "1.0", tag="cp311-cp311-win_amd64")
    mac = fake_index.add_wheel("alpha", "1.0", tag="cp311-cp311-macosx_11_0_arm64")
    read_by: dict[str, str] = {}
    real_load = Repository._load_metadata

    def load(self: Repository, f: DistFile) -> CoreMetadata:
        read_by[f.filename] = threading.current_thread().name.split("_")[0]
        return real_load(self, f)

    monkeypatch.setattr(Repository, "_load_metadata", load)
    targets = make_targets(["manylinux_2_28_x86_64", "win_amd64", "macosx_13_0_arm64"], ["3.11"])
    with upstream.make_session(4) as session:
        client = upstream.Upstream(session, [fake_index.url])
        repo = Repository(client, targets=targets, policy=Policy(), workers=4, cache_dir=tmp_path)
        release = threading.Event()
        repo._later_pool.submit(release.wait, 10)  # the one later thread is busy
        try:
            repo.explore(canonicalize_name("alpha"), SpecifierSet(), frozenset())
            page = repo.page(canonicalize_name("alpha"))
            files = {f.filename: f for f in page.files}
            repo.metadata_future(files[linux.filename]).result(timeout=10)
            assert read_by == {linux.filename: "meta"}  # the others wait behind the few
            # the resolver reaches the second target: every later read moves up
            assert repo.metadata(files[windows.filename]).dependencies_known
            repo.metadata_future(files[mac.filename]).result(timeout=5)
            assert read_by[windows.filename] in ("MainThread", "meta")
            assert read_by[mac.filename] == "meta"
        finally:
            release.set()
            repo.close()
