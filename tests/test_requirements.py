"""Tests for selmirror.requirements: requirement strings, requirements files, the CLI inputs."""

from __future__ import annotations

import codecs
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest

from selmirror.errors import InputError
from selmirror.models import RequirementSet, RootRequirement
from selmirror.requirements import collect, parse_requirement, read_requirements_file

SHA256 = "a" * 64
SHA384 = "b" * 96
SHA512 = "c" * 128


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path so files can be named as a user writes them (``req.txt``)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read(text: str, *, environ: Mapping[str, str] | None = None) -> RequirementSet:
    """Write ``text`` to req.txt in the current directory and read it back."""
    write(Path("req.txt"), text)
    return read_requirements_file(Path("req.txt"), environ=environ)


def read_error(text: str, *, environ: Mapping[str, str] | None = None) -> str:
    with pytest.raises(InputError) as excinfo:
        read(text, environ=environ)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def described(items: tuple[RootRequirement, ...]) -> list[tuple[str, str]]:
    return [(str(item.requirement), item.source) for item in items]


# --- parse_requirement -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "name"),
    [
        ("Foo_Bar", "Foo_Bar", "foo-bar"),
        ("foo==1.0", "foo==1.0", "foo"),
        ("foo>=1.0", "foo>=1.0", "foo"),
        ("foo~=1.0", "foo~=1.0", "foo"),
        ("foo!=1.0", "foo!=1.0", "foo"),
        ("foo===1.0", "foo===1.0", "foo"),
        ("foo<1.0", "foo<1.0", "foo"),
        ("foo>1.0", "foo>1.0", "foo"),
        ("foo<=1.0", "foo<=1.0", "foo"),
        ("foo>=1,<2,!=1.5", "foo!=1.5,<2,>=1", "foo"),
        ("  foo==1.0  ", "foo==1.0", "foo"),
        ("foo=1.0", "foo==1.0", "foo"),
        ("foo[bar]=1.0", "foo[bar]==1.0", "foo"),
        ("Zope.Interface[Docs,Test]>=5", "Zope.Interface[Docs,Test]>=5", "zope-interface"),
        ('foo=1.0; python_version >= "3.10"', 'foo==1.0; python_version >= "3.10"', "foo"),
        ('foo ; sys_platform == "win32"', 'foo; sys_platform == "win32"', "foo"),
        # A '/' inside a marker is not a path.
        ('foo; platform_release == "a/b"', 'foo; platform_release == "a/b"', "foo"),
    ],
)
def test_parse_requirement_accepts(text: str, expected: str, name: str) -> None:
    root = parse_requirement(text, "here")
    assert str(root.requirement) == expected
    assert root.name == name
    assert root.source == "here"
    assert root.hashes == frozenset()


@pytest.mark.parametrize("text", ["version = 1", "foo = 1.0", "foo =1.0", "name = 'x'"])
def test_a_toml_line_is_never_a_legacy_pin(text: str) -> None:
    with pytest.raises(InputError, match=r"^src: invalid requirement ") as info:
        parse_requirement(text, "src")
    if " = " in text:
        assert info.value.hint is not None
        assert info.value.hint.startswith("a 'key = value' line is TOML, not a requirement")


