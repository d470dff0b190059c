"""The page parsers: every field, every hostile entry, and a round trip over our own output."""

from __future__ import annotations

import json
import logging
import pickle
import time
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror import pages
from selmirror.errors import UpstreamError
from selmirror.index_writer import render_project_html, render_project_json
from selmirror.models import ProjectStatus
from selmirror.pages import (
    JSON_TYPE,
    filename_of,
    parse_html_page,
    parse_json_page,
    parse_page,
)

FOO = NormalizedName("foo")
URL = "https://files.example/simple/foo/"
SHA = "a" * 64
SHA2 = "b" * 64


def _json(*files: dict[str, Any], **top: Any) -> bytes:
    page = {"meta": {"api-version": "1.1"}, "name": "foo", "files": list(files), **top}
    return json.dumps(page).encode()


def _entry(filename: str = "foo-1.0-py3-none-any.whl", **extra: Any) -> dict[str, Any]:
    return {
        "filename": filename,
        "url": f"../../files/{filename}",
        "hashes": {"sha256": SHA},
    } | extra


def test_json_fields_are_read() -> None:
    page = parse_json_page(
        _json(
            _entry(
                **{
                    "requires-python": ">=3.8",
                    "yanked": "broken",
                    "size": 12,
                    "upload-time": "2024-01-01T00:00:00.123Z",
                    "core-metadata": {"sha256": SHA2},
                }
            ),
            _entry("foo-1.0.tar.gz", yanked=True, **{"core-metadata": {"sha256": SHA2}}),
        ),
        url=URL,
        project=FOO,
    )
    wheel, sdist = page.files
    assert wheel.url == "https://files.example/files/foo-1.0-py3-none-any.whl"
    assert wheel.version == Version("1.0")
    assert wheel.kind == "wheel"
    assert wheel.hashes == {"sha256": SHA}
    assert wheel.requires_python == ">=3.8"
    assert wheel.yanked == "broken"
    assert wheel.size == 12
    assert wheel.upload_time == "2024-01-01T00:00:00.123Z"
    assert wheel.core_metadata == {"sha256": SHA2}
    assert sdist.kind == "sdist"
    assert sdist.yanked == ""
    assert sdist.core_metadata is None  # metadata files exist for wheels only
    assert page.rejected == ()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("core-metadata", True, {}),
        ("core-metadata", False, None),
        ("dist-info-metadata", {"sha256": SHA2}, {"sha256": SHA2}),
        ("data-dist-info-metadata", {"sha256": SHA2}, {"sha256": SHA2}),  # PyPI's own quirk
    ],
)
def test_json_core_metadata_forms(key: str, value: object, expected: object) -> None:
    page = parse_json_page(_json(_entry(**{key: value})), url=URL, project=FOO)
    assert page.files[0].core_metadata == expected


@pytest.mark.parametrize(
    ("entry", "category"),
    [
        (_entry("../foo-1.0.tar.gz"), "bad-filename"),
        (_entry("..\\foo-1.0.tar.gz"), "bad-filename"),
        (_entry("sub/foo-1.0.tar.gz"), "bad-filename"),
        (_entry(".foo-1.0.tar.gz"), "bad-filename"),
        (_entry("foo-1.0\x00.tar.gz"), "bad-filename"),
        (_entry("foo-" + "1" * 300 + ".tar.gz"), "bad-filename"),
        (_entry(None), "bad-filename"),
        (_entry(["foo-1.0.tar.gz"]), "bad-filename"),  # unhashable: must not crash
        (_entry({"a": 1}), "bad-filename"),
        (_entry("foo-1.0.egg"), "file-type"),
        (_entry("foo-1.0.win32.exe"), "file-type"),
        (_entry("foo-1.0.tar.bz2"), "file-type"),
        (_entry("foo-1.0.rar"), "file-type"),
        (_entry("bar-1.0.tar.gz"), "foreign-file"),
        (_entry("bar-1.0-py3-none-any.whl"), "foreign-file"),
        (_entry("foo-1.0.post-weird.tar.gz"), "bad-version"),
        (_entry("foo-notaversion-py3-none-any.whl"), "bad-version"),
        (_entry(url="file:///etc/passwd"), "bad-url"),
        (_entry(url="javascript:alert(1)"), "bad-url"),
        (_entry(url=None), "bad-url"),
        (_entry(url="../../files/..%2F..%2Ffoo-1.0-py3-none-any.whl"), "bad-url"),
        (_entry(hashes={"sha256": "zz" * 32}), "bad-hash"),
        (_entry(hashes={"sha256": SHA[:-2]}), "bad-hash"),
        (_entry(hashes={"md5": "x"}), "bad-hash"),
    ],
)
def test_hostile_entries_are_rejected(entry: dict[str, Any], category: str) -> None:
    page = parse_json_page(_json(entry, _entry("foo-2.0.tar.gz")), url=URL, project=FOO)
    assert [f.filename for f in page.files] == ["foo-2.0.tar.gz"]
    assert [r.category for r in page.rejected] == [category]


