"""The mirror's memory between runs: a corrupt state file is forgotten with a warning,
never the end of a run (issue 10)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from selmirror.state import STATE_DIR, LastRun, PageStore, last_run, remember_run
from selmirror.upstream import RawPage

FOO = NormalizedName("foo")


def test_last_run_round_trip(tmp_path: Path) -> None:
    remember_run(tmp_path, ["Foo", "bar"], fingerprint="f" * 64, summary={"added": 2})
    assert last_run(tmp_path) == LastRun(
        projects=(FOO, NormalizedName("bar")), fingerprint="f" * 64, summary={"added": 2}
    )


def test_no_last_run_is_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert last_run(tmp_path) == LastRun()
    assert caplog.records == []


CORRUPT = [
    pytest.param(b"[" * 100_000, "nested too deeply", id="nested"),
    pytest.param(b'{"projects": ' + b"[" * 100_000, "nested too deeply", id="nested-inside"),
    pytest.param(b"{not json", "Expecting property name", id="not-json"),
    pytest.param(b"\xff\xfe\x00", "", id="not-utf8"),
    pytest.param(b"[]", "not a JSON object", id="list"),
    pytest.param(b'{"projects": "foo"}', "not a list", id="projects-string"),
    pytest.param(b'{"projects": [], "summary": [1]}', "not an object", id="summary-list"),
]


@pytest.mark.parametrize(("data", "why"), CORRUPT)
def test_a_corrupt_last_run_is_forgotten_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, data: bytes, why: str
) -> None:
    path = tmp_path / STATE_DIR / "last-run.json"
    path.parent.mkdir()
    path.write_bytes(data)
    with caplog.at_level(logging.WARNING):
        assert last_run(tmp_path) == LastRun()
    assert f"ignoring {path}: " in caplog.text
    assert why in caplog.text


@pytest.mark.parametrize(
    "summary", [{"added": float("inf")}, {"added": "1" * 5000}, {"added": [1]}, {"added": True}]
)
def test_odd_summary_values_are_dropped(tmp_path: Path, summary: dict[str, object]) -> None:
    path = tmp_path / STATE_DIR / "last-run.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"projects": ["foo", 3, None], "summary": summary}))
    assert last_run(tmp_path) == LastRun(projects=(FOO,))


def test_a_state_path_that_is_a_directory_is_forgotten(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / STATE_DIR / "last-run.json").mkdir(parents=True)
    with caplog.at_level(logging.WARNING):
        assert last_run(tmp_path) == LastRun()
    assert "ignoring" in caplog.text


def test_a_huge_state_file_is_not_read_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("selmirror.state.MAX_STATE_BYTES", 1 << 20)
    path = tmp_path / STATE_DIR / "last-run.json"
    path.parent.mkdir()
    path.write_bytes(b" " * (2 << 20))
    with caplog.at_level(logging.WARNING):
        assert last_run(tmp_path) == LastRun()
    assert "larger than 1 MiB" in caplog.text


def _page(body: bytes = b"{}") -> RawPage:
    return RawPage(body=body, content_type="application/json", etag='"e"', serial="7")


def test_a_stored_page_round_trips(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    store.put(FOO, _page())
    assert store.get(FOO) == _page()


@pytest.mark.parametrize(("data", "why"), CORRUPT[:5])
def test_a_corrupt_stored_page_is_fetched_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, data: bytes, why: str
) -> None:
    store = PageStore(tmp_path)
    store.put(FOO, _page())
    (store.root / "foo.json").write_bytes(data)
    with caplog.at_level(logging.WARNING):
        assert store.get(FOO) is None
    assert "ignoring" in caplog.text
    assert why in caplog.text
    store.put(FOO, _page())  # and the next run stores it again
    assert store.get(FOO) == _page()


def test_odd_types_in_a_stored_head_are_dropped(tmp_path: Path) -> None:
    store = PageStore(tmp_path)
    store.put(FOO, _page())
    head = {
        "sha256": hashlib.sha256(b"{}").hexdigest(),
        "content_type": ["x"],
        "etag": 3,
        "last_modified": {"a": 1},
        "serial": None,
    }
    (store.root / "foo.json").write_text(json.dumps(head))
    assert store.get(FOO) == RawPage(body=b"{}", content_type="")
