"""Property tests of every parser of hostile input (issue 10).

For any input, a parser returns, or raises its documented error type: never another
exception (a traceback), never a hang, never unbounded memory. The strategies build
plausible-but-hostile structures (real wheels and sdists with bytes changed, JSON pages
with odd types in every field, markup with broken constructs, TOML with the keys each
reader looks for), not only random bytes.

Each property runs ``EXAMPLES`` examples, the same ones on every run (``derandomize``).
``SELMIRROR_FUZZ_EXAMPLES=2000`` runs ten times more.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import pickle
import re
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.markers import Marker, default_environment
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from tenacity import Retrying, stop_after_attempt

from selmirror import config, inputfiles
from selmirror.cli import build_parser
from selmirror.errors import InputError, UpstreamError
from selmirror.lazywheel import RangeNotSupported, remote_wheel_metadata
from selmirror.metadata import (
    BadDistribution,
    CoreMetadata,
    parse_core_metadata,
    parse_dependency,
    sdist_core_metadata,
    wheel_metadata,
)
from selmirror.models import RequirementSet
from selmirror.pages import ProjectPage, parse_page
from selmirror.requirements import parse_requirement, read_requirements_file
from selmirror.sdists import BadSdist, SdistContents, read_sdist
from selmirror.state import STATE_DIR, LastRun, PageStore, last_run
from selmirror.upstream import RawPage, Upstream

EXAMPLES = int(os.environ.get("SELMIRROR_FUZZ_EXAMPLES", "200"))  # per property
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FOO = NormalizedName("foo")
URL = "https://files.example/simple/foo/"


@contextmanager
def _folder() -> Iterator[Path]:
    """A fresh temporary folder per example (a pytest fixture would be shared by all)."""
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


# --- requirement strings and requirements files ------------------------------------------

_REQ_WORDS = st.sampled_from(
    ["foo", "Foo_Bar.baz", "x", "[", "]", "extra", ",", "==", "===", ">=", "~=", "!=", "<", "=",
     "1.0", "1.*", "2!1.0+local.7", "1.0.post1.dev2", ";", "python_version", "sys_platform",
     "'3.8'", '"win32"', "and", "or", "(", ")", "@", "https://x.example/y.whl", " ", "\t",
     "\\", "#", "\x00", "é", "\udc80", "..", "/", "file:", "git+", ".whl", ".tar.gz",
     "extra == 'x'", "${HOME}", "${NOPE}", "--hash=sha256:" + "a" * 64, "\r", "\n"]
)  # fmt: skip
_REQUIREMENT = st.one_of(
    st.text(max_size=40),
    st.lists(_REQ_WORDS, max_size=14).map("".join),
    st.lists(st.one_of(_REQ_WORDS, st.text(max_size=3)), max_size=10).map("".join),
)


@FUZZ
@given(_REQUIREMENT)
def test_parse_requirement_returns_or_raises_input_error(text: str) -> None:
    with suppress(InputError):
        parse_requirement(text, "fuzz")


_CODINGS = ["utf-8", "latin-1", "utf-16", "punycode", "idna", "rot13", "base64", "undefined",
            "nosuchcodec", "utf-7", "cp037", "utf_8_sig", "mbcs"]  # fmt: skip
_OPTION_LINES = st.sampled_from(
    ["-r other.txt", "-c other.txt", "-r req.txt", "--requirement=missing.txt", "-r ../",
     "-r a\x00b.txt", "-r " + "x" * 300, "-c /dev/null",
     "-r .", "-rother.txt", "--index-url https://i.example/simple/", "-i", "--pre",
     "--extra-index-url https://u:p@e.example/", "--hash=sha256:" + "a" * 64, "--hash=md5:x",
     "-e .", "--find-links x", "--only-binary :all:", "--no-binary", "--config-settings a=b",
     "--unknown", "-Z", "--pre=1", "-r", "--constraint", "-c https://c.example/c.txt",
     "foo==1.0 --hash=sha256:" + "b" * 64, "foo \\", "# comment \\", "\\", "[project]",
     "name = 'x'", "a = 1", "# /// script", "# ///", "foo @ https://x", "./local.whl"]
)  # fmt: skip


@st.composite
def _requirements_file(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.one_of(_OPTION_LINES, _REQUIREMENT), max_size=8))
    text = "\n".join(lines)
    head = draw(st.sampled_from(["", "bom8", "bom16", "coding"]))
    if head == "coding":
        text = f"# -*- coding: {draw(st.sampled_from(_CODINGS))} -*-\n{text}"
    data = text.encode("utf-8", "surrogatepass")
    if head == "bom8":
        data = b"\xef\xbb\xbf" + data
    elif head == "bom16":
        data = b"\xff\xfe" + text.encode("utf-16-le", "surrogatepass")
    return draw(st.one_of(st.just(data), st.binary(max_size=60), _mutated(data)))


@FUZZ
@given(_requirements_file(), _requirements_file())
def test_read_requirements_file_returns_or_raises_input_error(main: bytes, other: bytes) -> None:
    with _folder() as folder:
        (folder / "req.txt").write_bytes(main)
        (folder / "other.txt").write_bytes(other)
        try:
            result = read_requirements_file(folder / "req.txt", environ={"HOME": "/h"})
        except InputError:
            return
        assert isinstance(result, RequirementSet)


# --- project pages -----------------------------------------------------------------------

_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
_ODD = st.recursive(
    _SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_FILENAMES = st.sampled_from(
    ["foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl", "Foo-2.0.zip", "foo-1.0.post-x.tar.gz",
     "foo-1.0-2-py3-none-any.whl", "foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
     "foo-1.0-py3-none-any.whl.metadata", "foo-1.0-x-y.whl", "bar-1.0.tar.gz", "foo-1.0.egg",
     "foo-1.0.tar.gz/", "../foo-1.0.tar.gz", "foo-1.0\x00.tar.gz", ".foo-1.0.tar.gz",
     "foo-" + "1." * 130 + "0.tar.gz", "foo-1.0-py3-none-any.WHL", "foo_1.0.tar.gz",
     "foo-1.0-py3-none-any-extra.whl", "foo-\u0661.\u0660.tar.gz", "foo-1.0.tar.gz\udc80", "",
     "foo-" + "1" * 5000 + ".tar.gz", "foo-1.0-" + "1" * 5000 + "-py3-none-any.whl"]
)  # fmt: skip
_HASH = "a" * 64
_URLS = st.sampled_from(
    ["foo-1.0.tar.gz", "../../f/foo-1.0.tar.gz", "https://x.example/foo-1.0.tar.gz",
     "http://[::1/foo-1.0.tar.gz", "//[bad/foo-1.0.tar.gz", "http://x]/foo-1.0.tar.gz",
     "https://[::1]:99999/foo-1.0.tar.gz", "https://[v1.x]/foo-1.0.tar.gz",
     "javascript:alert(1)", "file:///etc/foo-1.0.tar.gz", "ftp://x/foo-1.0.tar.gz", "#",
     f"foo-1.0.tar.gz#sha256={_HASH}", "foo-1.0.tar.gz#sha256=zz", "foo-1.0.tar.gz#md5=",
     "foo-1.0.tar.gz#=", "x/..%2Ffoo-1.0.tar.gz", "foo%2F1.0.tar.gz", "https://u:p@x/f.whl",
     "https://x.example/\x00", "https://ex\u00e4mple.org/f", "https://x.example/\udc80",
     "https://\uff0e\uff0e/", "HTTPS://X/foo-1.0.tar.gz", " https://x/ ", ""]
)  # fmt: skip
_HASHES = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(["sha256", "SHA256", "md5", "sha1", "sha512", "blake2b"]),
                  st.text(max_size=6)),
        st.one_of(st.sampled_from([_HASH, "A" * 64, "zz", "a" * 63, ""]), _ODD),
        max_size=3,
    ),
    _ODD,
)  # fmt: skip
_REQUIRES_PYTHON_TEXT = st.sampled_from(
    [">=3.8", ">=3.8,<4", "~=3", "===x", "", "  ", ">=3.8;", "<=é", "\udc80", "==3.*",
     ">=" + "3" * 5000]
)  # fmt: skip
_REQUIRES_PYTHON = st.one_of(_REQUIRES_PYTHON_TEXT, _ODD)
_CORE_METADATA = st.one_of(
    st.sampled_from([True, False, "true", "false", {"sha256": _HASH}, {"sha256": 3},
                     f"sha256={_HASH}", "sha256=zz", "=", {}]),
    _ODD,
)  # fmt: skip


def _field(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(values, _ODD)


_ENTRY = st.one_of(
    st.fixed_dictionaries(
        {"filename": _field(_FILENAMES), "url": _field(_URLS)},
        optional={
            "hashes": _HASHES,
            "requires-python": _REQUIRES_PYTHON,
            "yanked": _field(st.sampled_from([True, False, "reason", "bad \udc80", ""])),
            "size": _field(st.integers(min_value=-1, max_value=2**70)),
            "upload-time": _field(st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01"])),
            "core-metadata": _CORE_METADATA,
            "dist-info-metadata": _CORE_METADATA,
            "data-dist-info-metadata": _CORE_METADATA,
            "_origin": _field(st.sampled_from(["upstream", "local", "x"])),
        },
    ),
    _ODD,
)
_JSON_PAGE = st.fixed_dictionaries(
    {"files": st.one_of(st.lists(_ENTRY, max_size=6), _ODD)},
    optional={
        "meta": st.one_of(
            st.fixed_dictionaries(
                {"api-version": _field(st.sampled_from(["1.0", "1.4", "1.99", "2.0", "1", "x"]))}
            ),
            _ODD,
        ),
        "name": _field(st.sampled_from(["foo", "FOO", "bar", ""])),
        "project-status": _field(
            st.fixed_dictionaries({"status": _field(st.sampled_from(["active", "quarantined"]))})
        ),
    },
)


@st.composite
def _json_body(draw: st.DrawFn) -> bytes:
    body = json.dumps(draw(_JSON_PAGE)).encode()
    depth = draw(st.sampled_from([0, 0, 0, 50, 900, 5000, 100_000]))
    if depth:  # a value nested deeper than anything reads it: as the last entry's field
        nested = b'{"filename": "foo-9.0.tar.gz", "url": ' + b"[" * depth + b"]" * depth + b"}"
        body = body.replace(b'"files": [', b'"files": [' + nested + b", ", 1)
        if b'"files": [' not in body:
            body = b"[" * depth + body + b"]" * depth
    return draw(st.one_of(st.just(body), _mutated(body), st.binary(max_size=40)))


_MARKUP_WORDS = st.sampled_from(
    ["<", ">", "</a>", "</a", "<a", "<a href=", "<A HREF='", '"', "'", "=", "/", "/>", " ",
     "<!--", "-->", "<!", "<![CDATA[", "]]>", "<?", "?>", "&", "&#", "&#x110000;", "&#0;",
     "&amp", "&eacute;", "<script>", "</script>", "<style>", "<base href=", "<meta name=",
     "content=", "pypi:repository-version", "pypi:project-status", "quarantined",
     "data-yanked", "data-requires-python=", "data-core-metadata=", "data-size=", "²",
     "data-dist-info-metadata=", "data-upload-time=", "\x00", "\n", "é", "\udc80"]
)  # fmt: skip


@st.composite
def _anchor(draw: st.DrawFn) -> str:
    attrs = {
        "href": draw(_URLS),
        **draw(
            st.dictionaries(
                st.sampled_from(["data-yanked", "data-requires-python", "data-core-metadata",
                                 "data-dist-info-metadata", "data-size", "data-upload-time"]),
                st.one_of(st.none(), _REQUIRES_PYTHON_TEXT,
                          st.sampled_from(["12", "²", "1" * 30, f"sha256={_HASH}", "true"])),
                max_size=3,
            )
        ),
    }  # fmt: skip
    quote = draw(st.sampled_from(['"', "'", ""]))
    parts = [k if v is None else f"{k}={quote}{v}{quote}" for k, v in attrs.items()]
    text = draw(st.one_of(_FILENAMES, st.just("")))
    return f"<a {' '.join(parts)}>{text}</a>"


@st.composite
def _html_body(draw: st.DrawFn) -> tuple[bytes, str]:
    pieces = draw(
        st.lists(
            st.one_of(
                _anchor(),
                _MARKUP_WORDS,
                st.sampled_from(
                    ['<base href="http://[::1/">', '<base href="https://cdn.example/x/">',
                     '<meta name="pypi:repository-version" content="2.0">',
                     '<meta name="pypi:repository-version" content="x">',
                     '<meta name="pypi:project-status" content="quarantined">']
                ),
            ),
            max_size=12,
        )
    )  # fmt: skip
    text = "".join(pieces) * draw(st.sampled_from([1, 1, 1, 200]))
    charset = draw(st.one_of(st.none(), st.sampled_from(_CODINGS), st.text(max_size=8)))
    content_type = draw(st.sampled_from(["text/html", "application/vnd.pypi.simple.v1+html"]))
    if charset is not None:
        content_type += f"; charset={charset}"
    body = text.encode("utf-8", "surrogatepass")
    return draw(st.one_of(st.just(body), _mutated(body))), content_type


def _use(page: ProjectPage) -> None:
    """Everything a run asks of a page, and the trip a worker process gives it."""
    for version in page.versions():
        page.files_of(version)
        page.rejected_of(version)
        page.filenames_of(version)
    sent = pickle.loads(pickle.dumps(page))
    assert sent.files == page.files
    assert sent.rejected == page.rejected
    page.find("foo-1.0.tar.gz")
    for f in page.files:
        f.url.encode()  # every accepted URL can be sent
        str(f.yanked).encode()  # and every text written to a page
        if f.requires_python is not None:  # and each target can compare its Python with it
            SpecifierSet(f.requires_python).contains("3.12.0", prereleases=True)


def _parse_page(body: bytes, content_type: str) -> None:
    try:
        page = parse_page(body, content_type, url=URL, project=FOO)
    except UpstreamError:
        return
    _use(page)


@FUZZ
@given(_json_body(), st.sampled_from(["application/vnd.pypi.simple.v1+json", "application/json"]))
def test_parse_json_page_returns_or_raises_upstream_error(body: bytes, content_type: str) -> None:
    _parse_page(body, content_type)


@FUZZ
@given(_html_body())
def test_parse_html_page_returns_or_raises_upstream_error(page: tuple[bytes, str]) -> None:
    _parse_page(*page)


# --- archives: wheels and sdists with bytes changed ---------------------------------------


# The fields of a zip header (APPNOTE 4.3) by signature: offset and width.
_ZIP_FIELDS = {
    b"PK\x01\x02": [(6, 2), (8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2),
                     (32, 2), (42, 4)],
    b"PK\x03\x04": [(4, 2), (6, 2), (8, 2), (18, 4), (22, 4), (26, 2), (28, 2)],
    b"PK\x05\x06": [(4, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
}  # fmt: skip
_FIELD_VALUES = st.one_of(
    st.sampled_from([0, 1, 8, 9, 12, 14, 20, 63, 64, 99, 0x800, 0xFFFF, 0xFFFFFFFF]),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
)


@st.composite
def _mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few edits: to a byte anywhere, or to a field of a zip header (the
    compression method, the sizes, the offsets, the version needed, ...)."""
    out = bytearray(data)
    heads = [(m.start(), m.group()) for m in re.finditer(rb"PK\x01\x02|PK\x03\x04|PK\x05\x06", out)]
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            out += draw(st.binary(max_size=8))
            continue
        if heads and draw(st.booleans()):
            at, signature = draw(st.sampled_from(heads))
            offset, width = draw(st.sampled_from(_ZIP_FIELDS[signature]))
            value = draw(_FIELD_VALUES) % (1 << (8 * width))
            out[at + offset : at + offset + width] = value.to_bytes(width, "little")
            continue
        at = draw(st.integers(0, len(out) - 1))
        edit = draw(st.sampled_from(["flip", "zero", "ones", "cut", "insert", "delete", "swap"]))
        if edit == "flip":
            out[at] ^= draw(st.integers(1, 255))
        elif edit in ("zero", "ones"):
            width = draw(st.sampled_from([1, 2, 4, 8]))
            out[at : at + width] = (b"\0" if edit == "zero" else b"\xff") * width
        elif edit == "cut":
            del out[at:]
        elif edit == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del out[at : at + draw(st.integers(1, 64))]
        else:
            other = draw(st.integers(0, len(out) - 1))
            out[at], out[other] = out[other], out[at]
    return bytes(out)