def test_non_pep440_version_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        parse_json_page(_json(_entry("foo-1.0.post-weird.tar.gz")), url=URL, project=FOO)
    assert "foo-1.0.post-weird.tar.gz" in caplog.text


def test_unknown_hash_names_are_ignored_and_uppercase_hex_normalized() -> None:
    page = parse_json_page(
        _json(_entry(hashes={"sha256": SHA.upper(), "whirlpool": "zz"})), url=URL, project=FOO
    )
    assert page.files[0].hashes == {"sha256": SHA}


def test_non_object_file_entries_are_rejected() -> None:
    body = json.dumps({"files": [1, "x", None, _entry("foo-2.0.tar.gz")]}).encode()
    page = parse_json_page(body, url=URL, project=FOO)
    assert [f.filename for f in page.files] == ["foo-2.0.tar.gz"]
    assert [r.category for r in page.rejected] == ["bad-filename"] * 3


def test_duplicate_filename_is_rejected() -> None:
    page = parse_json_page(_json(_entry(), _entry()), url=URL, project=FOO)
    assert len(page.files) == 1
    assert [r.category for r in page.rejected] == ["duplicate"]


def test_another_projects_file_never_names_a_version() -> None:
    # cffi's page once listed cffi-1.0.2-2.tar.gz: its "version" 2 equals 2.0.0 in PEP 440
    foreign = _entry("foo-1.0.2-2.tar.gz")
    page = parse_json_page(_json(foreign, _entry("foo-2.0.0.tar.gz")), url=URL, project=FOO)
    assert [str(v) for v in page.versions()] == ["2.0.0"]
    assert [(r.filename, r.category) for r in page.refused] == [
        ("foo-1.0.2-2.tar.gz", "foreign-file")
    ]
    assert [f.filename for f in page.files] == ["foo-2.0.0.tar.gz"]


def test_quarantined_project_offers_no_files() -> None:
    body = _json(_entry(), **{"project-status": {"status": "quarantined"}})
    page = parse_json_page(body, url=URL, project=FOO)
    assert page.files == ()
    assert [r.category for r in page.rejected] == ["quarantined"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON page"),
        (b"[]", "not an object"),
        (json.dumps({"meta": {"api-version": "1.0"}, "files": {}}).encode(), "'files'"),
        (json.dumps({"meta": {"api-version": "2.0"}, "files": []}).encode(), "simple API 2.0"),
        (json.dumps({"name": "bar", "files": []}).encode(), "is for project 'bar'"),
    ],
)
def test_unusable_json_pages_raise(body: bytes, message: str) -> None:
    with pytest.raises(UpstreamError, match=message) as info:
        parse_json_page(body, url="https://user:secret@idx.example/simple/foo/", project=FOO)
    assert "secret" not in str(info.value)
    assert "idx.example" in str(info.value)


def test_newer_minor_api_version_warns(caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"meta": {"api-version": "1.99"}, "files": []}).encode()
    with caplog.at_level(logging.WARNING):
        parse_json_page(body, url=URL, project=FOO)
    assert "1.99" in caplog.text


HTML = b"""<!DOCTYPE html><html><head>
<meta name="pypi:repository-version" content="1.0">
<base href="https://cdn.example/pkgs/">
</head><body>
<a href="foo-1.0-py3-none-any.whl#sha256=%(sha)s" data-requires-python="&gt;=3.8,&lt;4"
   data-core-metadata="sha256=%(sha2)s">foo-1.0-py3-none-any.whl</a><br>
<a href="foo-1.0.tar.gz#sha256=%(sha)s" data-yanked>foo-1.0.tar.gz</a>
<a href="foo-1.1.tar.gz#sha256=%(sha)s" data-yanked="bad &amp; broken">foo-1.1.tar.gz</a>
<a href="foo-1.2.tar.gz#sha256=%(sha)s">evil-1.2.tar.gz</a>
<a href="foo%%2F..%%2Fx-1.3.tar.gz">foo/../x-1.3.tar.gz</a>
<a href="file:///etc/foo-1.4.tar.gz">foo-1.4.tar.gz</a>
</body></html>""" % {b"sha": SHA.encode(), b"sha2": SHA2.encode()}


