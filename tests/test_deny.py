"""--deny and --deny-file: never mirrored, whatever requires them; the chain when needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from selmirror import deny
from tests.fakeindex import FakeIndex
from tests.test_e2e import on_disk, selmirror


def test_rules_parse_names_and_specifiers() -> None:
    rule = deny.parse_rule("Evil_Pkg <2")
    assert rule.name == "evil-pkg"
    assert str(rule.specifier) == "<2"
    with pytest.raises(deny.BadRule, match="only a name and versions"):
        deny.parse_rule("evil[extra]")
    with pytest.raises(deny.BadRule, match="only a name and versions"):
        deny.parse_rule("evil; sys_platform == 'win32'")
    with pytest.raises(deny.BadRule, match=r"list\.txt:3: 'bad name!' is not NAME\[SPECIFIER\]"):
        deny.parse_file("# malware\nctx==0.2.6\nbad name!\n", "list.txt")


def test_a_denied_version_is_never_mirrored_and_the_resolution_goes_around_it(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    any_index.add_wheel("alpha", "1.0", requires_dist=["beta"])
    any_index.add_wheel("beta", "1.0")
    any_index.add_wheel("beta", "2.0")
    mirror = tmp_path / "simple"
    code, out, err = selmirror(capsys, any_index, mirror, "alpha", "--deny", "beta==2.0")
    assert code == 0, err
    assert on_disk(mirror) >= {"beta/beta-1.0-py3-none-any.whl"}
    assert "beta/beta-2.0-py3-none-any.whl" not in on_disk(mirror)
    assert any_index.downloads("beta-2.0-py3-none-any.whl") == []
    assert "skipped: 1 denied" in out


def test_a_resolution_that_needs_a_denied_project_fails_naming_the_chain(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0", requires_dist=["beta>=1"])
    fake_index.add_wheel("beta", "1.0", requires_dist=["evil-pkg"])
    fake_index.add_wheel("evil-pkg", "0.1")
    deny_list = tmp_path / "deny.txt"
    deny_list.write_text("# known malware\n\nEvil_Pkg\n")
    code, _, err = selmirror(
        capsys, fake_index, tmp_path / "simple", "alpha", "--deny-file", str(deny_list)
    )
    assert code == 7
    assert (
        f"evil-pkg 0.1 is denied by Evil_Pkg ({deny_list}:3); needed through "
        "alpha (from command line) -> alpha 1.0 requires beta>=1 -> beta 1.0 requires evil-pkg"
    ) in err
    assert fake_index.downloads("evil_pkg-0.1-py3-none-any.whl") == []


def test_a_bad_rule_or_deny_file_is_one_line_naming_it(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha", "--deny", "a b")
    assert code == 2
    said = [line for line in err.splitlines() if not line.startswith("20")]  # not log lines
    assert said[0].startswith("error: --deny: 'a b' is not NAME[SPECIFIER]: Expected")
    assert said[1:] == []
    missing = tmp_path / "nope.txt"
    code, _, err = selmirror(
        capsys, fake_index, tmp_path / "m", "alpha", "--deny-file", str(missing)
    )
    assert code == 2
    assert f"error: --deny-file {missing}: No such file or directory" in err