WHEEL = "foo-1.0-py3-none-any.whl"
METADATA = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: bar>=1\n"


def _zip(members: list[tuple[str, bytes]], method: int, *, comment: bytes = b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in members:
            archive.writestr(name, data)
        archive.comment = comment
    return out.getvalue()


def _zip64(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(data)
    return out.getvalue()


_WHEEL_MEMBERS = [
    ("foo/__init__.py", b"x = 1\n" * 20),
    ("foo-1.0.dist-info/METADATA", METADATA),
    ("foo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nTag: py3-none-any\n"),
    ("foo-1.0.dist-info/RECORD", b""),
]
WHEELS = [
    _zip(_WHEEL_MEMBERS, zipfile.ZIP_DEFLATED),
    _zip(_WHEEL_MEMBERS, zipfile.ZIP_STORED),
    _zip(_WHEEL_MEMBERS, zipfile.ZIP_BZIP2),
    _zip(_WHEEL_MEMBERS, zipfile.ZIP_LZMA),
    _zip(_WHEEL_MEMBERS, zipfile.ZIP_DEFLATED, comment=b"a comment"),
    b"#!/bin/sh\n" + _zip(_WHEEL_MEMBERS, zipfile.ZIP_DEFLATED),
    _zip64(_WHEEL_MEMBERS),
    _zip([(n.replace("foo-1.0", "foo-1.0 "), d) for n, d in _WHEEL_MEMBERS], zipfile.ZIP_STORED),
    _zip([("foo-1.0.dist-info/METADATA", bz2.compress(b"\0" * (1 << 20)))], zipfile.ZIP_STORED),
]
_WHEEL_BYTES = st.sampled_from(WHEELS).flatmap(lambda w: st.one_of(st.just(w), _mutated(w)))


@FUZZ
@given(_WHEEL_BYTES)
def test_wheel_metadata_returns_or_raises_bad_distribution(wheel: bytes) -> None:
    try:
        data = wheel_metadata(io.BytesIO(wheel), WHEEL)
    except BadDistribution:
        return
    assert len(data) <= 10 << 20
    _use_metadata(parse_core_metadata(data, source="fuzz"))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def read(self, amount: int, decode_content: bool = True) -> bytes:
        assert amount <= 1 << 20, f"asked to buffer {amount} bytes"
        return self.body[:amount]


class _Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code, self.headers, self.raw, self.url = status, headers, _Raw(body), URL

    def close(self) -> None:
        pass


class _RangeServer:
    """Serves ``content`` by range, honestly or with the lie ``lie`` told."""

    def __init__(self, content: bytes, lie: str) -> None:
        self.content, self.lie = content, lie

    @contextmanager
    def get(self, url: str, *, headers: dict[str, str], **_: Any) -> Iterator[_Response]:
        size = len(self.content)
        first, _, last = headers["Range"].removeprefix("bytes=").partition("-")
        start = max(size - int(last), 0) if not first else int(first)
        end = size - 1 if not first else min(int(last), size - 1)
        body = self.content[start : end + 1]
        claimed = f"bytes {start}-{end}/{size}"
        if self.lie == "whole":
            yield _Response(200, {}, self.content)
            return
        if self.lie == "wider":
            claimed = f"bytes 0-{size + (1 << 30)}/{size + (1 << 30) + 1}"
        elif self.lie == "bigger":
            claimed = f"bytes {start}-{end}/{size * 1000 + (1 << 32)}"
        elif self.lie == "garbage":
            claimed = "bytes 1-x/2"
        yield _Response(206, {"Content-Range": claimed}, body)


@FUZZ
@given(_WHEEL_BYTES, st.sampled_from(["", "", "", "whole", "wider", "bigger", "garbage"]))
def test_remote_wheel_metadata_returns_or_raises_upstream_error(wheel: bytes, lie: str) -> None:
    upstream = Upstream(
        _RangeServer(wheel, lie),  # type: ignore[arg-type]
        [],
        retrying=lambda: Retrying(stop=stop_after_attempt(1), reraise=True),
    )
    with suppress(UpstreamError, RangeNotSupported):
        remote_wheel_metadata(upstream, URL + WHEEL, WHEEL)


_CORE_FIELDS = st.sampled_from(
    ["Metadata-Version", "Name", "Version", "Requires-Dist", "Requires-Python",
     "Provides-Extra", "Dynamic", "Description", "Keywords", "Classifier", "X-Odd", ""]
)  # fmt: skip
_CORE_VALUES = st.one_of(
    st.sampled_from(["2.1", "2.4", "foo", "bar>=1; extra == 'x'", ">=3.8", "x", "\x00", "é",
                     "=?utf-8?q?=E9?=", "a\n continued", "\udc80", "1" * 5000]),
    st.text(max_size=20),
)  # fmt: skip


@st.composite
def _core_metadata(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_CORE_FIELDS, _CORE_VALUES), max_size=10))
    text = "".join(f"{k}: {v}\n" for k, v in lines) + draw(st.sampled_from(["", "\nbody\n"]))
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    data = text.encode(encoding, "surrogatepass" if encoding == "utf-8" else "replace")
    return draw(st.one_of(st.just(data), _mutated(data), st.binary(max_size=60)))


