"""The config file: every option by its long name, paths relative to the file, the command
line on top, and clear errors naming the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from selmirror.cli import _parse
from selmirror.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mirror.toml"


def test_the_shipped_example_reads() -> None:
    args = _parse(["--config", str(EXAMPLE)])
    assert args.config_requirements == ["requests>=2.31,<3", "click==8.1.7"]
    assert args.requirement == [str(ROOT / "examples" / "../requirements-example.txt")]
    assert args.local_folder == ROOT / "examples" / "../simple"
    assert args.platform == ["manylinux_2_28_x86_64", "win_amd64", "macosx_13_0_arm64"]
    assert args.python_version == ["3.11", "3.12"]
    assert args.workers == 8
    assert args.timeout == 30.0
    assert args.binary_only is False


def test_paths_are_relative_to_the_file_and_typed_as_on_the_command_line(tmp_path: Path) -> None:
    cfg = tmp_path / "etc" / "m.toml"
    cfg.parent.mkdir()
    cfg.write_text(
        'cert = "ca.pem"\nclient-cert = "/abs/me.pem"\ndiff-file = "out/diff.txt"\n'
        'report = "r.json"\nlocal-folder = "../simple"\n'
    )
    args = _parse(["--config", str(cfg)])
    assert args.cert == str(cfg.parent / "ca.pem")  # a str, as requests wants its verify
    assert args.client_cert == "/abs/me.pem"
    assert args.diff_file == cfg.parent / "out" / "diff.txt"
    assert args.report == str(cfg.parent / "r.json")
    assert args.local_folder == cfg.parent / "../simple"


def test_command_line_overrides_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text('platform = ["win_amd64"]\nworkers = 3\nbinary-only = true\nlatest = 2\n')
    args = _parse(["--config", str(cfg), "--platform", "linux", "--source-only", "--all-versions"])
    assert args.platform == ["linux"]  # replaced, not merged
    assert args.workers == 3  # from the file
    assert args.source_only is True
    assert args.binary_only is False  # the command line chose the other one
    assert args.all_versions is True
    assert args.latest == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('workers = 8\nplatfrom = ["linux"]\n', "m.toml:2: unknown key 'platfrom'"),
        ("workers = 0\n", "m.toml:1: workers = '0': must be at least 1"),
        ('workers = "many"\n', "m.toml:1: workers = 'many'"),
        ('binary-only = "yes"\n', "m.toml:1: binary-only must be true or false"),
        ("platform = 3\n", "m.toml:1: platform must be a string or a list of strings"),
        ('index = ["a", "b"]\n', "m.toml:1: index takes one value"),
        ("requirements = [1]\n", "m.toml:1: requirements must be a string or a list"),
        ("workers = \n", "m.toml: "),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(text)
    with pytest.raises(InputError) as info:
        _parse(["--config", str(cfg)])
    assert message in str(info.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read config file"):
        _parse(["--config", str(tmp_path / "nope.toml")])


def test_a_config_file_drives_a_whole_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fakeindex import FakeIndex

    from selmirror.cli import main

    with FakeIndex() as index:
        index.add_wheel("alpha", "1.0", requires_dist=["beta"])
        index.add_wheel("beta", "1.0")
        cfg = tmp_path / "conf" / "m.toml"
        cfg.parent.mkdir()
        cfg.write_text(
            f'requirements = ["alpha"]\nindex = "{index.url}"\nlocal-folder = "../out"\n'
            'platform = ["linux"]\npython-version = ["3.12"]\n'
        )
        assert main(["--config", str(cfg)]) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "alpha" / "alpha-1.0-py3-none-any.whl").exists()
    assert (tmp_path / "out" / "beta" / "beta-1.0-py3-none-any.whl").exists()


def test_build_and_project_options_have_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        'build-requirement = ["cython<3", "wheel"]\nno-build-deps = false\n'
        'extra = ["docs"]\ngroup = ["dev"]\nall-extras = true\n'
    )
    args = _parse(["--config", str(cfg)])
    assert args.build_requirement == ["cython<3", "wheel"]
    assert args.no_build_deps is False
    assert (args.extra, args.group, args.all_extras) == (["docs"], ["dev"], True)


# --- hostile config files: one InputError naming the file, never a traceback (issue 10) --


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = " + "[" * 100_000, "m.toml: nested too deeply"),
        ("workers = 2\nlatest = " + "1" * 5000, "m.toml:2: a number too long to read"),
        ("workers = 0x" + "f" * 5000, "m.toml:1: workers is too large"),
        ("verbose = 0x" + "f" * 40, "m.toml:1: verbose is too large"),
        ('requirements-files = ["a\\u0000b"]', "m.toml:1: requirements-files holds a NUL"),
        ('local-folder = "x\\u0000"', "m.toml:1: local-folder holds a NUL"),
        ('requirements = ["foo", "\\u0000"]', "m.toml:1: requirements holds a NUL"),
        ("timeout = nan", "m.toml:1: timeout must be a finite number"),
        ("lock-timeout = -inf", "m.toml:1: lock-timeout must be a finite number"),
    ],
)
def test_hostile_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(text)
    with pytest.raises(InputError) as info:
        _parse(["--config", str(cfg)])
    assert message in str(info.value)


def test_a_config_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_bytes(b"workers = 2\n# caf\xe9\n")
    with pytest.raises(InputError, match=r"m\.toml:2: not UTF-8"):
        _parse(["--config", str(cfg)])


def test_a_config_file_is_read_to_1_mib_at_most(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="config file /dev/zero is larger than 1 MiB"):
        _parse(["--config", "/dev/zero"])  # never ends: read whole, it would fill memory
    cfg = tmp_path / "m.toml"
    cfg.write_text("# " + "x" * (1 << 20))
    with pytest.raises(InputError, match="larger than 1 MiB"):
        _parse(["--config", str(cfg)])


def test_a_config_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"cannot read config file {tmp_path}: Is a directory"):
        _parse(["--config", str(tmp_path)])
