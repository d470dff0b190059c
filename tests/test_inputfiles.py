"""Tests for selmirror.inputfiles: pylock.toml, uv.lock, pyproject.toml and PEP 723 scripts.

The real fixtures under tests/data/uv-* were written by uv 0.13.9 (``uv lock``, ``uv export
--format pylock.toml``, ``uv lock --script``) for the projects beside them, then trimmed to
two wheels per package; tests/data/README.md says how.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selmirror import inputfiles
from selmirror.errors import InputError
from selmirror.inputfiles import kind_of, read_pylock, read_pyproject, read_script, read_uv_lock
from selmirror.models import RequirementSet

DATA = Path(__file__).parent / "data"
H256, H384, H512 = "a" * 64, "b" * 96, "c" * 128
Reader = Callable[..., RequirementSet]
READERS: dict[str, Reader] = {
    "pylock": read_pylock,
    "uv-lock": read_uv_lock,
    "pyproject": read_pyproject,
    "script": read_script,
}
SAMPLES = {
    "pylock": "uv-tiny/pylock.toml",
    "uv-lock": "uv-tiny/uv.lock",
    "pyproject": "uv-tiny/pyproject.toml",
    "script": "uv-script/hello.py",
}
UNKNOWN_TOML = "a TOML file, but not a pylock.toml, uv.lock or pyproject.toml"
DYNAMIC = "is dynamic: selmirror cannot know them without building the project"
NO_HASH = "missing hash (sha256, sha384 or sha512)"


def data(path: str) -> bytes:
    return (DATA / path).read_bytes()


def error(reader: Reader, text: str | bytes, **options: Any) -> str:
    """The message of the one-line InputError that reading ``text`` as "X" raises."""
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(InputError) as excinfo:
        reader(raw, "X", **options)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def requirements(result: RequirementSet) -> list[str]:
    return [str(root.requirement) for root in result.requirements]


def sources(result: RequirementSet) -> list[str]:
    return [root.source for root in result.requirements]


# --- kind_of -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("pylock.toml", "pylock"),
        ("pylock.dev.toml", "pylock"),
        ("some/dir/pylock.toml", "pylock"),
        ("C:\\work\\pylock.prod.toml", "pylock"),
        ("uv.lock", "uv-lock"),
        ("../proj/uv.lock", "uv-lock"),
        ("pyproject.toml", "pyproject"),
        ("tool.py", "script"),
    ],
)
def test_kind_of_trusts_the_name(name: str, kind: str) -> None:
    # The content says "requirements file": the name wins.
    assert kind_of(name, b"requests\n") == kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('lock-version = "1.0"\ncreated-by = "me"\npackages = []\n', "pylock"),
        ('version = 1\n[[package]]\nname = "a"\n', "uv-lock"),
        ('[project]\nname = "a"\n', "pyproject"),
        ('[dependency-groups]\ndev = ["a"]\n', "pyproject"),
        ('# /// script\n# dependencies = ["a"]\n# ///\nprint(1)\n', "script"),
        ("requests\nflask>=2\n", "requirements"),
        ("-r other.txt\n--index-url https://x/simple\nrequests==2.0\n", "requirements"),
        ("foo = 1.0\n", "requirements"),  # valid TOML, and a legacy pin
        ("foo==1.0\nbar = 2\n", "requirements"),  # not TOML at all
        ("[broken\nrequests\n", "requirements"),  # looks like TOML, is not
        ("", "requirements"),
        ("# /// scripts\n", "requirements"),
    ],
)
def test_kind_of_reads_the_content_of_other_names(text: str, kind: str) -> None:
    assert kind_of("inputs.txt", text.encode()) == kind


def test_kind_of_leaves_text_that_is_not_utf8_to_the_requirements_reader() -> None:
    # pip reads UTF-16 requirements files (with a BOM), and ones with a coding line.
    assert kind_of("req.txt", "requests\n".encode("utf-16")) == "requirements"
    assert kind_of("req.txt", b"# -*- coding: latin-1 -*-\nna\xefve\n") == "requirements"


@pytest.mark.parametrize(
    "path",
    [
        "uv-tiny/uv.lock",
        "uv-tiny/pylock.toml",
        "uv-tiny/pyproject.toml",
        "uv-script/hello.py",
        "uv-script/hello.py.lock",
        "uv-virtual/pyproject.toml",
    ],
)
def test_kind_of_real_files_under_other_names(path: str) -> None:
    assert kind_of("renamed", data(path)) == kind_of(Path(path).name, data(path))


def test_kind_of_reads_past_a_utf8_bom() -> None:
    assert kind_of("inputs.txt", b'\xef\xbb\xbf[project]\nname = "a"\n') == "pyproject"


def test_kind_of_a_script_lock_by_content() -> None:
    assert kind_of("hello.py.lock", data("uv-script/hello.py.lock")) == "uv-lock"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("poetry.lock", '[[package]]\nname = "a"\n', f"poetry.lock: {UNKNOWN_TOML}"),
        ("tool.toml", 'name = "a"\n', f"tool.toml: {UNKNOWN_TOML}"),
        ("pylock.a.b.toml", "", f"pylock.a.b.toml: {UNKNOWN_TOML}"),
        (
            "x.toml",
            "requests\n",
            "x.toml: not valid TOML: line 1 column 9: expected '=' after a key in a key/value pair",
        ),
        ("x.toml", b"\xff", "x.toml: not UTF-8 (byte 0: invalid start byte)"),
    ],
)
def test_kind_of_never_takes_a_toml_file_for_requirements(
    name: str, text: str | bytes, message: str
) -> None:
    raw = text.encode() if isinstance(text, str) else text
    with pytest.raises(InputError) as excinfo:
        kind_of(name, raw)
    assert str(excinfo.value) == message


def test_kind_of_does_not_parse_toml_for_an_ordinary_requirements_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(text: str) -> dict[str, Any]:
        raise AssertionError("parsed as TOML")

    monkeypatch.setattr(inputfiles.tomllib, "loads", refuse)
    text = f"requests>=2\n--hash=sha256:{H256}\nflask==3.0 ; os_name == 'nt'\nx[y]=1\n"
    assert kind_of("req.txt", text.encode()) == "requirements"


# --- what all readers share --------------------------------------------------------------


@pytest.mark.parametrize("kind", READERS)
def test_refuses_a_file_larger_than_the_limit(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inputfiles, "MAX_BYTES", 2**20)
    assert error(READERS[kind], b" " * (2**20 + 1)) == "X: larger than 1 MiB: not read"
    with pytest.raises(InputError, match=r"^big.txt: larger than 1 MiB: not read$"):
        kind_of("big.txt", b" " * (2**20 + 1))


@pytest.mark.parametrize("kind", READERS)
def test_refuses_text_that_is_not_utf8(kind: str) -> None:
    assert error(READERS[kind], b"a = 1\n\xff") == "X: not UTF-8 (byte 6: invalid start byte)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a = 1\nb = [\nc", "X: not valid TOML: line 3 column 1: invalid value"),
        ("a = ", "X: not valid TOML: end of document: invalid value"),
        ("a = 1\na = 2\n", "X: not valid TOML: line 2 column 6: cannot overwrite a value"),
        ("a = " + "[" * 5000, "X: not valid TOML: nested too deeply"),
        ("a = " + "1" * 5000, "X: not valid TOML: exceeds the limit (4300"),
    ],
)
@pytest.mark.parametrize("reader", [read_pylock, read_uv_lock, read_pyproject])
def test_refuses_invalid_toml(reader: Reader, text: str, message: str) -> None:
    assert error(reader, text).startswith(message)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("pylock", "X: lock-version: missing required value"),
        ("uv-lock", "X: uv.lock version None is not supported (only 1)"),
        ("pyproject", "X: neither [project] nor [dependency-groups]: nothing to mirror"),
        ("script", "X: no '# /// script' metadata block (PEP 723)"),
    ],
)
def test_refuses_an_empty_file(kind: str, message: str) -> None:
    assert error(READERS[kind], b"") == message


@pytest.mark.parametrize("kind", READERS)
def test_accepts_a_utf8_bom(kind: str) -> None:
    text = data(SAMPLES[kind])
    assert READERS[kind](b"\xef\xbb\xbf" + text, "X") == READERS[kind](text, "X")


# --- pylock.toml -------------------------------------------------------------------------

TINY = [
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "click==8.5.1",
    'colorama==0.4.6; sys_platform == "win32"',
    'exceptiongroup==1.3.2; python_full_version < "3.11"',
    "idna==3.20",
    "iniconfig==2.3.1",
    "markdown-it-py==4.3.0",
    "mdurl==0.1.2",
    "packaging==26.4",
    "pluggy==1.7.0",
    "pygments==2.21.0",
    "pytest==9.2.0",
    "requests==2.34.2",
    "rich==15.0.0",
    'tomli==2.5.0; python_full_version < "3.11"',
    'typing-extensions==4.16.0; python_full_version < "3.11"',
    "urllib3==2.8.0",
]
CERTIFI_WHEEL = ("sha256", "1324c476b4811eff41a8bc2122cd0bbd4d9c7234c725446d99ab1612b3a7fdd2")


def test_pylock_real_export() -> None:
    result = read_pylock(data("uv-tiny/pylock.toml"), "pylock.toml")
    # uv exports the dev group by default, not the extra: no rich, markdown-it-py, mdurl.
    extra = ("rich", "mdurl", "markdown-it-py")
    assert requirements(result) == [r for r in TINY if r.split("==")[0] not in extra]
    assert sources(result)[:2] == ["pylock.toml:packages[0]", "pylock.toml:packages[1]"]
    assert result.requires_python == ((">=3.10", "pylock.toml"),)
    assert all(root.locked for root in result.requirements)
    assert result.requirements[0].hashes == {CERTIFI_WHEEL}
    assert len(result.requirements[1].hashes) == 3  # the sdist and two wheels


@pytest.mark.parametrize(
    ("lock", "pylock"),
    [
        ("uv-tiny/uv.lock", "uv-tiny/pylock.all.toml"),
        ("uv-forky/uv.lock", "uv-forky/pylock.toml"),
    ],
)
def test_pylock_export_and_uv_lock_give_the_same_requirements(lock: str, pylock: str) -> None:
    # uv's own export (--all-extras --all-groups) is the oracle for our reading of uv.lock.
    from_lock = read_uv_lock(data(lock), "uv.lock")
    from_export = read_pylock(data(pylock), "pylock.toml")
    assert [(str(r.requirement), r.hashes) for r in from_lock.requirements] == [
        (str(r.requirement), r.hashes) for r in from_export.requirements
    ]


def test_pylock_skips_directory_packages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="selmirror.inputfiles")
    result = read_pylock(data("uv-forky/pylock.toml"), "pylock.toml")
    assert "forky" not in {root.name for root in result.requirements}
    assert caplog.messages == [
        "pylock.toml: packages[2]: forky skipped: a local directory",
        "pylock.toml: packages[3]: helper skipped: a local directory",
    ]


def test_pylock_keeps_each_entry_of_a_name_locked_twice() -> None:
    result = read_pylock(data("uv-forky/pylock.toml"), "pylock.toml")
    idna = [(str(r.requirement), r.source) for r in result.requirements if r.name == "idna"]
    assert idna == [
        ('idna==3.4; sys_platform == "win32"', "pylock.toml:packages[4]"),
        ('idna==3.20; sys_platform != "win32"', "pylock.toml:packages[5]"),
    ]


PYLOCK_HEAD = 'lock-version = "1.0"\ncreated-by = "hand"\n'


def packages(body: str = 'version = "1.0"', name: str = "a", version: str = "1.0") -> str:
    """One [[packages]] with one wheel (sha256 H256); ``body`` goes before the wheel."""
    wheel = f"https://x/{name}-{version}-py3-none-any.whl"
    files = f'wheels = [{{ url = "{wheel}", hashes = {{ sha256 = "{H256}" }} }}]'
    return f'[[packages]]\nname = "{name}"\n{body}\n{files}\n'


SDIST_MANY_HASHES = (
    '[[packages]]\nname = "a"\nversion = "1.0"\nsdist = { url = "https://x/a-1.0.tar.gz", '
    f'hashes = {{ md5 = "abc", sha384 = "{H384}", sha512 = "{H512.upper()}" }} }}\n'
)


@pytest.mark.parametrize(
    ("text", "expected", "hashes"),
    [
        (packages(), "a==1.0", {("sha256", H256)}),
        (packages(""), "a==1.0", {("sha256", H256)}),  # no version: the files name it
        (
            packages('version = "1.0"\nmarker = "os_name == \'nt\'"'),
            'a==1.0; os_name == "nt"',
            None,
        ),
        # Only an installer's choice of groups or extras decides: the mirror holds it anyway.
        (packages('version = "1.0"\nmarker = "\'dev\' in dependency_groups"'), "a==1.0", None),
        (
            packages("version = \"1.0\"\nmarker = \"'x' in extras and os_name == 'nt'\""),
            "a==1.0",
            None,
        ),
        (SDIST_MANY_HASHES, "a==1.0", {("sha384", H384), ("sha512", H512)}),
        # environments and index are not the mirror's business.
        (
            "environments = [\"os_name == 'nt'\"]\n" + packages('index = "https://x/simple"'),
            "a==1.0",
            None,
        ),
    ],
)
def test_pylock_hand_written(text: str, expected: str, hashes: set[tuple[str, str]] | None) -> None:
    result = read_pylock((PYLOCK_HEAD + text).encode(), "X")
    assert requirements(result) == [expected]
    assert result.requirements[0].hashes == (hashes or {("sha256", H256)})
    assert result.requirements[0].locked


def test_pylock_environments_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="selmirror.inputfiles")
    text = PYLOCK_HEAD + "environments = [\"os_name == 'nt'\"]\npackages = []\n"
    assert read_pylock(text.encode(), "X").requirements == ()
    assert caplog.messages == ["X: environments ignored: ['os_name == \"nt\"']"]


VCS = (
    '[[packages]]\nname = "a"\nvcs = { type = "git", url = "https://x/a.git", commit-id = "ab" }\n'
)
ARCHIVE = (
    '[[packages]]\nname = "a"\n'
    f'archive = {{ url = "https://x/a.zip", hashes = {{ sha256 = "{H256}" }} }}\n'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            packages().replace(f'sha256 = "{H256}"', ""),
            "X: packages[0].wheels[0].hashes: at least one hash must be provided",
        ),
        (
            packages().replace(f'sha256 = "{H256}"', 'md5 = "ab"'),
            f"X: packages[0].wheels[0]: {NO_HASH}",
        ),
        (
            packages().replace(H256, "abc"),
            "X: packages[0].wheels[0]: sha256 needs 64 hex digits, not 'abc'",
        ),
        (
            packages().replace(H256, "g" * 64),
            "X: packages[0].wheels[0]: sha256 needs 64 hex digits, not 'gggggggggggg",
        ),
        (
            packages() + packages(name="b").replace(H256, "a" * 63),
            "X: packages[1].wheels[0]: sha256 needs 64 hex digits, not 'aaaaaaaaaa",
        ),
        (VCS, "X: packages[0]: a comes from a VCS repository, not an index"),
        (ARCHIVE, "X: packages[0]: a comes from an archive URL or path, not an index"),
        (packages(name="A"), "X: packages[0].name: name 'A' is not normalized"),
        (
            packages('version = "1.0"\nmarker = "os_name =="'),
            "X: packages[0].marker: expected a marker variable or quoted string",
        ),
        (
            packages('version = "2.0"'),
            "X: packages[0].wheels[0]: version in 'a-1.0-py3-none-any.whl' is not consistent",
        ),
        ("packages = {}\n", "X: packages: unexpected type dict (expected Sequence)"),
        ("packages = [1]\n", "X: packages[0]: unexpected type int (expected Mapping)"),
        (
            '[[packages]]\nname = "a"\n',
            "X: packages[0]: exactly one of vcs, directory, archive must be set",
        ),
        (
            'requires-python = ">=x"\npackages = []\n',
            "X: requires-python: invalid specifier: '>=x'",
        ),
    ],
)
def test_pylock_refuses(text: str, message: str) -> None:
    assert error(read_pylock, PYLOCK_HEAD + text).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'lock-version = "2.0"\ncreated-by = "x"\npackages = []\n',
            "X: pylock version 2.0 is not supported",
        ),
        ('lock-version = "1.0"\npackages = []\n', "X: created-by: missing required value"),
    ],
)
def test_pylock_refuses_the_header(text: str, message: str) -> None:
    assert error(read_pylock, text) == message


def test_pylock_refuses_a_real_archive_package() -> None:
    message = error(read_pylock, data("uv-urldep/pylock.toml"))
    assert message == "X: packages[1]: mdurl comes from an archive URL or path, not an index"


# --- uv.lock: real files -----------------------------------------------------------------


def test_uv_lock_tiny_holds_every_extra_and_group() -> None:
    result = read_uv_lock(data("uv-tiny/uv.lock"), "uv.lock")
    assert requirements(result) == TINY  # rich from the extra, pytest from the dev group
    assert sources(result)[:2] == [
        "uv.lock:certifi 2026.10.19.post1",
        "uv.lock:charset-normalizer 3.5.3",
    ]
    assert result.requires_python == ((">=3.10", "uv.lock"),)
    assert all(root.locked and root.hashes for root in result.requirements)
    assert result.requirements[0].hashes == {CERTIFI_WHEEL}


def test_uv_lock_forky_forks_extras_on_edges_and_members() -> None:
    result = read_uv_lock(data("uv-forky/uv.lock"), "uv.lock")
    assert requirements(result) == [
        "certifi==2026.10.19.post1",
        "charset-normalizer==3.5.3",
        # one name, two versions, one per fork: each with its own marker
        'idna==3.4; sys_platform == "win32"',
        'idna==3.20; sys_platform != "win32"',
        "iniconfig==2.3.1",  # the dev group
        "markdown-it-py==4.3.0",
        "mdurl==0.1.2",  # through the workspace member helper
        "pygments==2.21.0",
        "pysocks==1.7.1",  # only through requests[socks]: an extra on an edge
        "requests==2.34.2",
        "rich==15.0.0",  # the extras fancy and all (a self-reference uv flattened)
        'tomli==2.5.0; python_full_version < "3.11"',  # the lint group, included by dev
        "urllib3==2.8.0",
    ]


def test_uv_lock_conflict_markers_hold_both_sides(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="selmirror.inputfiles")
    found = requirements(read_uv_lock(data("uv-conflict/uv.lock"), "uv.lock"))
    # pytest 9.2.0 reaches each exceptiongroup under a marker that names uv's conflicting
    # extras (extra == 'extra-8-conflict-new'): taken as always, since either may be chosen.
    assert {"exceptiongroup==1.1.3", "exceptiongroup==1.3.2"} <= set(found)
    assert {"pytest==6.2.5", "pytest==9.2.0"} <= set(found)
    assert 'atomicwrites==1.4.1; sys_platform == "win32"' in found
    assert caplog.messages[0].startswith("uv.lock: package[12].dependencies[1].marker: (python")
    assert caplog.messages[0].endswith('extra == "extra-8-conflict-old") taken as always true')


def test_uv_lock_of_a_script_starts_from_the_manifest_requirements() -> None:
    result = read_uv_lock(data("uv-script/hello.py.lock"), "hello.py.lock")
    assert requirements(result) == [
        'colorama==0.4.6; sys_platform == "win32"',
        "markdown-it-py==4.3.0",
        "mdurl==0.1.2",
        "pygments==2.21.0",
        "rich==15.0.0",
    ]
    assert result.requires_python == ((">=3.11", "hello.py.lock"),)


def test_uv_lock_of_a_virtual_workspace_root_reads_the_manifest_groups() -> None:
    result = read_uv_lock(data("uv-virtual/uv.lock"), "uv.lock")
    assert requirements(result) == [
        'colorama==0.4.6; sys_platform == "win32"',
        "iniconfig==2.3.1",
        "mdurl==0.1.2",
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "uv-pathdep/uv.lock",
            "X: package[0]: localdep 0.5 comes from a local directory '../localdep', not an index",
        ),
        (
            "uv-urldep/uv.lock",
            "X: package[1]: mdurl 0.1.2 comes from a URL "
            "'https://files.pythonhosted.org/packages/b3/38/89ba8ad64ae25b...', not an index",
        ),
    ],
)
def test_uv_lock_refuses_real_packages_from_outside_an_index(path: str, message: str) -> None:
    assert error(read_uv_lock, data(path)) == message


# --- uv.lock: the graph, on hand-written locks -------------------------------------------

REGISTRY = '{ registry = "https://pypi.org/simple" }'


def digest(name: str, version: str) -> str:
    return hashlib.sha256(f"{name}-{version}".encode()).hexdigest()


def pkg(
    name: str, deps: str = "", *, version: str = "1.0", source: str = REGISTRY, more: str = ""
) -> str:
    """One [[package]]; ``deps`` is the inside of its dependencies array, ``more`` follows."""
    text = f'[[package]]\nname = "{name}"\nversion = "{version}"\nsource = {source}\n'
    text += f"dependencies = [{deps}]\n" if deps else ""
    if source == REGISTRY:
        url = f"https://x/{name}-{version}.tar.gz"
        text += f'sdist = {{ url = "{url}", hash = "sha256:{digest(name, version)}" }}\n'
    return text + more


def root(deps: str = "", more: str = "") -> str:
    return pkg("proj", deps, source='{ virtual = "." }', more=more)


def table(key: str, **lists: str) -> str:
    """A ``[package.KEY]`` table, each list the inside of an array of entries."""
    return f"[package.{key}]\n" + "".join(f"{name} = [{deps}]\n" for name, deps in lists.items())


def uv(*packages: str, head: str = "") -> bytes:
    return ("version = 1\nrevision = 5\n" + head + "".join(packages)).encode()


def dep(name: str, marker: str = "", extra: str = "", version: str = "") -> str:
    fields = [f'name = "{name}"']
    fields += [f'version = "{version}"'] if version else []
    fields += [f'marker = "{marker}"'] if marker else []
    fields += [f"extra = [{extra}]"] if extra else []
    return "{ " + ", ".join(fields) + " }, "


M1, M2, M3 = "sys_platform == 'win32'", "python_full_version < '3.11'", "os_name == 'posix'"
S1, S2 = 'sys_platform == "win32"', 'python_full_version < "3.11"'
EITHER = "os_name == 'nt' or os_name == 'posix'"
MEMBERS = '[manifest]\nmembers = ["proj", "helper"]\n'
MANIFEST = (
    '[manifest]\nrequirements = [{ name = "a", specifier = ">=2", marker = "os_name == \'nt\'" },'
    ' { name = "b", extras = ["x"] }]\n'
)


@pytest.mark.parametrize(
    ("lock", "expected"),
    [
        pytest.param(uv(root(dep("a")), pkg("a")), ["a==1.0"], id="always"),
        pytest.param(
            uv(root(dep("a", M1)), pkg("a", dep("b", M2)), pkg("b")),
            [f"a==1.0; {S1}", f"b==1.0; {S2} and {S1}"],
            id="and-along-a-path",
        ),
        pytest.param(
            uv(root(dep("a", M1) + dep("b", M2)), pkg("a", dep("c")), pkg("b", dep("c")), pkg("c")),
            [f"a==1.0; {S1}", f"b==1.0; {S2}", f"c==1.0; {S2} or {S1}"],
            id="or-across-paths",
        ),
        pytest.param(
            uv(root(dep("a", M1) + dep("b", M1)), pkg("a"), pkg("b", dep("a", M2))),
            [f"a==1.0; {S1}", f"b==1.0; {S1}"],
            id="a-clause-containing-another-is-dropped",
        ),
        pytest.param(
            uv(root(dep("a", M1) + dep("b")), pkg("a"), pkg("b", dep("a"))),
            ["a==1.0", "b==1.0"],
            id="an-unconditional-path-wins",
        ),
        pytest.param(
            uv(root(dep("a", M1)), pkg("a", dep("b", M2)), pkg("b", dep("a", M3))),
            [f"a==1.0; {S1}", f"b==1.0; {S2} and {S1}"],
            id="a-cycle",
        ),
        pytest.param(
            uv(root(dep("a")), pkg("a", dep("a") + dep("b")), pkg("b", dep("a"))),
            ["a==1.0", "b==1.0"],
            id="a-cycle-and-a-self-loop",
        ),
        pytest.param(uv(root(dep("a")), pkg("a"), pkg("x")), ["a==1.0"], id="unreached-left-out"),
        pytest.param(
            uv(root(dep("a", EITHER)), pkg("a", dep("b", M2)), pkg("b")),
            [
                'a==1.0; os_name == "nt" or os_name == "posix"',
                f'b==1.0; (os_name == "nt" or os_name == "posix") and {S2}',
            ],
            id="an-or-inside-an-and",
        ),
        pytest.param(
            uv(
                root(dep("a", M1, '"x"')),
                pkg("a", more=table("optional-dependencies", x=dep("c"), y=dep("d"))),
                pkg("c"),
                pkg("d"),
            ),
            [f"a==1.0; {S1}", f"c==1.0; {S1}"],
            id="an-extra-on-an-edge-and-not-the-others",
        ),
        pytest.param(
            uv(root(dep("a")), pkg("a", more=table("optional-dependencies", x=dep("c"))), pkg("c")),
            ["a==1.0"],
            id="no-extra-of-a-dependency-unless-asked",
        ),
        pytest.param(
            uv(
                root(
                    more=table("optional-dependencies", x=dep("a"))
                    + table("dev-dependencies", dev=dep("b", "os_name == 'nt'"))
                ),
                pkg("a"),
                pkg("b"),
            ),
            ["a==1.0", 'b==1.0; os_name == "nt"'],
            id="every-extra-and-group-of-a-member",
        ),
        pytest.param(
            uv(
                root(
                    dep("a", M1, version="1.0") + dep("a", "sys_platform != 'win32'", version="2")
                ),
                pkg("a"),
                pkg("a", version="2"),
            ),
            [f"a==1.0; {S1}", 'a==2; sys_platform != "win32"'],
            id="two-versions-two-forks",
        ),
        pytest.param(
            uv(root(dep("a", M1)), pkg("a"), pkg("a", version="2.0")),
            [f"a==1.0; {S1}", f"a==2.0; {S1}"],
            id="ambiguous-entry-reaches-both",
        ),
        pytest.param(
            uv(
                root(dep("helper")),
                pkg("helper", dep("a"), source='{ directory = "helper" }'),
                pkg("a"),
                head=MEMBERS,
            ),
            ["a==1.0"],
            id="a-directory-member-is-a-root",
        ),
        pytest.param(
            uv(root(dep("lib")), pkg("lib", dep("a"), source='{ editable = "../lib" }'), pkg("a")),
            ["a==1.0"],
            id="an-editable-package-is-a-root",
        ),
        pytest.param(
            uv(root(dep("a")), pkg("a"), pkg("g", source='{ git = "https://x/g.git#abc" }')),
            ["a==1.0"],
            id="an-unreached-git-package-is-fine",
        ),
        pytest.param(
            uv(
                pkg("a"),
                pkg("a", version="2.0"),
                pkg("c"),
                pkg("b", more=table("optional-dependencies", x=dep("c"))),
                head=MANIFEST,
            ),
            ['a==2.0; os_name == "nt"', "c==1.0", "b==1.0"],
            id="manifest-requirements",
        ),
    ],
)
def test_uv_lock_graph(lock: bytes, expected: list[str]) -> None:
    result = read_uv_lock(lock, "X")
    assert requirements(result) == expected
    assert all(root.name != "proj" for root in result.requirements)


@pytest.mark.parametrize(("paths", "unconditional"), [(32, False), (33, True)])
def test_uv_lock_more_than_32_clauses_become_unconditional(paths: int, unconditional: bool) -> None:
    middles = [f"m{i}" for i in range(paths)]
    deps = "".join(dep(m, f"platform_release == '{i}'") for i, m in enumerate(middles))
    lock = uv(root(deps), *(pkg(m, dep("z")) for m in middles), pkg("z"))
    z = next(r for r in read_uv_lock(lock, "X").requirements if r.name == "z")
    assert (z.requirement.marker is None) is unconditional
    if not unconditional:
        assert str(z.requirement.marker).count(" or ") == paths - 1


def test_uv_lock_a_node_changed_too_often_becomes_unconditional(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = uv(root(dep("a", M1) + dep("b", M2)), pkg("a", dep("c")), pkg("b", dep("c")), pkg("c"))
    assert requirements(read_uv_lock(lock, "X"))[2] == f"c==1.0; {S2} or {S1}"
    monkeypatch.setattr(inputfiles, "_MAX_UPDATES", 1)  # c changes twice: once from each
    assert requirements(read_uv_lock(lock, "X"))[2] == "c==1.0"


def test_uv_lock_dense_cyclic_graph_terminates() -> None:
    # Every package depends on the next five, round a ring, each edge under its own marker.
    n = 40
    ring = [
        pkg(
            f"p{i}",
            "".join(dep(f"p{(i + k) % n}", f"platform_release == '{i}-{k}'") for k in range(1, 6)),
        )
        for i in range(n)
    ]
    result = read_uv_lock(uv(root(dep("p0")), *ring), "X")
    assert len(result.requirements) == n
    assert result.requirements[0].requirement.marker is None  # p0 is a direct dependency


def no_hash(text: str) -> str:
    return text.replace(f', hash = "sha256:{digest("a", "1.0")}"', "")


UNVERSIONED = '[[package]]\nname = "a"\nsource = { registry = "x" }\n'
NO_FILES = '[[package]]\nname = "a"\nversion = "1"\nsource = { registry = "x" }\n'
SECRET_GIT = '{ git = "https://user:token@github.com/x/a.git?rev=main#abc" }'


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        (b"version = 2\n", "X: uv.lock version 2 is not supported (only 1)"),
        (b"version = true\n", "X: uv.lock version True is not supported (only 1)"),
        (b'version = "1"\n', "X: uv.lock version '1' is not supported (only 1)"),
        (uv(), "X: no workspace member or [manifest] requirements to start from"),
        (uv(pkg("a")), "X: no workspace member or [manifest] requirements to start from"),
        (uv(head="package = {}\n"), "X: package: expected an array, not a table"),
        (uv(head="package = [1]\n"), "X: package[0]: expected a table, not an integer"),
        (uv(head="manifest = []\n"), "X: manifest: expected a table, not an array"),
        (
            uv(head='[manifest]\nmembers = "a"\n'),
            "X: manifest.members: expected an array, not a string",
        ),
        (uv("[[package]]\nname = 1\n"), "X: package[0].name: expected a string, not an integer"),
        (uv('[[package]]\nname = "a"\n'), "X: package[0].source: expected a table, not nothing"),
        (
            uv('[[package]]\nname = "a"\nsource = { foo = "x" }\n'),
            "X: package[0].source: expected one of "
            "registry, editable, virtual, directory, path, git, url",
        ),
        (uv(pkg("a", version="x y")), "X: package[0].version: invalid version: 'x y'"),
        (uv(root('"a"')), "X: package[0].dependencies[0]: expected a table, not a string"),
        (uv(root("{ }")), "X: package[0].dependencies[0].name: expected a string, not nothing"),
        (uv(root(dep("a"))), "X: package[0].dependencies[0]: no locked package matches 'a'"),
        (
            uv(root(dep("a", version="2.0")), pkg("a")),
            "X: package[0].dependencies[0]: no locked package matches 'a 2.0'",
        ),
        (
            uv(root(dep("a", "os_name ==")), pkg("a")),
            "X: package[0].dependencies[0].marker: "
            "expected a marker variable or quoted string in 'os_name =='",
        ),
        (
            uv(root('{ name = "a", marker = 1 }'), pkg("a")),
            "X: package[0].dependencies[0].marker: expected a string, not an integer",
        ),
        (
            uv(root('{ name = "a", extra = "x" }'), pkg("a")),
            "X: package[0].dependencies[0].extra: expected an array, not a string",
        ),
        (
            uv(root(more="[package.optional-dependencies]\nx = 1\n")),
            "X: package[0].optional-dependencies.x: expected an array, not an integer",
        ),
        (
            uv(root(more="dev-dependencies = [1]\n")),
            "X: package[0].dev-dependencies: expected a table, not an array",
        ),
        (
            uv(root(dep("a")), pkg("a", source='{ directory = "../a" }')),
            "X: package[1]: a 1.0 comes from a local directory '../a', not an index",
        ),
        (
            uv(root(dep("a")), pkg("a", source=SECRET_GIT)),
            "X: package[1]: a 1.0 comes from git "
            "'https://****@github.com/x/a.git?rev=main#abc', not an index",
        ),
        (
            uv(root(dep("a")), pkg("a", source='{ path = "a-1.0.whl" }')),
            "X: package[1]: a 1.0 comes from a local path 'a-1.0.whl', not an index",
        ),
        (
            uv(root(dep("a")), pkg("a", source='{ url = "https://x/a-1.0.tar.gz" }')),
            "X: package[1]: a 1.0 comes from a URL 'https://x/a-1.0.tar.gz', not an index",
        ),
        (uv(root(dep("a")), UNVERSIONED), "X: package[1]: a: missing version"),
        (uv(root(dep("a")), NO_FILES), "X: package[1]: a 1: no sdist or wheels"),
        (uv(root(dep("a")), no_hash(pkg("a"))), f"X: package[1].sdist: {NO_HASH}"),
        (
            uv(root(dep("a")), pkg("a").replace("sha256:", "md5:")),
            f"X: package[1].sdist: {NO_HASH}",
        ),
        (uv(root(dep("a")), pkg("a").replace("sha256:", "")), f"X: package[1].sdist: {NO_HASH}"),
        (
            uv(root(dep("a")), pkg("a").replace(digest("a", "1.0"), "abc")),
            "X: package[1].sdist: sha256 needs 64 hex digits, not 'abc'",
        ),
        (
            uv(root(dep("a")), pkg("a", more='wheels = [{ url = "u", hash = "sha256:xyz" }]\n')),
            "X: package[1].wheels[0]: sha256 needs 64 hex digits, not 'xyz'",
        ),
        (
            uv(root(dep("a")), pkg("a", more='wheels = ["u"]\n')),
            "X: package[1].wheels[0]: expected a table, not a string",
        ),
        (
            uv(root(dep("a")), pkg("a", more="wheels = {}\n")),
            "X: package[1].wheels: expected an array, not a table",
        ),
        (
            uv(root(), head='requires-python = ">=x"\n'),
            "X: requires-python: invalid specifier: '>=x'",
        ),
        (
            uv(root(), head="requires-python = 3\n"),
            "X: requires-python: expected a string, not an integer",
        ),
        (
            uv(pkg("a"), head='[manifest]\nrequirements = [{ name = "a", specifier = "=>1" }]\n'),
            "X: manifest.requirements[0].specifier: invalid specifier: '=>1'",
        ),
    ],
)
def test_uv_lock_refuses(lock: bytes, message: str) -> None:
    assert error(read_uv_lock, lock) == message


# --- pyproject.toml ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, ["click>=8", "requests"]),
        ({"extras": ["fancy"]}, ["click>=8", "requests", "rich"]),
        ({"extras": ["Fancy"]}, ["click>=8", "requests", "rich"]),  # names are normalized
        ({"all_extras": True}, ["click>=8", "requests", "rich"]),
        ({"groups": ["dev"]}, ["click>=8", "requests", "pytest"]),
        ({"groups": ["DEV"], "extras": ["fancy"]}, ["click>=8", "requests", "rich", "pytest"]),
    ],
)
def test_pyproject_real(options: dict[str, Any], expected: list[str]) -> None:
    result = read_pyproject(data("uv-tiny/pyproject.toml"), "pyproject.toml", **options)
    assert requirements(result) == expected
    assert result.requires_python == ((">=3.10", "pyproject.toml"),)
    assert not any(root.locked for root in result.requirements)


def test_pyproject_sources_name_the_list() -> None:
    text = data("uv-tiny/pyproject.toml")
    result = read_pyproject(text, "p.toml", extras=["fancy"], groups=["dev"])
    assert sources(result) == [
        "p.toml:[project] dependencies",
        "p.toml:[project] dependencies",
        "p.toml:[project.optional-dependencies] fancy",
        "p.toml:[dependency-groups] dev",
    ]


def test_pyproject_real_self_reference_and_included_group() -> None:
    text = data("uv-forky/pyproject.toml")
    result = read_pyproject(text, "pyproject.toml", extras=["all"], groups=["dev"])
    assert requirements(result) == [
        'idna<3.5; sys_platform == "win32"',
        'idna>=3.5; sys_platform != "win32"',
        "requests[socks]",
        "helper",  # a workspace member: the caller decides; for us it is just a name
        "rich",  # all = ["forky[fancy]"]: forky itself is never asked of the index
        "iniconfig",
        'tomli; python_version < "3.11"',  # {include-group = "lint"}
    ]
    assert sources(result)[4:] == [
        "pyproject.toml:[project.optional-dependencies] fancy",
        "pyproject.toml:[dependency-groups] dev",
        "pyproject.toml:[dependency-groups] dev",
    ]


def test_pyproject_groups_only() -> None:
    result = read_pyproject(data("uv-virtual/pyproject.toml"), "pyproject.toml", groups=["dev"])
    assert requirements(result) == ["iniconfig", 'colorama; sys_platform == "win32"']
    assert result.requires_python == ()


PROJECT = '[project]\nname = "My_Proj"\nversion = "1"\ndependencies = ["base"]\n'
NT, LINUX, PY312 = "os_name == 'nt'", "sys_platform == 'linux'", "python_version < '3.12'"


@pytest.mark.parametrize(
    ("extras", "optional", "expected"),
    [
        pytest.param(["all"], 'a = ["x"]\nall = ["my-proj[a]"]', ["x"], id="expanded"),
        pytest.param(
            ["all"],
            f'a = ["x; {NT}"]\nall = ["my.proj[a]; {PY312}"]',
            ['x; os_name == "nt" and python_version < "3.12"'],
            id="markers-and-ed",
        ),
        pytest.param(
            ["all"],
            f'a = ["x"]\nb = ["my_proj[a]; {NT}"]\nall = ["my_proj[b]; {LINUX}"]',
            ['x; os_name == "nt" and sys_platform == "linux"'],
            id="nested-markers",
        ),
        pytest.param(
            ["a"], 'a = ["my-proj[b]", "x"]\nb = ["my-proj[a]", "y"]', ["y", "x"], id="a-cycle"
        ),
        pytest.param(
            ["a", "b"], 'a = ["my-proj[b]", "x"]\nb = ["y"]', ["y", "x"], id="each-extra-once"
        ),
        pytest.param(
            ["a"],
            f'a = ["my-proj[b]; {NT}", "x"]\nb = ["my-proj[a]; {LINUX}", "y"]',
            ['y; os_name == "nt"', "x"],
            id="a-cycle-with-markers",
        ),
        pytest.param(["a"], 'a = ["my-proj", "x"]', ["x"], id="itself-without-extras"),
        pytest.param([], 'a = ["x"]', [], id="no-extras-asked"),
    ],
)
def test_pyproject_self_references(extras: list[str], optional: str, expected: list[str]) -> None:
    text = f"{PROJECT}[project.optional-dependencies]\n{optional}\n"
    assert requirements(read_pyproject(text.encode(), "X", extras=extras)) == ["base", *expected]


def test_pyproject_self_reference_in_a_group() -> None:
    text = PROJECT + '[project.optional-dependencies]\ntest = ["x"]\n'
    text += '[dependency-groups]\ndev = ["my-proj[test]"]\n'
    assert requirements(read_pyproject(text.encode(), "X", groups=["dev"])) == ["base", "x"]


def test_pyproject_self_references_cannot_explode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Eight extras that each name all the others, each under its own marker: the markers make
    # every path new, so only the budget ends it.
    names = [f"e{i}" for i in range(8)]
    lines = [
        f"{n} = [" + ", ".join(f"\"my-proj[{m}]; platform_release == '{n}'\"" for m in names) + "]"
        for n in names
    ]
    text = PROJECT + "[project.optional-dependencies]\n" + "\n".join(lines) + "\n"
    monkeypatch.setattr(inputfiles, "_MAX_EXPANSIONS", 100)  # the real one costs seconds
    message = error(read_pyproject, text, all_extras=True)
    assert message == "X: [project] extras name each other too many times"


URL = "a @ https://x/a.whl"
GROUPS = {"groups": ["dev"]}


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (
            "[tool.uv]\nx = 1\n",
            {},
            "X: neither [project] nor [dependency-groups]: nothing to mirror",
        ),
        ("project = []\n", {}, "X: [project]: expected a table, not an array"),
        (
            '[project]\ndependencies = "a"\n',
            {},
            "X: [project] dependencies: expected an array, not a string",
        ),
        (
            '[project]\ndependencies = ["a", 1]\n',
            {},
            "X: [project] dependencies[1]: expected a string, not an integer",
        ),
        (
            '[project]\ndependencies = ["a", ["b"]]\n',
            {},
            "X: [project] dependencies[1]: expected a string, not an array",
        ),
        (
            '[project]\ndependencies = ["a ==="]\n',
            {},
            "X:[project] dependencies: invalid requirement 'a ===': Expected semicolon",
        ),
        (
            f'[project]\ndependencies = ["{URL}"]\n',
            {},
            f"X:[project] dependencies: direct URL requirements are not supported: '{URL}'",
        ),
        ('[project]\ndynamic = ["dependencies"]\n', {}, f"X: [project] dependencies {DYNAMIC}"),
        (
            '[project]\ndynamic = ["optional-dependencies"]\n',
            {"extras": ["a"]},
            f"X: [project] optional-dependencies {DYNAMIC}",
        ),
        (
            '[project]\ndynamic = ["optional-dependencies"]\n',
            {"all_extras": True},
            f"X: [project] optional-dependencies {DYNAMIC}",
        ),
        (
            '[project]\ndynamic = "dependencies"\n',
            {},
            "X: [project] dynamic: expected an array, not a string",
        ),
        (
            '[project.optional-dependencies]\na = ["x"]\nb = ["y"]\n',
            {"extras": ["c"]},
            "X: no extra 'c' in [project] optional-dependencies (known: a, b)",
        ),
        (
            '[project]\nname = "p"\n',
            {"extras": ["c"]},
            "X: no extra 'c' in [project] optional-dependencies (known: none)",
        ),
        (
            '[project]\noptional-dependencies = ["x"]\n',
            {},
            "X: [project] optional-dependencies: expected a table, not an array",
        ),
        (
            '[project.optional-dependencies]\na = "x"\n',
            {"extras": ["a"]},
            "X: [project.optional-dependencies] a: expected an array, not a string",
        ),
        (
            '[project]\nname = "p"\n[project.optional-dependencies]\na = ["p[zzz]"]\n',
            {"extras": ["a"]},
            "X: [project.optional-dependencies] a: 'p[zzz]' names an unknown extra 'zzz'",
        ),
        (
            '[dependency-groups]\ndev = ["a"]\ntest = ["b"]\n',
            {"groups": ["lint"]},
            "X: no dependency group 'lint' (known: dev, test)",
        ),
        ('[project]\nname = "p"\n', GROUPS, "X: no dependency group 'dev' (known: none)"),
        (
            "dependency-groups = []\n",
            GROUPS,
            "X: [dependency-groups]: expected a table, not an array",
        ),
        (
            '[dependency-groups]\ndev = "a"\n',
            GROUPS,
            "X: [dependency-groups]: dependency group 'dev' contained a string rather than a list.",
        ),
        (
            "[dependency-groups]\ndev = [1]\n",
            GROUPS,
            "X: [dependency-groups]: invalid dependency group item: 1",
        ),
        (
            '[dependency-groups]\ndev = [{include-group = "dev"}]\n',
            GROUPS,
            "X: [dependency-groups]: "
            "cyclic dependency group include while resolving dev: dev includes itself",
        ),
        (
            '[dependency-groups]\ndev = [{include-group = "nope"}]\n',
            GROUPS,
            "X: [dependency-groups]: dependency group 'nope' not found",
        ),
        ('[dependency-groups]\ndev = ["a ==="]\n', GROUPS, "X: [dependency-groups]: expected"),
        (
            f'[dependency-groups]\ndev = ["{URL}"]\n',
            GROUPS,
            "X:[dependency-groups] dev: direct URL requirements are not supported",
        ),
        (
            '[project]\nrequires-python = ">=x"\n',
            {},
            "X: [project] requires-python: invalid specifier: '>=x'",
        ),
        (
            "[project]\nrequires-python = 3.1\n",
            {},
            "X: [project] requires-python: expected a string, not a float",
        ),
    ],
)
def test_pyproject_refuses(text: str, options: dict[str, Any], message: str) -> None:
    assert error(read_pyproject, text, **options).startswith(message)


# --- PEP 723 scripts ---------------------------------------------------------------------


def test_script_real() -> None:
    result = read_script(data("uv-script/hello.py"), "hello.py")
    assert requirements(result) == ["rich", 'colorama; sys_platform == "win32"']
    assert sources(result) == ["hello.py:script dependencies"] * 2
    assert result.requires_python == ((">=3.11", "hello.py"),)


SCRIPT = """\
#!/usr/bin/env python
# /// script
# requires-python = ">=3.12"
# dependencies = [
#   "a>=1",
#
# ]
# ///
import a
"""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(SCRIPT, id="plain"),
        pytest.param(SCRIPT.replace("\n", "\r\n"), id="crlf"),
        pytest.param(SCRIPT.replace("\n", "\r"), id="cr"),
        pytest.param("# /// pyproject\n# x = 1\n# ///\n\n" + SCRIPT, id="another-block-first"),
        pytest.param("# /// script\n" + SCRIPT, id="a-stray-start-line"),
    ],
)
def test_script_blocks(text: str) -> None:
    result = read_script(text.encode(), "X")
    assert requirements(result) == ["a>=1"]
    assert result.requires_python == ((">=3.12", "X"),)


def test_script_without_dependencies() -> None:
    result = read_script(b'# /// script\n# requires-python = ">=3.12"\n# ///\n', "X")
    assert result.requirements == ()


UNREAD = "X: its '# /// script' line starts no block PEP 723 can read"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("print(1)\n", "X: no '# /// script' metadata block (PEP 723)"),
        ("# /// script\n# dependencies = []\n", UNREAD),
        ("# /// script\n# ///\n", UNREAD),
        (SCRIPT + "\n" + SCRIPT, "X: more than one '# /// script' block (PEP 723 allows one)"),
        (
            SCRIPT.replace('"a>=1",', '"a>=1" 1'),
            "X: not valid TOML: line 5 column 12: unclosed array",
        ),
        (
            SCRIPT.replace('"a>=1",', "1,"),
            "X: script dependencies[0]: expected a string, not an integer",
        ),
        (
            SCRIPT.replace('"a>=1",', f'"{URL}",'),
            f"X:script dependencies: direct URL requirements are not supported: '{URL}'",
        ),
        (
            SCRIPT.replace(">=3.12", ">=x"),
            "X: script requires-python: invalid specifier: '>=x'",
        ),
        (
            "# /// script\n# dependencies = 'a'\n# ///\n",
            "X: script dependencies: expected an array, not a string",
        ),
    ],
)
def test_script_refuses(text: str, message: str) -> None:
    assert error(read_script, text) == message


# --- hostile shapes: values of the real files replaced by other kinds --------------------

REPLACEMENTS = ["true", "[1]", "{}", '"sha256:zz"', '[{ x = "y" }]']
VALUE_RE = re.compile(r'^(#? ?\s*[A-Za-z0-9_."-]+\s*=\s*)(.+)$')
ENTRY_RE = re.compile(r"^(\s+)\{.*\},?$")


def mutations(text: str) -> list[str]:
    """``text`` with one line's value replaced, for each line and each replacement."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        value, entry = VALUE_RE.match(line), ENTRY_RE.match(line)
        for new in REPLACEMENTS if value or entry else []:
            changed = value.group(1) + new if value else f"{entry.group(1)}{new},"  # type: ignore[union-attr]
            out.append("\n".join([*lines[:i], changed, *lines[i + 1 :]]))
    return out


def outcome(reader: Reader, text: str, options: dict[str, Any]) -> str:
    """``ok``, or the message of the InputError; anything else escapes and fails the test."""
    try:
        reader(text.encode(), "X", **options)
    except InputError as exc:
        return str(exc)
    return "ok"


@pytest.mark.parametrize(
    ("path", "reader", "options"),
    [
        ("uv-forky/uv.lock", read_uv_lock, {}),
        ("uv-script/hello.py.lock", read_uv_lock, {}),
        ("uv-virtual/uv.lock", read_uv_lock, {}),
        ("uv-forky/pylock.toml", read_pylock, {}),
        ("uv-forky/pyproject.toml", read_pyproject, {"all_extras": True, "groups": ["dev"]}),
        ("uv-script/hello.py", read_script, {}),
    ],
)
def test_hostile_shapes_give_one_line_errors(
    path: str, reader: Reader, options: dict[str, Any]
) -> None:
    variants = mutations(data(path).decode())
    assert len(variants) >= 10
    outcomes = [outcome(reader, text, options) for text in variants]
    errors = [o for o in outcomes if o != "ok"]
    assert len(errors) > len(variants) // 4
    assert [e for e in errors if "\n" in e or not e.startswith("X")] == []