def test_parse_requirement_keeps_the_marker_and_extras() -> None:
    root = parse_requirement('Foo[B,a]>=2; python_version < "3.11"', "src")
    assert root.requirement.marker is not None
    assert str(root.requirement.marker) == 'python_version < "3.11"'
    assert root.requirement.extras == {"B", "a"}  # as written: packaging keeps the case
    assert str(root.requirement.specifier) == ">=2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "src: empty requirement"),
        ("   ", "src: empty requirement"),
        (
            "foo @ https://example.com/foo-1.0.whl",
            "src: direct URL requirements are not supported: 'foo @ https://example.com/foo-1.0.whl'",
        ),
        (
            "foo[x]@file:///tmp/x",
            "src: direct URL requirements are not supported: 'foo[x]@file:///tmp/x'",
        ),
        ("foo @ ./local", "src: direct URL requirements are not supported: 'foo @ ./local'"),
        (
            "https://example.com/foo-1.0.tar.gz",
            "src: URLs are not supported, name the project: 'https://example.com/foo-1.0.tar.gz'",
        ),
        (
            "git+https://github.com/a/b.git#egg=b",
            "src: URLs are not supported, name the project: 'git+https://github.com/a/b.git#egg=b'",
        ),
        (
            "git+git@github.com:a/b",
            "src: URLs are not supported, name the project: 'git+git@github.com:a/b'",
        ),
        (
            "hg+http://hg.example/b",
            "src: URLs are not supported, name the project: 'hg+http://hg.example/b'",
        ),
        ("file:pkg", "src: URLs are not supported, name the project: 'file:pkg'"),
        ("./pkg", "src: local paths are not supported, name the project: './pkg'"),
        ("../pkg", "src: local paths are not supported, name the project: '../pkg'"),
        (".", "src: local paths are not supported, name the project: '.'"),
        ("/abs/x", "src: local paths are not supported, name the project: '/abs/x'"),
        ("dir\\pkg", "src: local paths are not supported, name the project: 'dir\\\\pkg'"),
        ("pkg.tar.gz", "src: local paths are not supported, name the project: 'pkg.tar.gz'"),
        ("foo.whl", "src: local paths are not supported, name the project: 'foo.whl'"),
        ("Foo-1.0.ZIP", "src: local paths are not supported, name the project: 'Foo-1.0.ZIP'"),
        ("foo.whl[x]", "src: local paths are not supported, name the project: 'foo.whl[x]'"),
    ],
)
def test_parse_requirement_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_requirement(text, "src")
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("foo bar", "Expected semicolon (after name with no version specifier) or end"),
        ("foo==", "Expected semicolon (after name with no version specifier) or end"),
        ("foo==1.0; bad", "Expected a marker variable or quoted string"),
        ("foo[bar=1", "Expected matching RIGHT_BRACKET for LEFT_BRACKET, after extras"),
        ("foo==1.0#frag", "Expected comma"),
    ],
)
def test_parse_requirement_reports_packaging_reason_on_one_line(text: str, reason: str) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_requirement(text, "req.txt:7")
    message = str(excinfo.value)
    assert message.startswith(f"req.txt:7: invalid requirement {text!r}: {reason}")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("foo @ https://user:secret@host/x.whl", "'foo @ https://****@host/x.whl'"),
        ("https://user:secret@host/foo.whl", "'https://****@host/foo.whl'"),
        ("git+https://secret@github.com/a/b", "'git+https://****@github.com/a/b'"),
        ("foo==1 https://:secret@host/", "'foo==1 https://****@host/'"),
        ("foo @ https://u:se/cr#et@host/x.whl", "'foo @ https://****@host/x.whl'"),
        ("https://u:se?cret@host/foo.whl", "'https://****@host/foo.whl'"),
        ("foo @ https://host/x.whl?token=secret", "'foo @ https://host/x.whl?token=****'"),
    ],
)
def test_parse_requirement_redacts_credentials(text: str, shown: str) -> None:
    with pytest.raises(InputError) as excinfo:
        parse_requirement(text, "src")
    assert "secret" not in str(excinfo.value)
    assert shown in str(excinfo.value)


@pytest.mark.parametrize(
    "text",
    [
        "foo==1." + "1" * 5000,
        'foo; python_version > "3.' + "1" * 4400 + '"',
        "foo>=" + "9" * 4301,
    ],
)
def test_a_number_longer_than_int_reads_is_refused_on_one_line(text: str) -> None:
    """packaging raises ValueError for such a version, or parses the marker and fails when
    it is evaluated: either way a traceback, not a reason."""
    with pytest.raises(InputError) as excinfo:
        parse_requirement(text, "req.txt:3")
    assert str(excinfo.value).startswith("req.txt:3: a number of more than 4,300 digits in ")
    assert len(str(excinfo.value)) < 200