@FUZZ
@given(_core_metadata())
def test_parse_core_metadata_always_returns(data: bytes) -> None:
    _use_metadata(parse_core_metadata(data, source="fuzz"))


def _use_metadata(meta: CoreMetadata) -> None:
    """What the resolver asks of metadata: each target compares with what it accepted."""
    assert isinstance(meta, CoreMetadata)
    if meta.requires_python is not None:
        SpecifierSet(meta.requires_python).contains("3.12.0", prereleases=True)
    for line in meta.requires_dist:
        dependency = parse_dependency(line)
        if dependency is not None:
            dependency.specifier.contains("1.0", prereleases=True)
            if dependency.marker is not None:
                Marker(dependency.marker).evaluate({**default_environment(), "extra": ""})


_SDIST_MEMBERS = st.fixed_dictionaries(
    {},
    optional={
        "PKG-INFO": _core_metadata(),
        "pyproject.toml": st.one_of(
            st.sampled_from([b"[build-system]\nrequires = ['x']\n", b"[build-system\n",
                             b"a = " + b"[" * 5000, b"x = 0x" + b"f" * 5000]),
            st.binary(max_size=40),
        ),
        "setup.py": st.sampled_from([b"setup(install_requires=['a'])", b"(" * 5000, b"\xff",
                                     b"setup(" + b"[" * 200 + b")", b"import x\nsetup(**x)"]),
        "foo.egg-info/requires.txt": st.sampled_from([b"a\n[x]\nb\n[:os_name=='nt']\nc", b"[",
                                                      b"\xff\xfe", b"a; ;"]),
        "foo.egg-info/PKG-INFO": _core_metadata(),
    },
)  # fmt: skip


