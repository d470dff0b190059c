"""repository: exploring ahead of the resolver never fails the run."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from selmirror.repository import _speculative


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