# --- read_requirements_file: the pip preprocessing ---------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Continuations: no space added, the first line's number kept.
        ("foo\\\n==1.0\nbar\n", [("foo==1.0", "req.txt:1"), ("bar", "req.txt:3")]),
        ("a\\\n[x]\\\n>=1\nb\n", [("a[x]>=1", "req.txt:1"), ("b", "req.txt:4")]),
        ("foo==1.0 \\", [("foo==1.0", "req.txt:1")]),
        # pip strips backslashes at both ends of a continued line.
        ("\\foo\\\n==1\n", [("foo==1", "req.txt:1")]),
        # A comment line ending in '\' is not a continuation.
        ("# note \\\nbar==1\n", [("bar==1", "req.txt:2")]),
        ("   # indented note \\\nbar==1\n", [("bar==1", "req.txt:2")]),
        # A comment line closing a continuation stays a comment.
        ("foo==1.0\\\n# note\nbar\n", [("foo==1.0", "req.txt:1"), ("bar", "req.txt:3")]),
        # A requirement line with a trailing comment and '\' swallows the next line (as pip).
        ("foo==1 # note \\\nswallowed\nbar\n", [("foo==1", "req.txt:1"), ("bar", "req.txt:3")]),
        # Comments and blank lines.
        (
            "# top\n\n   \nfoo==1.0 # why\n\tbar  #x\n",
            [("foo==1.0", "req.txt:4"), ("bar", "req.txt:5")],
        ),
        ("foo\r\nbar\rbaz\n", [("foo", "req.txt:1"), ("bar", "req.txt:2"), ("baz", "req.txt:3")]),
    ],
)
def test_lines_are_joined_and_comments_dropped(
    cwd: Path, text: str, expected: list[tuple[str, str]]
) -> None:
    assert described(read(text).requirements) == expected


def test_hash_sign_without_whitespace_is_not_a_comment(cwd: Path) -> None:
    assert read_error("ok\nfoo==1.0#frag\n").startswith(
        "req.txt:2: invalid requirement 'foo==1.0#frag': "
    )


@pytest.mark.parametrize(
    ("line", "environ", "expected"),
    [
        ("foo==${VER}", {"VER": "1.0"}, "foo==1.0"),
        ("${NAME}[${EXTRA}]==${VER}", {"NAME": "bar", "EXTRA": "x", "VER": "2"}, "bar[x]==2"),
        ('foo; platform_release == "${VER}"', {"VER": "6.1"}, 'foo; platform_release == "6.1"'),
        # Left as written: unset, empty, lowercase name, unbraced.
        ('foo; platform_release == "${VER}"', {}, 'foo; platform_release == "${VER}"'),
        ('foo; platform_release == "${VER}"', {"VER": ""}, 'foo; platform_release == "${VER}"'),
        ('foo; platform_release == "${ver}"', {"ver": "1"}, 'foo; platform_release == "${ver}"'),
        ('foo; platform_release == "$VER"', {"VER": "1"}, 'foo; platform_release == "$VER"'),
    ],
)
def test_environment_variables(
    cwd: Path, line: str, environ: dict[str, str], expected: str
) -> None:
    result = read(line, environ=environ)
    assert [str(r.requirement) for r in result.requirements] == [expected]


def test_unset_variable_stays_literal_in_errors(cwd: Path) -> None:
    assert read_error("foo==${VER}\n", environ={}) == (
        "req.txt:1: invalid requirement 'foo==${VER}': "
        "Expected semicolon (after name with no version specifier) or end"
    )


def test_environment_defaults_to_os_environ(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELMIRROR_TEST_VER", "3.1")
    result = read("foo==${SELMIRROR_TEST_VER}\n")
    assert str(result.requirements[0].requirement) == "foo==3.1"


def test_preprocessing_matches_pip(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> None:
    """Differential check against pip's own preprocess() on tricky input, when pip is there."""
    req_file = pytest.importorskip("pip._internal.req.req_file")
    monkeypatch.setenv("SET_VAR", "2.0")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    text = (
        "# c \\\na\\\n==1\nb==1 # c \\\nlost\n  # x\nc\\\n# d\n"
        "e==${SET_VAR}\nf==${UNSET_VAR} --hash=sha256:" + SHA256 + "\n\\h\\\n==1\ng\\"
    )
    from selmirror.requirements import _logical_lines

    expected = list(req_file.preprocess(text))
    assert list(_logical_lines(text, {"SET_VAR": "2.0"})) == expected


# --- decoding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + 'foo; platform_release == "é"\n'.encode(),
        codecs.BOM_UTF16_LE + 'foo; platform_release == "é"\n'.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + 'foo; platform_release == "é"\n'.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + 'foo; platform_release == "é"\n'.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + 'foo; platform_release == "é"\n'.encode("utf-32-be"),
        '# -*- coding: latin-1 -*-\nfoo; platform_release == "é"\n'.encode("latin-1"),
        '#!/x\n# vim: set fileencoding=cp1252 :\nfoo; platform_release == "é"\n'.encode("cp1252"),
        'foo; platform_release == "é"\n'.encode(),
    ],
)
def test_decoding(cwd: Path, data: bytes) -> None:
    Path("req.txt").write_bytes(data)
    result = read_requirements_file(Path("req.txt"))
    assert [str(r.requirement) for r in result.requirements] == ['foo; platform_release == "é"']