def _sdist(kind: str, members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(f"foo-1.0/{name}", data)
        return out.getvalue()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(f"foo-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("foo-1.0/setup.cfg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    return raw.getvalue()


@st.composite
def _sdist_bytes(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["tar.gz", "zip"]))
    data = _sdist(kind, draw(_SDIST_MEMBERS))
    where = draw(st.sampled_from(["as is", "inside", "outside"]))
    if kind == "tar.gz":
        if where == "inside":  # the tar headers changed, then compressed
            data = draw(_mutated(data))
        data = gzip.compress(data, mtime=0)
    if where == "outside":
        data = draw(_mutated(data))
    return kind, data


@FUZZ
@given(_sdist_bytes())
def test_read_sdist_returns_or_raises_bad_sdist(sdist: tuple[str, bytes]) -> None:
    kind, data = sdist
    filename = f"foo-1.0.{kind}"
    with _folder() as folder:
        path = folder / filename
        path.write_bytes(data)
        with suppress(BadSdist):
            assert isinstance(read_sdist(path, filename), SdistContents)
        _use_metadata(sdist_core_metadata(path, filename))


# --- TOML input files and the config file ------------------------------------------------

_TOML_KEYS = st.sampled_from(
    ["lock-version", "created-by", "requires-python", "packages", "name", "version", "marker",
     "index", "wheels", "sdist", "url", "hashes", "sha256", "vcs", "directory", "archive",
     "path", "package", "source", "registry", "editable", "virtual", "git", "dependencies",
     "optional-dependencies", "dev-dependencies", "extra", "project", "dynamic",
     "dependency-groups", "include-group", "build-system", "requires", "tool", "uv",
     "environments", "resolution-markers", "manifest", "members", "upload-time", "size",
     "extras", "dependency_groups", "default-groups", "attestation-identities", "x"]
)  # fmt: skip
_TOML_STRINGS = st.one_of(
    st.sampled_from(["foo", "1.0", ">=3.8", "foo>=1", "bar; os_name == 'nt'", "1.0", "dev",
                     "https://x.example/foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz", _HASH,
                     "sha256:" + _HASH, "", "é", "\x00", "file:///x", "../x", "foo[", "1.0"]),
    st.text(max_size=10),
)  # fmt: skip


class _Lit(str):
    """A TOML literal written as it is (a date, a huge hexadecimal number)."""


_TOML_SCALAR = st.one_of(
    _TOML_STRINGS,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1979-05-27T07:32:00Z", "0x" + "f" * 5000, "1" * 5000]).map(_Lit),
)

_TOML_VALUE = st.recursive(
    _TOML_SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TOML_KEYS, inner, max_size=4),
    max_leaves=10,
)


