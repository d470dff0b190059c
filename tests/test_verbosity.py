"""What a person reads at each verbosity: the story by default, decisions with -v, every
request with -vv, and a failing index as one line, not a line per retry."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeindex import FakeIndex

from selmirror import upstream
from selmirror.cli import main


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


@pytest.mark.parametrize(
    ("flags", "decisions", "requests"),
    [([], False, False), (["-v"], True, False), (["-vv"], True, True), (["-q"], False, False)],
)
def test_each_v_says_more(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    decisions: bool,
    requests: bool,
) -> None:
    fake_index.add_wheel("alpha", "1.0", requires_dist=["beta"])
    fake_index.add_wheel("beta", "1.0")
    args = ["alpha", "--platform", "linux", "--python-version", "3.12", "--processes", "0"]
    code = main([*args, "--index", fake_index.url, "--local-folder", str(tmp_path / "m"), *flags])
    err = capsys.readouterr().err
    assert code == 0, err
    decided = "cp312-manylinux_2_28_x86_64: beta 1.0 (beta-1.0-py3-none-any.whl) for alpha -> beta"
    assert (decided in err) == decisions
    assert (f"GET {fake_index.url}alpha/" in err) == requests
    assert ("INFO" in err) == (flags != ["-q"])


def test_a_failing_index_is_one_line_after_its_retries(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    fake_index.page_status["alpha"] = 503
    code = main(["alpha", "--index", fake_index.url, "--local-folder", str(tmp_path / "m"), "-q"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.splitlines() == [
        f"error: HTTP 503 from {fake_index.url}alpha/ (gave up after retries)"
    ]