def test_coding_declaration_only_counts_in_a_comment(cwd: Path) -> None:
    data = 'a; platform_release == "coding: latin-1"\nb; platform_release == "é"\n'.encode()
    Path("req.txt").write_bytes(data)
    result = read_requirements_file(Path("req.txt"))
    assert str(result.requirements[1].requirement) == 'b; platform_release == "é"'


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            'foo; platform_release == "é"\n'.encode("latin-1"),
            "req.txt: cannot decode as utf-8 (byte 26: invalid continuation byte); ",
        ),
        (
            # A coding line after line 2 does not count.
            '\n\n# -*- coding: latin-1 -*-\nfoo; platform_release == "é"\n'.encode("latin-1"),
            "req.txt: cannot decode as utf-8",
        ),
        (
            b"# coding: nosuchcodec\nfoo\n",
            "req.txt: unknown encoding 'nosuchcodec' in its coding line",
        ),
    ],
)
def test_decoding_errors_name_the_file(cwd: Path, data: bytes, message: str) -> None:
    Path("req.txt").write_bytes(data)
    with pytest.raises(InputError) as excinfo:
        read_requirements_file(Path("req.txt"))
    assert str(excinfo.value).startswith(message)


# --- nested files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "include",
    [
        "-r sub/b.txt",
        "--requirement sub/b.txt",
        "--requirement=sub/b.txt",
        "-rsub/b.txt",
        "-r 'sub/b.txt'",
    ],
)
def test_nested_files_resolve_against_the_including_file(cwd: Path, include: str) -> None:
    write(cwd / "top/a.txt", f"first\n{include}\nlast\n")
    write(cwd / "top/sub/b.txt", "b1\n-c ../c.txt\n--constraint=deeper/d.txt\n")
    write(cwd / "top/c.txt", "c1<2\n")
    write(cwd / "top/sub/deeper/d.txt", "d1<3\n")
    write(cwd / "sub/b.txt", "wrong\n")  # relative to the process cwd: must not be read
    result = read_requirements_file(Path("top/a.txt"))
    assert described(result.requirements) == [
        ("first", "top/a.txt:1"),
        ("b1", "top/sub/b.txt:1"),
        ("last", "top/a.txt:3"),
    ]
    assert described(result.constraints) == [
        ("c1<2", "top/c.txt:1"),
        ("d1<3", "top/sub/deeper/d.txt:1"),
    ]


def test_constraints_file_and_its_nested_files(cwd: Path) -> None:
    write(cwd / "c.txt", "a<2\n-c more.txt\n-r reqs.txt\n")
    write(cwd / "more.txt", "b<3\n")
    write(cwd / "reqs.txt", "c\n")
    result = read_requirements_file(Path("c.txt"), constraint=True)
    assert described(result.constraints) == [("a<2", "c.txt:1"), ("b<3", "more.txt:1")]
    # pip 26.3 (RequirementsFileParser._parse_and_recurse) reads -r as requirements even
    # inside a constraints file, and `pip install -c c.txt` then installs them.
    assert described(result.requirements) == [("c", "reqs.txt:1")]


def test_absolute_nested_path(cwd: Path) -> None:
    other = write(cwd / "elsewhere" / "x.txt", "x\n")
    write(cwd / "a.txt", f"-r {other}\n")
    result = read_requirements_file(Path("a.txt"))
    assert described(result.requirements) == [("x", f"{other}:1")]


