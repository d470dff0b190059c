"""Option values that cannot be right: one ``error:`` line each, before any work.

None of these may build a tag list for minutes, fork 200 processes, wait for ever, read
``/dev/zero``, or fail with a traceback after the mirror was written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakeindex import FakeIndex

from selmirror.cli import main


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--timeout", "inf"], 2, "argument --timeout: must be more than 0 and at most 86400"),
        (["--timeout", "nan"], 2, "argument --timeout: must be more than 0 and at most 86400"),
        (["--lock-timeout", "nan"], 2, "argument --lock-timeout: must be more than 0"),
        (["--workers", "200"], 2, "argument --workers: must be at most 64"),
        (["--processes", "200"], 2, "argument --processes: must be 0 to 64"),
        (["--local-folder", ""], 2, "argument --local-folder: must not be empty"),
        (["--config"], 2, "argument --config: expected one argument"),
        (
            ["--platform", "manylinux_2_9999999_x86_64"],
            2,
            "--platform 'manylinux_2_9999999_x86_64': a version past 99 is not real",
        ),
        (
            ["--platform", "macosx_99999_0_arm64"],
            2,
            "--platform 'macosx_99999_0_arm64': a version past 99 is not real",
        ),
        (
            ["--python-version", "3.3000000"],
            2,
            "--python-version '3.3000000': expected X.Y or X.Y.Z, e.g. 3.11",
        ),
        (["--report", "{tmp}"], 5, "--report {tmp}: is a folder"),
        (["--report", "{tmp}/no/such/r.json"], 5, "--report {tmp}/no/such/r.json: no such folder"),
        (["--diff-file", "{tmp}/none/d.txt"], 5, "--diff-file {tmp}/none/d.txt: no such folder"),
    ],
)
def test_bad_option_values_are_one_line_before_any_work(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    mirror = tmp_path / "m"
    got = main(["alpha", "--index", fake_index.url, "--local-folder", str(mirror), *args])
    err = capsys.readouterr().err
    assert got == code, err
    first = err.splitlines()[0]
    assert first.startswith("error: " + message.replace("{tmp}", str(tmp_path))), err
    assert "Traceback" not in err
    assert not fake_index.requests  # nothing was asked of the index
    assert not mirror.exists()


def test_a_very_long_positional_is_a_requirement_not_a_crash(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "a" * 300  # longer than a file name may be
    code = main([name, "--index", fake_index.url, "--local-folder", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 3
    assert err.splitlines()[-1] == f"error: project {name} not found on {fake_index.url}"