def test_html_page_is_read() -> None:
    page = parse_page(HTML, "text/html; charset=utf-8", url=URL, project=FOO)
    files = {f.filename: f for f in page.files}
    assert set(files) == {"foo-1.0-py3-none-any.whl", "foo-1.0.tar.gz", "foo-1.1.tar.gz"}
    wheel = files["foo-1.0-py3-none-any.whl"]
    assert wheel.url == "https://cdn.example/pkgs/foo-1.0-py3-none-any.whl"  # <base href>
    assert wheel.hashes == {"sha256": SHA}
    assert wheel.requires_python == ">=3.8,<4"
    assert wheel.core_metadata == {"sha256": SHA2}
    assert files["foo-1.0.tar.gz"].yanked == ""  # a bare data-yanked is yanked
    assert files["foo-1.1.tar.gz"].yanked == "bad & broken"
    reasons = {r.category for r in page.rejected}
    assert reasons == {"bad-filename", "bad-url"}
    assert len(page.rejected) == 3


def test_html_relative_links_resolve_against_the_final_url() -> None:
    body = b'<a href="../../f/foo-1.0.tar.gz">foo-1.0.tar.gz</a>'
    page = parse_html_page(body, url="https://x.example/moved/simple/foo/", project=FOO)
    assert page.files[0].url == "https://x.example/moved/f/foo-1.0.tar.gz"


def test_unexpected_content_type_is_an_error() -> None:
    with pytest.raises(UpstreamError, match="Content-Type 'application/octet-stream'"):
        parse_page(b"", "application/octet-stream", url=URL, project=FOO)


def test_round_trip_through_our_own_pages() -> None:
    """Our parser over the pages we write gives back the same files."""
    original = parse_json_page(
        _json(
            _entry(
                **{
                    "requires-python": ">=3.8,<4",
                    "yanked": 'say "no" <now>',
                    "size": 7,
                    "upload-time": "2024-05-01T10:00:00Z",
                    "core-metadata": {"sha256": SHA2},
                }
            ),
            _entry("foo-1.0+local.tar.gz", size=3, yanked=True),
            _entry("foo-2.0.zip", size=4),
        ),
        url=URL,
        project=FOO,
    ).files
    base = "file:///mirror/foo/"
    from_json = parse_json_page(
        render_project_json(FOO, original), url=base, project=FOO, schemes=("file",)
    )
    from_html = parse_html_page(
        render_project_html(FOO, original), url=base, project=FOO, schemes=("file",)
    )
    assert from_json.rejected == from_html.rejected == ()

    def facts(files: Any, html: bool = False) -> list[tuple[Any, ...]]:
        return sorted(
            (
                f.filename,
                filename_of(f.url),
                f.hashes["sha256"],
                f.requires_python,
                f.yanked,
                None if html else f.size,
                None if html else f.upload_time,
                f.core_metadata,
            )
            for f in files
        )

    expected = facts([*original])
    assert facts(from_json.files) == expected
    assert facts(from_html.files, html=True) == facts(original, html=True)
    assert from_json.files[0].url.startswith(base)


@pytest.mark.parametrize("kind", ["json", "html"])
def test_a_page_sent_between_processes_reads_the_same(kind: str) -> None:
    """Worker processes send parsed pages back pickled, each version's entries apart."""
    if kind == "json":
        body = _json(
            _entry(**{"requires-python": ">=3.8", "yanked": "broken", "size": 7}),
            _entry("foo-1.0.tar.gz", size=3),
            _entry("foo-2.0-py3-none-any.whl", url="ftp://x/foo-2.0-py3-none-any.whl"),
            _entry("foo-1.0.post-weird.tar.gz"),
            _entry("bar-3.0.tar.gz"),
        )
        page = parse_json_page(body, url=URL, project=FOO)
    else:
        page = parse_page(HTML, "text/html", url=URL, project=FOO)
    sent = pickle.loads(pickle.dumps(page))
    assert sent.versions() == page.versions()
    for version in page.versions():
        assert sent.filenames_of(version) == page.filenames_of(version)
    # nothing validated before sending, and after: the same verdicts
    assert sent.files == page.files
    assert sent.rejected == page.rejected
    assert sent.refused == page.refused