def test_same_file_included_twice_is_not_recursion(cwd: Path) -> None:
    write(cwd / "a.txt", "-r b.txt\n-r c.txt\n")
    write(cwd / "b.txt", "-r d.txt\n")
    write(cwd / "c.txt", "-r d.txt\n")
    write(cwd / "d.txt", "d\n")
    result = read_requirements_file(Path("a.txt"))
    assert described(result.requirements) == [("d", "d.txt:1"), ("d", "d.txt:1")]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.txt": "x\n-r a.txt\n"},
            "a.txt:2: requirements file a.txt recursively includes itself",
        ),
        (
            {"a.txt": "x\n\n-r b.txt\n", "b.txt": "-r a.txt\n"},
            "b.txt:1: requirements file a.txt recursively includes itself",
        ),
        (
            {"a.txt": "-c sub/b.txt\n", "sub/b.txt": "-c ../a.txt\n"},
            "sub/b.txt:1: constraints file a.txt recursively includes itself",
        ),
        (
            {"a.txt": "-r ./sub/../a.txt\n", "sub/.keep": ""},
            "a.txt:1: requirements file a.txt recursively includes itself",
        ),
    ],
)
def test_recursion(cwd: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        write(cwd / name, text)
    with pytest.raises(InputError) as excinfo:
        read_requirements_file(Path("a.txt"))
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x\n-r missing.txt\n", "req.txt:2: no such requirements file: missing.txt"),
        ("-c sub/nope.txt\n", "req.txt:1: no such constraints file: sub/nope.txt"),
    ],
)
def test_missing_nested_file(cwd: Path, text: str, message: str) -> None:
    assert read_error(text) == message


def test_nested_directory_cannot_be_read(cwd: Path) -> None:
    (cwd / "adir").mkdir()
    assert read_error("-r adir\n").startswith("req.txt:1: cannot read requirements file adir: ")


def test_missing_top_level_file(cwd: Path) -> None:
    with pytest.raises(InputError, match=r"^no such requirements file: nope\.txt$"):
        read_requirements_file(Path("nope.txt"))
    with pytest.raises(InputError, match=r"^no such constraints file: nope\.txt$"):
        read_requirements_file(Path("nope.txt"), constraint=True)


# --- --hash --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hashes"),
    [
        (f"foo==1.0 --hash=sha256:{SHA256}", {("sha256", SHA256)}),
        (f"foo==1.0 --hash sha256:{SHA256.upper()}", {("sha256", SHA256)}),
        (
            f"foo==1.0 \\\n  --hash=sha384:{SHA384} \\\n  --hash=sha512:{SHA512}",
            {("sha384", SHA384), ("sha512", SHA512)},
        ),
        (
            f"foo==1.0 --hash=sha256:{SHA256} --hash=sha256:{'0' * 64}",
            {("sha256", SHA256), ("sha256", "0" * 64)},
        ),
        ("foo==1.0", set()),
    ],
)
def test_hashes(cwd: Path, text: str, hashes: set[tuple[str, str]]) -> None:
    (entry,) = read(text).requirements
    assert entry.hashes == frozenset(hashes)
    assert entry.source == "req.txt:1"
    assert str(entry.requirement) == "foo==1.0"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            f"--hash=md5:{'a' * 32}",
            f"--hash must be sha256:, sha384: or sha512:HEX, not 'md5:{'a' * 32}'",
        ),
        (
            f"--hash=SHA256:{SHA256}",
            f"--hash must be sha256:, sha384: or sha512:HEX, not 'SHA256:{SHA256}'",
        ),
        (f"--hash={SHA256}", f"--hash must be sha256:, sha384: or sha512:HEX, not '{SHA256}'"),
        ("--hash=sha256:abc", "--hash sha256 needs 64 hex digits, not 'abc'"),
        (f"--hash=sha512:{SHA256}", f"--hash sha512 needs 128 hex digits, not '{SHA256}'"),
        (f"--hash=sha256:{'g' * 64}", f"--hash sha256 needs 64 hex digits, not '{'g' * 64}'"),
        ("--hash=", "--hash needs a value"),
        ("--hash", "--hash needs a value"),
    ],
)
def test_bad_hashes(cwd: Path, option: str, message: str) -> None:
    assert read_error(f"ok\nfoo==1.0 {option}\n") == f"req.txt:2: {message}"


def test_hash_without_requirement(cwd: Path) -> None:
    text = f"foo==1.0\n    --hash=sha256:{SHA256}\n"  # the '\' was forgotten
    assert read_error(text) == "req.txt:2: --hash must follow a requirement (a missing '\\'?)"