def _toml(value: Any) -> str:
    if isinstance(value, _Lit):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(value), repr(value))
    if isinstance(value, str):
        return json.dumps(value)  # its escapes are TOML's (a lone surrogate is an error)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def _toml_document(draw: st.DrawFn, keys: st.SearchStrategy[str] = _TOML_KEYS) -> bytes:
    document = draw(st.dictionaries(keys, _TOML_VALUE, max_size=6))
    text = "".join(f"{json.dumps(k)} = {_toml(v)}\n" for k, v in document.items())
    if draw(st.booleans()):  # also as a table of tables, as uv.lock writes its packages
        for table in draw(
            st.lists(st.dictionaries(_TOML_KEYS, _TOML_VALUE, max_size=4), max_size=3)
        ):
            text += "[[package]]\n" + "".join(
                f"{json.dumps(k)} = {_toml(v)}\n" for k, v in table.items()
            )
    deep = draw(st.sampled_from([0, 0, 0, 5000]))
    text += f"deep = {'[' * deep}{']' * deep}\n" if deep else ""
    data = text.encode("utf-8", "surrogatepass")
    return draw(st.one_of(st.just(data), _mutated(data), st.binary(max_size=40)))


@st.composite
def _script(draw: st.DrawFn) -> bytes:
    body = draw(_toml_document()).decode("utf-8", "replace")
    lines = "".join(f"# {line}\n" for line in body.splitlines())
    closing = draw(st.sampled_from(["# ///\n", "", "# ///\n# /// script\n"]))
    return f"import x\n# /// script\n{lines}{closing}print(1)\n".encode()


