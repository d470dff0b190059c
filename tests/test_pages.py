"""The page parsers: every field, every hostile entry, and a round trip over our own output."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.errors import UpstreamError
from selmirror.index_writer import render_project_html, render_project_json
from selmirror.pages import filename_of, parse_html_page, parse_json_page, parse_page

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


def test_a_sent_page_unpacks_only_the_versions_read() -> None:
    versions = [f"1.{n}" for n in range(50)]
    page = parse_json_page(
        _json(*(_entry(f"foo-{v}.tar.gz") for v in versions)), url=URL, project=FOO
    )
    sent = pickle.loads(pickle.dumps(page))
    newest = sent.versions()[0]
    assert [f.filename for f in sent.by_version()[newest]] == ["foo-1.49.tar.gz"]
    assert sent.filenames_of(Version("1.3")) == ["foo-1.3.tar.gz"]
    assert sum(isinstance(g, list) for g in sent._groups.values()) == 1