def test_a_sent_html_page_unpacks_only_the_versions_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    links = "".join(f'<a href="foo-1.{n}.tar.gz">foo-1.{n}.tar.gz</a>' for n in range(50))
    page = parse_page(
        f"<html><body>{links}</body></html>".encode(), "text/html", url=URL, project=FOO
    )
    sent = pickle.loads(pickle.dumps(page))
    unpacked: list[tuple[str, ...]] = []
    real = pages._Packed.unpacked

    def counted(self: pages._Packed) -> list[dict[str, Any]]:
        unpacked.append(self.filenames)
        return real(self)

    monkeypatch.setattr(pages._Packed, "unpacked", counted)
    newest = sent.versions()[0]
    assert [f.filename for f in sent.by_version()[newest]] == ["foo-1.49.tar.gz"]
    assert [f.filename for f in sent.by_version()[newest]] == ["foo-1.49.tar.gz"]
    assert sent.filenames_of(Version("1.3")) == ["foo-1.3.tar.gz"]
    assert unpacked == [("foo-1.49.tar.gz",)]


def test_a_json_page_decodes_only_the_versions_read(monkeypatch: pytest.MonkeyPatch) -> None:
    versions = [f"1.{n}" for n in range(50)]
    body = _json(*(_entry(f"foo-{v}.tar.gz") for v in versions))
    decoded: list[bytes | str] = []
    real = pages.load_json

    def counted(data: bytes | str) -> Any:
        decoded.append(data)
        return real(data)

    monkeypatch.setattr(pages, "load_json", counted)
    page = parse_json_page(body, url=URL, project=FOO)
    sent = pickle.loads(pickle.dumps(page))
    for read in (page, sent):
        newest = read.versions()[0]
        assert [f.filename for f in read.by_version()[newest]] == ["foo-1.49.tar.gz"]
        assert [f.filename for f in read.by_version()[newest]] == ["foo-1.49.tar.gz"]
        assert read.filenames_of(Version("1.3")) == ["foo-1.3.tar.gz"]
    assert len(decoded) == 2
    assert all(json.loads(d)["filename"] == "foo-1.49.tar.gz" for d in decoded)


# --- hostile input: one clear refusal, never a traceback, never a hang (issue 10) --------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"files": ' + b"[" * 100_000,
        b'{"files": [{"filename": ' + b"[" * 50_000,
    ],
    ids=["array", "files", "entry"],
)
def test_json_nested_too_deeply_is_an_unusable_page(body: bytes) -> None:
    with pytest.raises(UpstreamError, match=r"malformed JSON page at .*: nested too deeply"):
        parse_page(body, JSON_TYPE, url=URL, project=FOO)


def test_deep_values_in_an_entry_are_refused_and_the_page_still_travels() -> None:
    deep = json.loads("[" * 500 + "]" * 500)
    entries = [_entry(filename=deep), _entry(url=deep), _entry("foo-2.0.tar.gz", x=deep)]
    page = parse_json_page(_json(*entries), url=URL, project=FOO)
    sent = pickle.loads(pickle.dumps(page))  # as a worker process sends it
    assert [f.filename for f in sent.files] == ["foo-2.0.tar.gz"]
    assert [(r.filename, r.category) for r in sent.rejected] == [
        ("<list>", "bad-filename"),
        ("foo-1.0-py3-none-any.whl", "bad-url"),
    ]


@pytest.mark.parametrize("version", [[1, 1], {"v": "1.0"}, True, "1", "x.y", "1" * 5000])
def test_an_odd_api_version_is_an_unusable_page(version: object) -> None:
    body = json.dumps({"meta": {"api-version": version}, "files": []}).encode()
    with pytest.raises(UpstreamError, match="api-version"):
        parse_json_page(body, url=URL, project=FOO)


ANCHOR = b'<a href="foo-1.0.tar.gz">foo-1.0.tar.gz</a>'


@pytest.mark.parametrize("charset", ["idna", "punycode", "undefined", "rot13", "base64", "zlib"])
def test_a_charset_that_decodes_no_text_refuses_the_page(charset: str) -> None:
    with pytest.raises(UpstreamError, match=f"unreadable HTML page at .*'{charset}'.*not a text"):
        parse_page(ANCHOR, f"text/html; charset={charset}", url=URL, project=FOO)


def test_an_unknown_charset_refuses_the_page() -> None:
    with pytest.raises(UpstreamError, match="unknown encoding 'no-such-codec'"):
        parse_page(ANCHOR, "text/html; charset=no-such-codec", url=URL, project=FOO)