_READERS: dict[str, Callable[[bytes, str], RequirementSet]] = {
    "pylock": inputfiles.read_pylock,
    "uv-lock": inputfiles.read_uv_lock,
    "script": inputfiles.read_script,
    "pyproject": lambda data, shown: inputfiles.read_pyproject(
        data, shown, extras=("x", "dev"), all_extras=False, groups=("dev",)
    ),
    "pyproject-all": lambda data, shown: inputfiles.read_pyproject(
        data, shown, all_extras=True, groups=("x",)
    ),
}


@FUZZ
@given(
    st.sampled_from(sorted(_READERS)),
    st.one_of(_toml_document(), _script()),
    st.sampled_from(["pylock.toml", "pylock.x.toml", "uv.lock", "pyproject.toml", "s.py",
                     "req.txt", "x.toml", "x"]),
)  # fmt: skip
def test_input_files_return_or_raise_input_error(reader: str, data: bytes, name: str) -> None:
    with suppress(InputError):
        inputfiles.kind_of(name, data)
    with suppress(InputError):
        assert isinstance(_READERS[reader](data, name), RequirementSet)


_CONFIG_KEYS = st.sampled_from(
    ["requirements", "requirements-files", "local-folder", "index", "index-url",
     "extra-index-url", "platform", "python-version", "workers", "processes", "timeout",
     "lock-timeout", "latest", "all-versions", "binary-only", "source-only", "dry-run",
     "report", "verbose", "quiet", "pre", "build-requirement", "extra", "group",
     "all-extras", "no-deps", "constraint", "requirement", "config", "help", "x"]
)  # fmt: skip