# --- index URLs and --pre ----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "-i https://u:secret@example.com/simple",
        "--index-url https://u:secret@example.com/simple",
        "--index-url=https://u:secret@example.com/simple",
        "-ihttps://u:secret@example.com/simple",
        "--pypi-url https://u:secret@example.com/simple",
        "-i https://u:${TOKEN}@example.com/simple",
    ],
)
def test_index_url_is_kept_as_written(cwd: Path, line: str) -> None:
    result = read(f"foo\n{line}\n", environ={"TOKEN": "secret"})
    assert result.index_url == "https://u:secret@example.com/simple"
    assert [r.name for r in result.requirements] == ["foo"]


def test_extra_index_urls_in_order_without_duplicates(cwd: Path) -> None:
    write(cwd / "more.txt", "--extra-index-url https://b.example/simple\n")
    result = read(
        "--extra-index-url https://a.example/simple\n-r more.txt\n"
        "--extra-index-url=https://a.example/simple --extra-index-url https://c.example/simple\n"
    )
    assert result.extra_index_urls == (
        "https://a.example/simple",
        "https://b.example/simple",
        "https://c.example/simple",
    )
    assert result.index_url is None
    assert result.pre is False


def test_same_index_url_twice_is_fine(cwd: Path) -> None:
    write(cwd / "b.txt", "-i https://x.example/simple\n")
    result = read("-i https://x.example/simple\n-r b.txt\n")
    assert result.index_url == "https://x.example/simple"


def test_index_url_conflict_names_where_it_was_first_set(cwd: Path) -> None:
    write(cwd / "b.txt", "-i https://x.example/simple\n")
    write(cwd / "c.txt", "-i https://y.example/simple\n")
    message = read_error("-i https://x.example/simple\n-r b.txt\n-r c.txt\n")
    assert message.endswith("conflicts with https://x.example/simple set at req.txt:1")


def test_conflicting_index_urls_name_both_places_without_credentials(cwd: Path) -> None:
    write(cwd / "sub/b.txt", "\n-i https://bob:secret2@b.example/simple\n")
    message = read_error("-i https://al:secret1@a.example/simple\n-r sub/b.txt\n")
    assert message == (
        "sub/b.txt:2: index URL https://****@b.example/simple conflicts with "
        "https://****@a.example/simple set at req.txt:1"
    )


@pytest.mark.parametrize(("text", "pre"), [("foo\n--pre\n", True), ("foo\n", False)])
def test_pre(cwd: Path, text: str, pre: bool) -> None:
    assert read(text).pre is pre


# --- ignored, refused and malformed options ------------------------------------------------