@pytest.mark.parametrize("charset", ["utf-8", "latin-1", "UTF-16", "cp1252", "utf_7"])
def test_a_real_charset_is_decoded(charset: str) -> None:
    body = '<a href="foo-1.0.tar.gz" data-yanked="é">foo-1.0.tar.gz</a>'.encode(charset)
    page = parse_page(body, f"text/html; charset={charset}", url=URL, project=FOO)
    assert page.files[0].yanked == "é"


@pytest.mark.parametrize(
    "href",
    [
        "http://[::1/foo-1.0.tar.gz",  # an invalid IPv6 host: urlsplit raises ValueError
        "//[::1/foo-1.0.tar.gz",
        "https://[not-ipv6]/foo-1.0.tar.gz",
        "http://x.example]/foo-1.0.tar.gz",
        "https://x.example/foo-1.0.tar.gz\x00",
        "https://x.example/\ud800/foo-1.0.tar.gz",
    ],
)
def test_an_unusable_url_refuses_the_entry_not_the_page(href: str) -> None:
    html_body = f'<a href="{href}">foo-1.0.tar.gz</a>{ANCHOR.decode()}'.encode(
        errors="surrogatepass"
    )
    html_page = parse_page(html_body, "text/html; charset=utf-8", url=URL, project=FOO)
    json_page = parse_json_page(
        json.dumps(
            {"files": [_entry("foo-1.0.tar.gz", url=href), _entry("foo-2.0.tar.gz")]}
        ).encode(),
        url=URL,
        project=FOO,
    )
    assert [r.category for r in json_page.rejected] == ["bad-url"]
    assert [f.filename for f in json_page.files] == ["foo-2.0.tar.gz"]
    # in HTML: the URL refused, or the anchor text not its file name, or (a lone surrogate
    # arrives as "?", a fine URL) listed twice
    assert len(html_page.rejected) == 1
    assert [f.filename for f in html_page.files] == ["foo-1.0.tar.gz"]


def test_an_unusable_base_refuses_the_page() -> None:
    body = b'<base href="http://[::1/simple/">' + ANCHOR
    with pytest.raises(UpstreamError, match=r"<base href> 'http://\[::1/simple/': Invalid IPv6"):
        parse_page(body, "text/html", url=URL, project=FOO)


@pytest.mark.parametrize(("size", "expected"), [("12", 12), ("²", None), ("1" * 5000, None)])
def test_html_data_size_is_ascii_digits(size: str, expected: int | None) -> None:
    body = f'<a href="foo-1.0.tar.gz" data-size="{size}">foo-1.0.tar.gz</a>'.encode()
    assert parse_page(body, "text/html", url=URL, project=FOO).files[0].size == expected


def test_a_lone_surrogate_in_a_yank_reason_is_replaced() -> None:
    page = parse_json_page(_json(_entry(yanked="bad \udc80 build")), url=URL, project=FOO)
    assert page.files[0].yanked == "bad ? build"
    page.files[0].yanked.encode()  # writable to a page


@pytest.mark.parametrize(
    "body",
    [
        "<a" * 50_000,  # html.parser (Python 3.11): 14 s, and 4 times that for twice as long
        "</" * 50_000,  # 1.7 s
        "<?" * 50_000,  # 1.1 s
        "<a x=' >" * 50_000,
        "<script>" + "</" * 50_000,
        "<!--" + "<a href=x>" * 50_000,
        "<a " + "x=" * 100_000,
    ],
    ids=["open", "end", "pi", "quote", "script", "comment", "attributes"],
)
def test_hostile_markup_is_read_in_linear_time(body: str) -> None:
    started = time.perf_counter()
    parse_page(body.encode(), "text/html", url=URL, project=FOO)
    assert time.perf_counter() - started < 1.0  # 0.12 s at most here, on a busy machine