@FUZZ
@given(_toml_document(_CONFIG_KEYS))
def test_the_config_file_loads_or_raises_input_error(data: bytes) -> None:
    parser = build_parser()
    with _folder() as folder:
        path = folder / "m.toml"
        path.write_bytes(data)
        with suppress(InputError):
            config.merge(parser, [], config.load(path, parser))


# --- the mirror's memory -----------------------------------------------------------------


@st.composite
def _state_file(draw: st.DrawFn) -> bytes:
    value = draw(
        st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "projects": _field(st.lists(st.one_of(st.text(max_size=8), _ODD))),
                    "fingerprint": _ODD,
                    "summary": _field(st.dictionaries(st.text(max_size=4), _ODD)),
                    "sha256": _field(st.just("x")),
                    "content_type": _ODD,
                    "etag": _ODD,
                    "last_modified": _ODD,
                    "serial": _ODD,
                },
            ),
            _ODD,
        )
    )
    data = json.dumps(value).encode()
    deep = draw(st.sampled_from([0, 0, 900, 100_000]))
    data = b"[" * deep + data + b"]" * deep
    return draw(st.one_of(st.just(data), _mutated(data), st.binary(max_size=40)))


@FUZZ
@given(_state_file(), st.binary(max_size=20))
def test_state_files_are_read_or_forgotten(data: bytes, body: bytes) -> None:
    with _folder() as mirror:
        state = mirror / STATE_DIR
        (state / "pages").mkdir(parents=True)
        (state / "last-run.json").write_bytes(data)
        (state / "pages" / "foo.json").write_bytes(data)
        (state / "pages" / "foo.body").write_bytes(body)
        assert isinstance(last_run(mirror), LastRun)
        store = PageStore(mirror)
        stored = store.get(FOO)
        assert stored is None or isinstance(stored, RawPage)
        store.put(FOO, RawPage(body=b"{}", content_type="application/json"))
        assert store.get(FOO) == RawPage(body=b"{}", content_type="application/json")


def test_the_budget() -> None:
    """At least 2,000 examples in all by default; 20,000 with SELMIRROR_FUZZ_EXAMPLES=2000."""
    properties = [
        f for name, f in globals().items() if name.startswith("test_") and hasattr(f, "hypothesis")
    ]
    assert len(properties) * EXAMPLES >= 2000