@pytest.mark.parametrize(
    ("line", "warning"),
    [
        ("--prefer-binary", "--prefer-binary ignored: it does not change what the mirror holds"),
        ("--require-hashes", "--require-hashes ignored: it does not change what the mirror holds"),
        (
            "--no-require-hashes",
            "--no-require-hashes ignored: it does not change what the mirror holds",
        ),
        (
            "--trusted-host example.com",
            "--trusted-host ignored: it does not change what the mirror holds",
        ),
        (
            "--use-feature fast-deps",
            "--use-feature ignored: it does not change what the mirror holds",
        ),
        (
            "--config-settings k=v",
            "--config-settings ignored: it does not change what the mirror holds",
        ),
        ("-C k=v", "--config-settings ignored: it does not change what the mirror holds"),
        (
            "--only-binary :all:",
            "--only-binary ignored: the mirror keeps wheels and sdists; "
            "pass --binary-only or --source-only instead",
        ),
        (
            "--no-binary=foo",
            "--no-binary ignored: the mirror keeps wheels and sdists; "
            "pass --binary-only or --source-only instead",
        ),
        (
            "--all-releases :all:",
            "--all-releases ignored: selmirror only honours --pre for pre-releases",
        ),
        (
            "--only-final :all:",
            "--only-final ignored: selmirror only honours --pre for pre-releases",
        ),
        (
            "foo==1 --config-settings k=v",
            "--config-settings ignored: it does not change what the mirror holds",
        ),
        ("foo==1 --pre", "--pre ignored: pip ignores it after a requirement"),
        ("foo==1 -i https://x.example/", "--index-url ignored: pip ignores it after a requirement"),
        ("foo==1 -r other.txt", "--requirement ignored: pip ignores it after a requirement"),
    ],
)
def test_ignored_options_warn(
    cwd: Path, caplog: pytest.LogCaptureFixture, line: str, warning: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="selmirror.requirements"):
        result = read(f"bar\n{line}\n")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("selmirror.requirements", logging.WARNING, f"req.txt:2: {warning}")
    ]
    assert result.pre is False
    assert result.index_url is None
    assert [r.name for r in result.requirements] == (
        ["bar", "foo"] if line.startswith("foo") else ["bar"]
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-e ./pkg", "editable requirements (-e) are not supported"),
        ("--editable=git+https://u:secret@host/r", "editable requirements (-e) are not supported"),
        ("foo -e .", "editable requirements (-e) are not supported"),
        (
            "-f https://example.com/links",
            "--find-links is not supported: a mirror copies from package indexes only",
        ),
        (
            "--find-links=./wheels",
            "--find-links is not supported: a mirror copies from package indexes only",
        ),
        ("--no-index", "--no-index is not supported: a mirror needs an index to copy from"),
        ("--frobnicate", "unknown option '--frobnicate'"),
        ("--frobnicate=https://u:secret@x/", "unknown option '--frobnicate'"),
        ("--index https://x.example/simple", "unknown option '--index'"),  # no abbreviations
        ("-x", "unknown option '-x'"),
        ("-", "unknown option '-'"),
        ("foo==1 --user", "unknown option '--user'"),
        ("--pre=yes", "--pre takes no value"),
        ("-r", "-r needs a value"),
        ("--requirement=", "--requirement needs a value"),
        ("--pre stray", "unexpected argument 'stray' after the options"),
        (
            "--pre https://u:secret@host/x",
            "unexpected argument 'https://****@host/x' after the options",
        ),
        ("--trusted-host 'unclosed", "cannot split options: No closing quotation"),
        ("-r a.txt --pre", "-r/-c must be alone on its line (pip ignores the rest)"),
        ("-c a.txt -c b.txt", "-r/-c must be alone on its line (pip ignores the rest)"),
        ("./pkg", "local paths are not supported, name the project: './pkg'"),
        (
            "pkg-1.0.tar.gz --hash=sha256:" + SHA256,
            "local paths are not supported, name the project: 'pkg-1.0.tar.gz'",
        ),
        (
            "https://u:secret@host/foo.whl",
            "URLs are not supported, name the project: 'https://****@host/foo.whl'",
        ),
        (
            "git+https://github.com/a/b",
            "URLs are not supported, name the project: 'git+https://github.com/a/b'",
        ),
        (
            "foo @ https://u:secret@host/foo.whl",
            "direct URL requirements are not supported: 'foo @ https://****@host/foo.whl'",
        ),
    ],
)
def test_refused_lines(cwd: Path, line: str, message: str) -> None:
    got = read_error(f"ok\n# comment\n{line}\nnever\n")
    assert got == f"req.txt:3: {message}"
    assert "secret" not in got


def test_errors_in_nested_files_name_the_nested_file(cwd: Path) -> None:
    write(cwd / "sub/b.txt", "fine\n\n-e .\n")
    assert (
        read_error("-r sub/b.txt\n") == "sub/b.txt:3: editable requirements (-e) are not supported"
    )


# --- collect -------------------------------------------------------------------------------


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cwd for collect(), distinct from the process's current directory."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(tmp_path)
    return root


def test_collect_merges_everything_in_order(elsewhere: Path) -> None:
    write(
        elsewhere / "reqs.txt",
        "a\n-i https://idx.example/simple\n--extra-index-url https://x.example/\n",
    )
    write(
        elsewhere / "more/more.txt",
        "b==${VER}\n-r sub.txt\n--pre\n--extra-index-url https://x.example/\n",
    )
    write(elsewhere / "more/sub.txt", "c\n--extra-index-url https://y.example/\n")
    write(elsewhere / "cons.txt", "a<2\n-i https://idx.example/simple\n")
    result = collect(
        ["reqs.txt", "Django>=4", "requests=2.0", "a"],
        ["more/more.txt"],
        ["cons.txt"],
        cwd=elsewhere,
        environ={"VER": "1.5"},
    )
    assert described(result.requirements) == [
        ("a", "reqs.txt:1"),
        ("Django>=4", "command line"),
        ("requests==2.0", "command line"),
        ("a", "command line"),
        ("b==1.5", "more/more.txt:1"),
        ("c", "more/sub.txt:1"),
    ]
    assert described(result.constraints) == [("a<2", "cons.txt:1")]
    assert result.index_url == "https://idx.example/simple"
    assert result.extra_index_urls == ("https://x.example/", "https://y.example/")
    assert result.pre is True