class _Reference(HTMLParser):
    """What the page reader did with html.parser (before issue 10): the reference for
    well-formed pages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.meta: dict[str, str] = {}
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        elif tag == "meta":
            a = dict(attrs)
            if a.get("name") and a.get("content") is not None:
                self.meta[str(a["name"])] = str(a["content"])
        elif tag == "a":
            self._close()
            self._open, self._text = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def _close(self) -> None:
        if self._open is not None:
            self.anchors.append((self._open, "".join(self._text).strip()))
        self._open = None

    def close(self) -> None:
        super().close()
        self._close()


_TEXT = st.text(st.sampled_from("abc xyz-1.0.tar.gz\n\t é>\"'=/"), max_size=12)
_ENTITY = st.sampled_from(["&amp;", "&lt;", "&gt;", "&#62;", "&#x3c;", "&eacute;", "&quot;"])
_WORDS = st.lists(st.one_of(_TEXT, _ENTITY), max_size=4).map("".join)


@st.composite
def _attribute(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["href", "HREF", "data-yanked", "data-requires-python", "class"]))
    form = draw(st.sampled_from(["bare", "double", "single", "unquoted"]))
    if form == "bare":
        return name
    if form == "unquoted":
        return f"{name}={draw(st.from_regex(r'[A-Za-z0-9._-]{1,8}', fullmatch=True))}"
    quote = '"' if form == "double" else "'"
    value = draw(_WORDS).replace(quote, "&quot;" if quote == '"' else "&#39;")
    return f"{name}{draw(st.sampled_from(['=', ' = ']))}{quote}{value}{quote}"


@st.composite
def _well_formed_page(draw: st.DrawFn) -> str:
    parts = []
    for kind in draw(st.lists(st.sampled_from("atTbmcdsx"), max_size=12)):
        if kind == "a":
            attrs = " ".join(draw(st.lists(_attribute(), max_size=4)))
            closing = draw(st.sampled_from([">", " >", "/>"])) if attrs else ">"
            parts.append(f"<a {attrs}{closing}" if attrs else "<a>")
        elif kind == "t":
            parts.append(draw(_WORDS).replace("<", "&lt;"))
        elif kind == "T":
            parts.append(
                draw(st.sampled_from(["</a>", "</A >", "<br>", "<br/>", "<span>", "</p>"]))
            )
        elif kind == "b":
            parts.append(f"<base href='{draw(st.sampled_from(['https://b/', '../x/']))}'>")
        elif kind == "m":
            parts.append('<meta name="pypi:repository-version" content="1.1">')
        elif kind == "c":
            parts.append(f"<!-- {draw(_TEXT).replace('-', '')} <a href=x>y</a> -->")
        elif kind == "d":
            parts.append("<!DOCTYPE html>")
        elif kind == "s":
            parts.append("<script>if (a < b) { x = '<a href=y>' }</script>")
        else:
            parts.append("<?xml version='1.0'?>")
    return "".join(parts)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_well_formed_page())
def test_the_markup_reader_reads_well_formed_pages_as_html_parser(page: str) -> None:
    reference = _Reference()
    reference.feed(page)
    reference.close()
    from selmirror.pages import _read_markup  # private: the reader under the page parser

    markup = _read_markup(page)
    assert (markup.base, markup.meta, markup.anchors) == (
        reference.base,
        reference.meta,
        reference.anchors,
    )


def test_a_version_too_long_for_int_is_refused() -> None:
    """packaging raises ValueError, not InvalidVersion, for a number of 4,301 digits."""
    huge = "1" * 5000
    page = parse_json_page(
        _json(_entry(f"foo-{huge}.tar.gz"), _entry(**{"requires-python": f">={huge}"})),
        url=URL,
        project=FOO,
    )
    assert [r.category for r in page.rejected] == ["bad-filename"]
    assert page.files[0].requires_python is None
    assert page.find(f"foo-{huge}.tar.gz") is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"status": "deprecated", "reason": "use bar"}, ProjectStatus("deprecated", "use bar")),
        ({"state": "archived"}, ProjectStatus("archived")),  # PEP 792's own spelling
        ({"status": "archived", "state": "deprecated"}, ProjectStatus("archived")),
        ({"status": "active", "reason": "fine"}, None),  # the default: nothing to say
        ({"status": "frozen"}, None),  # not a PEP 792 status: clients read it as active
        ({"status": 3}, None),
        ({"status": "deprecated", "reason": "x" * 5000}, ProjectStatus("deprecated", "x" * 1000)),
    ],
)
def test_project_status_is_read_from_json_in_both_spellings(
    status: dict[str, Any], expected: ProjectStatus | None
) -> None:
    page = parse_json_page(_json(**{"project-status": status}), url=URL, project=FOO)
    assert page.project_status == expected


def test_project_status_is_read_from_html_meta() -> None:
    body = (
        b'<html><head><meta name="pypi:repository-version" content="1.4">'
        b'<meta name="pypi:project-status" content="deprecated">'
        b'<meta name="pypi:project-status-reason" content="use &lt;bar&gt;">'
        b"</head><body></body></html>"
    )
    page = parse_html_page(body, url=URL, project=FOO)
    assert page.project_status == ProjectStatus("deprecated", "use <bar>")