def test_collect_without_inputs(elsewhere: Path) -> None:
    assert collect([], [], [], cwd=elsewhere) == RequirementSet()


def test_collect_conflicting_index_urls(elsewhere: Path) -> None:
    write(elsewhere / "a.txt", "-i https://u:secret@a.example/simple\n")
    write(elsewhere / "b.txt", "x\n-i https://b.example/simple\n")
    with pytest.raises(InputError) as excinfo:
        collect(["a.txt"], [], ["b.txt"], cwd=elsewhere)
    assert str(excinfo.value) == (
        "b.txt:2: index URL https://b.example/simple conflicts with "
        "https://****@a.example/simple set at a.txt:1"
    )


@pytest.mark.parametrize(
    ("args", "requirement_files", "constraint_files", "message"),
    [
        (["missing.txt"], [], [], "no such requirements file: missing.txt"),
        (["deps.in"], [], [], "no such requirements file: deps.in"),
        (["sub/reqs"], [], [], "no such requirements file: sub/reqs"),
        ([], ["nope.txt"], [], "no such requirements file: nope.txt"),
        ([], [], ["nope.txt"], "no such constraints file: nope.txt"),
        (
            ["./pkgdir"],
            [],
            [],
            "command line: local paths are not supported, name the project: './pkgdir'",
        ),
        (
            ["foo.whl"],
            [],
            [],
            "command line: local paths are not supported, name the project: 'foo.whl'",
        ),
        (
            ["https://u:secret@h/r.txt"],
            [],
            [],
            "command line: URLs are not supported, name the project: 'https://****@h/r.txt'",
        ),
        (
            ["foo @ https://h/x/r.txt"],
            [],
            [],
            "command line: direct URL requirements are not supported: 'foo @ https://h/x/r.txt'",
        ),
        (["foo bar"], [], [], "command line: invalid requirement 'foo bar': Expected semicolon"),
    ],
)
def test_collect_errors(
    elsewhere: Path,
    args: list[str],
    requirement_files: list[str],
    constraint_files: list[str],
    message: str,
) -> None:
    (elsewhere / "pkgdir").mkdir()
    (elsewhere / "foo.whl").write_bytes(b"PK\x03\x04 not a requirements file")
    with pytest.raises(InputError) as excinfo:
        collect(args, requirement_files, constraint_files, cwd=elsewhere)
    assert str(excinfo.value).startswith(message)


def test_collect_reads_a_file_without_a_txt_suffix(elsewhere: Path) -> None:
    write(elsewhere / "requirements", "foo\n")
    result = collect(["requirements", "bar"], [], [], cwd=elsewhere)
    assert described(result.requirements) == [("foo", "requirements:1"), ("bar", "command line")]


def test_collect_uses_os_environ_by_default(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELMIRROR_TEST_VER", "9")
    write(elsewhere / "r.txt", "foo==${SELMIRROR_TEST_VER}\n")
    result = collect([], ["r.txt"], [], cwd=elsewhere)
    assert str(result.requirements[0].requirement) == "foo==9"


@pytest.mark.parametrize("codec", ["punycode", "idna", "undefined", "rot13", "base64", "hex"])
def test_a_coding_line_naming_no_text_encoding_is_one_error(cwd: Path, codec: str) -> None:
    Path("req.txt").write_bytes(
        f"# -*- coding: {codec} -*-\nfoo==1.0 ; python_version > 'é'\n".encode()
    )
    with pytest.raises(InputError) as excinfo:
        read_requirements_file(Path("req.txt"))
    assert str(excinfo.value) == f"req.txt: '{codec}' is not a text encoding in its coding line"


@pytest.mark.parametrize(
    ("data", "line"),
    [(b"-r a\x00b.txt\n", 1), (b"foo\n# x\nbar\x00\n", 3), ("x\x00".encode("utf-16"), 1)],
)
def test_a_nul_character_is_one_error(cwd: Path, data: bytes, line: int) -> None:
    Path("req.txt").write_bytes(data)  # as a path, a NUL made open() raise ValueError
    with pytest.raises(InputError, match=f"^req.txt:{line}: a NUL character"):
        read_requirements_file(Path("req.txt"))
