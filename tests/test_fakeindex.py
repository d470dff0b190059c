"""Self-tests of the fake index: its pages, files and misbehaviours, and that pip and uv take it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
import types
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import pytest
import requests
from conftest import NetworkGuard, NetworkGuardError
from fakeindex import (
    HTML_V1,
    JSON_V1,
    TEXT_HTML,
    FakeIndex,
    build_backend_wheel,
    build_sdist,
    build_setuptools_wheel,
    build_wheel,
    negotiate,
    parse_range,
)
from oracles import build_with_pip_and_uv

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
UV_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def get(session: requests.Session, url: str, **kwargs: Any) -> requests.Response:
    """GET, read the whole body and release the connection."""
    with session.get(url, timeout=10, **kwargs) as response:
        _ = response.content
        return response


def drain(response: requests.Response, into: bytearray, chunk_size: int = 1) -> None:
    """Read a streamed body into `into`; one-byte reads keep a short tail that bigger ones drop."""
    for chunk in response.iter_content(chunk_size):
        into += chunk


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._current: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self.anchors.append((self._current, ""))

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            attrs, text = self.anchors[-1]
            self.anchors[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._current = None


def anchors(page: str) -> list[tuple[dict[str, str | None], str]]:
    parser = AnchorParser()
    parser.feed(page)
    parser.close()
    return parser.anchors


def file_urls(index: FakeIndex, session: requests.Session, project: str) -> dict[str, str]:
    """filename -> absolute URL (fragment dropped), parsed from the page like a client would."""
    response = get(session, f"{index.url}{project}/")
    response.raise_for_status()
    if response.headers["Content-Type"].startswith(JSON_V1):
        pairs = [(f["filename"], f["url"]) for f in response.json()["files"]]
    else:
        pairs = [(text, str(attrs["href"])) for attrs, text in anchors(response.text)]
    return {name: urljoin(response.url, url).split("#")[0] for name, url in pairs}


# --------------------------------------------------------------------------------------------
# Pages


def test_json_page(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("Foo.Bar", "1.0", requires_python=">=3.8,<4")
    sdist = fake_index.add_sdist("Foo.Bar", "1.0", yanked="broken build", upload_time=None)
    fake_index.add_wheel("foo-bar", "2.0", yanked=True)

    response = get(http, fake_index.url + "foo-bar/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_V1
    page = json.loads(response.content)
    assert page["meta"] == {"api-version": "1.1"}
    assert page["name"] == "foo-bar"
    assert page["versions"] == ["1.0", "2.0"]
    files = {f["filename"]: f for f in page["files"]}
    assert files[wheel.filename] == {
        "filename": "Foo_Bar-1.0-py3-none-any.whl",
        "url": "../../files/Foo_Bar-1.0-py3-none-any.whl",
        "hashes": {"sha256": sha256(wheel.content)},
        "requires-python": ">=3.8,<4",
        "yanked": False,
        "size": len(wheel.content),
        "upload-time": "2024-01-01T00:00:00Z",
        "core-metadata": {"sha256": sha256(wheel.metadata or b"")},
    }
    assert files[sdist.filename]["yanked"] == "broken build"
    assert files[sdist.filename]["core-metadata"] is False
    assert "upload-time" not in files[sdist.filename]
    assert files["foo_bar-2.0-py3-none-any.whl"]["yanked"] is True


def test_html_page_escapes(http: requests.Session) -> None:
    with FakeIndex(page_format="html") as index:
        wheel = index.add_wheel("foo", "1.0", requires_python=">=3.8,<4", yanked="a <bad> one")
        index.add_file("foo", 'foo-1.0&"x".tar.gz', b"odd", yanked=True)
        response = get(http, index.url + "foo/")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == TEXT_HTML
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in response.text
    assert 'data-yanked="a &lt;bad&gt; one"' in response.text
    assert "foo-1.0&amp;&quot;x&quot;.tar.gz</a>" in response.text
    found = {text: attrs for attrs, text in anchors(response.text)}
    assert set(found) == {wheel.filename, 'foo-1.0&"x".tar.gz'}
    attrs = found[wheel.filename]
    assert attrs["href"] == f"../../files/{wheel.filename}#sha256={sha256(wheel.content)}"
    assert attrs["data-requires-python"] == ">=3.8,<4"
    assert attrs["data-core-metadata"] == f"sha256={sha256(wheel.metadata or b'')}"
    assert attrs["data-dist-info-metadata"] == attrs["data-core-metadata"]
    odd = found['foo-1.0&"x".tar.gz']
    assert odd["href"] == f"../../files/foo-1.0%26%22x%22.tar.gz#sha256={sha256(b'odd')}"
    assert odd["data-yanked"] == ""  # never a bare attribute: pip would ignore it
    assert "data-core-metadata" not in odd


def test_root_answers_and_is_recorded(any_index: FakeIndex, http: requests.Session) -> None:
    any_index.add_wheel("foo", "1.0")
    any_index.add_project("Empty_One")

    response = get(http, any_index.url)

    assert response.status_code == 200
    assert "empty-one" in response.text
    assert [r.kind for r in any_index.requests] == ["root"]
    assert any_index.page_requests("foo") == []


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("simple/foo", 301, "/simple/foo/"),
        ("simple", 301, "/simple/"),
        ("simple/nope/", 404, None),
        ("simple/Foo/", 404, None),  # clients must ask for the normalized name
        ("elsewhere", 404, None),
        ("files/nope.whl", 404, None),
    ],
)
def test_routing(
    fake_index: FakeIndex, http: requests.Session, path: str, status: int, location: str | None
) -> None:
    fake_index.add_wheel("foo", "1.0")

    response = get(http, f"{fake_index.origin}/{path}", allow_redirects=False)

    assert response.status_code == status
    assert response.headers.get("Location") == location


def test_empty_project_page(any_index: FakeIndex, http: requests.Session) -> None:
    any_index.add_project("empty")
    assert get(http, any_index.url + "empty/").status_code == 200
    assert file_urls(any_index, http, "empty") == {}


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, TEXT_HTML),
        ("*/*", TEXT_HTML),
        (PIP_ACCEPT, JSON_V1),
        (UV_ACCEPT, JSON_V1),
        ("text/html", TEXT_HTML),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),
        ("application/vnd.pypi.simple.latest+html", HTML_V1),
        (f"{HTML_V1};q=0.5, {JSON_V1};q=0.4", HTML_V1),
        (f"{JSON_V1};q=0, */*;q=0.1", TEXT_HTML),
        ("application/*", HTML_V1),
        ("image/png", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


def test_negotiating_index(http: requests.Session) -> None:
    with FakeIndex(page_format="negotiate") as index:
        index.add_wheel("foo", "1.0")
        as_json = get(http, index.url + "foo/", headers={"Accept": PIP_ACCEPT})
        as_html = get(http, index.url + "foo/", headers={"Accept": "text/html"})
        by_query = get(http, index.url + f"foo/?format={quote(JSON_V1)}", headers={"Accept": "*/*"})
        refused = get(http, index.url + "foo/", headers={"Accept": "image/png"})

    assert as_json.headers["Content-Type"] == JSON_V1
    assert json.loads(as_json.content)["name"] == "foo"
    assert as_html.headers["Content-Type"] == TEXT_HTML
    assert as_html.headers["Vary"] == "Accept"
    assert by_query.headers["Content-Type"] == JSON_V1
    assert refused.status_code == 406


def test_etag(fake_index: FakeIndex, http: requests.Session) -> None:
    fake_index.add_wheel("foo", "1.0")
    first = get(http, fake_index.url + "foo/")
    again = get(http, fake_index.url + "foo/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_page_status_and_transient_failures(fake_index: FakeIndex, http: requests.Session) -> None:
    fake_index.add_wheel("down", "1.0")
    fake_index.add_wheel("flaky", "1.0")
    fake_index.page_status["down"] = 500
    fake_index.page_fail_first["Flaky"] = 2
    fake_index.page_retry_after = "0"

    statuses = [get(http, fake_index.url + "flaky/").status_code for _ in range(3)]
    down = get(http, fake_index.url + "down/")

    assert statuses == [503, 503, 200]
    assert down.status_code == 500
    assert [r.status for r in fake_index.page_requests("flaky")] == [503, 503, 200]
    assert fake_index.page_requests("flaky")[0].headers["accept"] == "*/*"


def test_raw_page(fake_index: FakeIndex, http: requests.Session) -> None:
    fake_index.raw_page["broken"] = ("application/json", b'{"files": [')

    response = get(http, fake_index.url + "broken/")

    assert response.headers["Content-Type"] == "application/json"
    assert response.content == b'{"files": ['


def test_redirected_page_resolves_against_final_url(
    any_index: FakeIndex, http: requests.Session
) -> None:
    wheel = any_index.add_wheel("moved", "1.0")
    any_index.page_redirect.add("moved")

    response = get(http, any_index.url + "moved/")
    urls = file_urls(any_index, http, "moved")

    assert response.url == f"{any_index.origin}/other-path/moved/"
    assert urls[wheel.filename] == f"{any_index.origin}/other-path/files/{wheel.filename}"
    assert get(http, urls[wheel.filename]).content == wheel.content
    raw_url = "../files/" + wheel.filename
    wrongly_joined = urljoin(any_index.url + "moved/", raw_url)
    assert get(http, wrongly_joined).status_code == 404


def test_url_override_and_absolute_urls(any_index: FakeIndex, http: requests.Session) -> None:
    any_index.add_file("foo", "foo-1.0.tar.gz", url_override="file:///etc/passwd")
    any_index.add_file("foo", "foo-2.0.tar.gz", url_override="../../../../escape/foo-2.0.tar.gz")
    wheel = any_index.add_wheel("bar", "1.0")
    any_index.absolute_urls = True

    foo = file_urls(any_index, http, "foo")
    bar = file_urls(any_index, http, "bar")

    assert foo["foo-1.0.tar.gz"] == "file:///etc/passwd"
    assert foo["foo-2.0.tar.gz"] == f"{any_index.origin}/escape/foo-2.0.tar.gz"
    assert bar[wheel.filename] == any_index.file_url(wheel.filename)


def test_hash_overrides(any_index: FakeIndex, http: requests.Session) -> None:
    any_index.add_file("foo", "foo-1.0.tar.gz", hashes={})
    any_index.add_file("foo", "foo-2.0.tar.gz", hashes={"md5": "0" * 32})

    page = get(http, any_index.url + "foo/")

    if any_index.page_format == "json":
        hashes = {f["filename"]: f["hashes"] for f in page.json()["files"]}
        assert hashes == {"foo-1.0.tar.gz": {}, "foo-2.0.tar.gz": {"md5": "0" * 32}}
    else:
        hrefs = {text: attrs["href"] for attrs, text in anchors(page.text)}
        assert hrefs["foo-1.0.tar.gz"] == "../../files/foo-1.0.tar.gz"
        assert hrefs["foo-2.0.tar.gz"] == f"../../files/foo-2.0.tar.gz#md5={'0' * 32}"


# --------------------------------------------------------------------------------------------
# Generated distributions


def test_wheel_is_real_and_metadata_matches(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel(
        "Foo.Bar-baz",
        "1.0",
        requires_python=">=3.9",
        requires_dist=["requests>=2", 'rich; extra == "fancy"'],
        provides_extra=["fancy"],
    )
    page = get(http, fake_index.url + "foo-bar-baz/").json()
    (entry,) = page["files"]

    content = get(http, urljoin(fake_index.url + "foo-bar-baz/", entry["url"])).content
    metadata = get(http, fake_index.file_url(wheel.filename) + ".metadata").content

    assert wheel.filename == "Foo_Bar_baz-1.0-py3-none-any.whl"
    assert sha256(content) == entry["hashes"]["sha256"]
    assert sha256(metadata) == entry["core-metadata"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
        assert names == {
            "foo_bar_baz/__init__.py",
            "Foo_Bar_baz-1.0.dist-info/METADATA",
            "Foo_Bar_baz-1.0.dist-info/WHEEL",
            "Foo_Bar_baz-1.0.dist-info/RECORD",
        }
        assert zf.read("Foo_Bar_baz-1.0.dist-info/METADATA") == metadata
        wheel_file = zf.read("Foo_Bar_baz-1.0.dist-info/WHEEL").decode()
        record = zf.read("Foo_Bar_baz-1.0.dist-info/RECORD").decode().splitlines()
    assert metadata.decode().splitlines()[:3] == [
        "Metadata-Version: 2.1",
        "Name: Foo.Bar-baz",
        "Version: 1.0",
    ]
    assert "Requires-Python: >=3.9" in metadata.decode()
    assert 'Requires-Dist: rich; extra == "fancy"' in metadata.decode()
    assert "Provides-Extra: fancy" in metadata.decode()
    assert "Root-Is-Purelib: true" in wheel_file
    assert "Tag: py3-none-any" in wheel_file
    assert len(record) == 4
    assert record[-1] == "Foo_Bar_baz-1.0.dist-info/RECORD,,"


def test_compressed_tag_set() -> None:
    filename, content, _ = build_wheel("foo", "1.0", tag="py2.py3-none-any")
    assert filename == "foo-1.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        wheel_file = zf.read("foo-1.0.dist-info/WHEEL").decode()
    assert "Tag: py2-none-any\nTag: py3-none-any\n" in wheel_file


def test_generated_bytes_are_deterministic() -> None:
    assert build_wheel("foo", "1.0") == build_wheel("foo", "1.0")
    assert build_sdist("foo", "1.0") == build_sdist("foo", "1.0")
    assert build_sdist("foo", "1.0", fmt="zip") == build_sdist("foo", "1.0", fmt="zip")
    assert build_wheel("foo", "1.0")[1] != build_wheel("foo", "1.1")[1]


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_sdist_contents(fmt: str) -> None:
    filename, content, pkg_info = build_sdist(
        "Foo.Bar", "2.0", fmt=fmt, requires_dist=["idna"], dynamic=["Requires-Dist"]
    )

    assert filename == f"foo_bar-2.0.{fmt}"
    if fmt == "tar.gz":
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            extracted = tar.extractfile("foo_bar-2.0/PKG-INFO")
            assert extracted is not None
            assert extracted.read() == pkg_info
        assert {m.mtime for m in members.values()} == {1_704_067_200}
        names = set(members)
    else:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            names = set(zf.namelist())
            assert zf.read("foo_bar-2.0/PKG-INFO") == pkg_info
    assert names == {
        "foo_bar-2.0/PKG-INFO",
        "foo_bar-2.0/pyproject.toml",
        "foo_bar-2.0/_fake_backend.py",
        "foo_bar-2.0/foo_bar/__init__.py",
    }
    text = pkg_info.decode()
    assert text.startswith("Metadata-Version: 2.2\nName: Foo.Bar\nVersion: 2.0\n")
    assert "Dynamic: Requires-Dist\n" in text
    assert "Requires-Dist: idna\n" in text


def test_sdist_metadata_only_when_asked(fake_index: FakeIndex, http: requests.Session) -> None:
    plain = fake_index.add_sdist("foo", "1.0")
    advertised = fake_index.add_sdist("foo", "2.0", fmt="zip", advertise_metadata=True)

    plain_meta = get(http, fake_index.file_url(plain.filename) + ".metadata")
    served = get(http, fake_index.file_url(advertised.filename) + ".metadata")

    assert plain_meta.status_code == 404
    assert served.content == advertised.metadata


def _members(content: bytes) -> dict[str, bytes]:
    """name -> bytes of the files in a .tar.gz, in archive order."""
    members = {}
    with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isdir():
                continue
            extracted = tar.extractfile(member)
            assert extracted is not None
            members[member.name] = extracted.read()
    return members


def test_new_sdist_knobs_at_their_defaults_change_nothing() -> None:
    plain = build_sdist("foo", "1.0", requires_dist=["idna"])
    spelled_out = build_sdist(
        "foo",
        "1.0",
        requires_dist=["idna"],
        build_requires=[],
        build_backend=None,
        egg_info_requires=None,
        top_pkg_info=True,
    )
    assert spelled_out == plain
    assert "foo-1.0/_fake_metadata" not in _members(plain[1])


_OLD = "foo_bar-2.0"
_EGG = f"{_OLD}/foo_bar.egg-info"


# Member names under foo_bar-2.0/, in archive order; "egg/" is "foo_bar.egg-info/".
@pytest.mark.parametrize(
    ("knobs", "names"),
    [
        pytest.param(
            {"build_requires": ["fakebuild>=1"]},
            "PKG-INFO pyproject.toml _fake_backend.py _fake_metadata foo_bar/__init__.py",
            id="build-requires",
        ),
        pytest.param(
            {"build_requires": ["fakebuild>=1"], "build_backend": "fakebuild"},
            "PKG-INFO pyproject.toml _fake_metadata foo_bar/__init__.py",
            id="named-backend",
        ),
        pytest.param(
            {"build_requires": None},
            "PKG-INFO setup.py _fake_metadata foo_bar/__init__.py",
            id="setup-py",
        ),
        pytest.param(
            {"egg_info_requires": "idna\n"},
            "PKG-INFO pyproject.toml _fake_backend.py _fake_metadata egg/PKG-INFO "
            "egg/requires.txt foo_bar/__init__.py",
            id="egg-info",
        ),
        pytest.param(
            {"top_pkg_info": False},
            "pyproject.toml _fake_backend.py _fake_metadata egg/PKG-INFO foo_bar/__init__.py",
            id="no-top-pkg-info",
        ),
        pytest.param(
            {"build_requires": None, "egg_info_requires": "idna\n", "top_pkg_info": False},
            "setup.py _fake_metadata egg/PKG-INFO egg/requires.txt foo_bar/__init__.py",
            id="all-old",
        ),
    ],
)
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_old_sdist_layouts(fmt: str, knobs: dict[str, Any], names: str) -> None:
    filename, content, _ = build_sdist("Foo.Bar", "2.0", fmt=fmt, requires_dist=["idna"], **knobs)

    assert filename == f"{_OLD}.{fmt}"
    if fmt == "tar.gz":
        found = list(_members(content))
    else:
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            found = zf.namelist()
    assert found == [
        f"{_OLD}/{name.replace('egg/', 'foo_bar.egg-info/')}" for name in names.split()
    ]
    assert build_sdist("Foo.Bar", "2.0", fmt=fmt, requires_dist=["idna"], **knobs)[1] == content


def test_old_sdist_files() -> None:
    requires_txt = 'idna>=2\n\n[:python_version < "3.8"]\nfoo\n\n[fancy]\nrich\n'
    true_requires = ["idna>=2", 'foo; python_version < "3.8"', 'rich; extra == "fancy"']
    _, content, pkg_info = build_sdist(
        "Foo.Bar",
        "2.0",
        metadata_version="2.1",
        requires_python=">=3.7",
        requires_dist=true_requires,
        provides_extra=["fancy"],
        build_requires=["fakebuild>=1", 'tomli; python_version < "3.11"'],
        egg_info_requires=requires_txt,
    )
    files = _members(content)
    true_metadata = build_wheel(
        "Foo.Bar",
        "2.0",
        requires_python=">=3.7",
        requires_dist=true_requires,
        provides_extra=["fancy"],
    )[2]

    assert files[f"{_OLD}/PKG-INFO"] == pkg_info == files[f"{_EGG}/PKG-INFO"]
    assert "Requires-Dist" not in pkg_info.decode()
    assert "Provides-Extra: fancy\n" in pkg_info.decode()
    assert files[f"{_EGG}/requires.txt"] == requires_txt.encode()
    assert files[f"{_OLD}/_fake_metadata"] == true_metadata
    assert files[f"{_OLD}/pyproject.toml"].decode() == (
        "[build-system]\n"
        'requires = ["fakebuild>=1", "tomli; python_version < \\"3.11\\""]\n'
        'build-backend = "_fake_backend"\n'
        'backend-path = ["."]\n'
    )
    named = _members(build_sdist("foo", "1.0", build_requires=["fb"], build_backend="fb")[1])
    assert (
        named["foo-1.0/pyproject.toml"]
        == b'[build-system]\nrequires = ["fb"]\nbuild-backend = "fb"\n'
    )
    legacy = _members(build_sdist("foo", "1.0", build_requires=None)[1])
    assert legacy["foo-1.0/setup.py"].startswith(b"# ")
    no_top = _members(build_sdist("foo", "1.0", top_pkg_info=False, requires_dist=["idna"])[1])
    assert b"Requires-Dist: idna\n" in no_top["foo-1.0/foo.egg-info/PKG-INFO"]


def test_build_sdist_refuses_contradictions() -> None:
    with pytest.raises(ValueError, match="build_backend"):
        build_sdist("foo", "1.0", build_requires=None, build_backend="fakebuild")
    with pytest.raises(TypeError, match="sequence"):
        build_sdist("foo", "1.0", build_requires="fakebuild")


def _load_backend(source: bytes, name: str) -> Any:
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)
    return module


@pytest.mark.parametrize(
    ("version", "wants_wheel"),
    [("65.0", True), ("70.0.0", True), ("70.1", False), ("80.9.0", False)],
)
def test_setuptools_wheel(version: str, wants_wheel: bool) -> None:
    filename, content, metadata = build_setuptools_wheel(version)

    assert filename == f"setuptools-{version}-py3-none-any.whl"
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert zf.namelist() == [
            "setuptools/__init__.py",
            "setuptools/build_meta.py",
            f"setuptools-{version}.dist-info/METADATA",
            f"setuptools-{version}.dist-info/WHEEL",
            f"setuptools-{version}.dist-info/RECORD",
        ]
        assert zf.read(f"setuptools-{version}.dist-info/METADATA") == metadata
        build_meta = _load_backend(zf.read("setuptools/build_meta.py"), "setuptools.build_meta")
    expected = ["wheel"] if wants_wheel else []
    assert build_meta.get_requires_for_build_wheel() == expected
    assert build_meta.__legacy__.get_requires_for_build_wheel() == expected
    assert build_meta.get_requires_for_build_sdist() == []
    for hook in ("prepare_metadata_for_build_wheel", "build_wheel", "build_sdist"):
        assert getattr(build_meta.__legacy__, hook) is getattr(build_meta, hook)


def test_backend_wheel() -> None:
    filename, content, metadata = build_backend_wheel(
        "fake-build", "2.0", requires_for_build_wheel=["helper"], requires_dist=["dep"]
    )

    assert filename == "fake_build-2.0-py3-none-any.whl"
    assert b"Requires-Dist: dep\n" in metadata
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert zf.namelist()[0] == "fake_build/__init__.py"
        backend = _load_backend(zf.read("fake_build/__init__.py"), "fake_build")
    assert backend.__version__ == "2.0"
    assert backend.get_requires_for_build_wheel() == ["helper"]


@pytest.mark.parametrize(
    ("knobs", "drop"),
    [
        pytest.param({"egg_info_requires": "idna\n", "top_pkg_info": False}, None, id="egg-info"),
        pytest.param({"build_requires": None}, None, id="setup-py"),
        pytest.param({}, None, id="plain-pkg-info"),  # the default sdist has no _fake_metadata
        pytest.param({"top_pkg_info": False}, "_fake_metadata", id="egg-info-pkg-info"),
    ],
)
def test_generic_backend_builds_the_true_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, knobs: dict[str, Any], drop: str | None
) -> None:
    _, content, _ = build_sdist("Foo.Bar", "2.0", requires_dist=["idna"], **knobs)
    for name, data in _members(content).items():
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    source = tmp_path / "src" / _OLD
    if drop is not None:  # then the backend falls back to the (egg-info) PKG-INFO
        (source / drop).unlink()
    with zipfile.ZipFile(io.BytesIO(build_setuptools_wheel("80.9.0")[1])) as zf:
        backend = _load_backend(zf.read("setuptools/build_meta.py"), "setuptools.build_meta")
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(source)

    dist_info = backend.__legacy__.prepare_metadata_for_build_wheel(str(out))
    wheel_name = backend.__legacy__.build_wheel(str(out))
    sdist_name = backend.build_sdist(str(out))

    prepared = (out / dist_info / "METADATA").read_bytes()
    assert dist_info == "Foo_Bar-2.0.dist-info"
    assert prepared == build_wheel("Foo.Bar", "2.0", requires_dist=["idna"])[2]
    assert wheel_name == "Foo_Bar-2.0-py3-none-any.whl"
    with zipfile.ZipFile(out / wheel_name) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [
            "foo_bar/__init__.py",
            "Foo_Bar-2.0.dist-info/METADATA",
            "Foo_Bar-2.0.dist-info/WHEEL",
            "Foo_Bar-2.0.dist-info/RECORD",
        ]
        assert zf.read("Foo_Bar-2.0.dist-info/METADATA") == prepared
    assert sdist_name == f"{_OLD}.tar.gz"
    assert f"{_OLD}/foo_bar/__init__.py" in _members((out / sdist_name).read_bytes())


def test_wheel_without_metadata(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("foo", "1.0", advertise_metadata=False)
    (entry,) = get(http, fake_index.url + "foo/").json()["files"]
    assert entry["core-metadata"] is False
    assert get(http, fake_index.file_url(wheel.filename) + ".metadata").status_code == 404


# --------------------------------------------------------------------------------------------
# Files and misbehaviour


@pytest.mark.parametrize("lie", [None, "0" * 64])
def test_downloaded_hash_vs_advertised(
    any_index: FakeIndex, http: requests.Session, lie: str | None
) -> None:
    wheel = any_index.add_wheel("foo", "1.0", advertised_sha256=lie)
    page = get(http, any_index.url + "foo/")
    if any_index.page_format == "json":
        advertised = page.json()["files"][0]["hashes"]["sha256"]
    else:
        advertised = str(anchors(page.text)[0][0]["href"]).split("#sha256=")[1]

    content = get(http, file_urls(any_index, http, "foo")[wheel.filename]).content

    assert (sha256(content) == advertised) is (lie is None)


def test_lying_metadata_hash(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("foo", "1.0", advertised_metadata_sha256="1" * 64)
    (entry,) = get(http, fake_index.url + "foo/").json()["files"]
    metadata = get(http, fake_index.file_url(wheel.filename) + ".metadata").content
    assert entry["core-metadata"] == {"sha256": "1" * 64} != {"sha256": sha256(metadata)}


def test_truncated_download(fake_index: FakeIndex, http: requests.Session) -> None:
    sdist = fake_index.add_sdist("foo", "1.0", truncate_to=100, truncate_first=1)
    url = fake_index.file_url(sdist.filename)

    received = bytearray()
    with http.get(url, stream=True, timeout=10) as response:
        announced = int(response.headers["Content-Length"])
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            drain(response, received)
    second = get(http, url)

    assert announced == len(sdist.content) > 100
    assert len(received) == 100
    assert second.content == sdist.content
    assert [r.status for r in fake_index.downloads(sdist.filename)] == [200, 200]


def test_fail_first_then_succeed(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("foo", "1.0", fail_first=2, retry_after="1")
    url = fake_index.file_url(wheel.filename)

    responses = [get(http, url) for _ in range(3)]

    assert [r.status_code for r in responses] == [503, 503, 200]
    assert [r.headers.get("Retry-After") for r in responses] == ["1", "1", None]
    assert responses[2].content == wheel.content


def test_fail_status_429(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("foo", "1.0", fail_first=1, fail_status=429)
    url = fake_index.file_url(wheel.filename)
    assert [get(http, url).status_code for _ in range(2)] == [429, 200]


@pytest.mark.parametrize(
    ("header", "span"),
    [("bytes=10-19", (10, 20)), ("bytes=-5", (95, 100)), ("bytes=90-", (90, 100)),
     ("bytes=95-1000", (95, 100))],
)  # fmt: skip
def test_range_request(
    fake_index: FakeIndex, http: requests.Session, header: str, span: tuple[int, int]
) -> None:
    f = fake_index.add_file("foo", "foo-1.0.tar.gz", bytes(range(100)))

    response = get(http, fake_index.file_url(f.filename), headers={"Range": header})

    assert response.status_code == 206
    assert response.content == f.content[span[0] : span[1]]
    assert response.headers["Content-Range"] == f"bytes {span[0]}-{span[1] - 1}/100"
    assert response.headers["Accept-Ranges"] == "bytes"


def test_range_unsatisfiable_and_unsupported(fake_index: FakeIndex, http: requests.Session) -> None:
    f = fake_index.add_file("foo", "foo-1.0.tar.gz", bytes(range(100)))
    url = fake_index.file_url(f.filename)

    unsatisfiable = get(http, url, headers={"Range": "bytes=100-"})
    fake_index.range_support = False
    ignored = get(http, url, headers={"Range": "bytes=10-19"})

    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["Content-Range"] == "bytes */100"
    assert ignored.status_code == 200
    assert ignored.content == f.content
    assert "Accept-Ranges" not in ignored.headers


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("bytes=0-0", (0, 1)), ("bytes=5-2", (-1, -1)), ("bytes=-0", (-1, -1)),
     ("bytes=1-2,4-5", None), ("items=1-2", None), ("bytes=x-2", None)],
)  # fmt: skip
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


def test_head(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("foo", "1.0", fail_first=1)
    with http.head(fake_index.file_url(wheel.filename), timeout=10) as response:
        assert response.status_code == 200
        assert response.content == b""
        assert response.headers["Content-Length"] == str(len(wheel.content))
    assert fake_index.downloads() == []  # HEADs neither count as downloads nor use up failures
    assert get(http, fake_index.file_url(wheel.filename)).status_code == 503


def test_ignores_accept_encoding(fake_index: FakeIndex, http: requests.Session) -> None:
    sdist = fake_index.add_sdist("foo", "1.0")
    response = get(http, fake_index.file_url(sdist.filename), headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in response.headers
    assert response.content == sdist.content


def test_hostile_filenames_are_served(fake_index: FakeIndex, http: requests.Session) -> None:
    fake_index.add_file("foo", "../evil-1.0.tar.gz", b"evil")
    fake_index.add_file("foo", "bar-1.0.tar.gz", b"someone else's")
    fake_index.add_file("foo", "foo-1.0.post-weird.tar.gz", b"weird")

    urls = file_urls(fake_index, http, "foo")
    page = get(http, fake_index.url + "foo/").json()

    assert urls["../evil-1.0.tar.gz"] == f"{fake_index.origin}/files/..%2Fevil-1.0.tar.gz"
    assert get(http, urls["../evil-1.0.tar.gz"]).content == b"evil"
    assert page["versions"] == ["1.0"]  # the non-PEP 440 name has no version


def test_request_log(fake_index: FakeIndex, http: requests.Session) -> None:
    wheel = fake_index.add_wheel("foo", "1.0")
    sdist = fake_index.add_sdist("foo", "1.0")
    get(http, fake_index.url + "foo/")
    get(http, fake_index.file_url(wheel.filename) + ".metadata")
    get(http, fake_index.file_url(wheel.filename), headers={"User-Agent": "selmirror-test"})
    get(http, fake_index.file_url(sdist.filename))

    assert [r.kind for r in fake_index.requests] == ["page", "metadata", "file", "file"]
    assert [r.filename for r in fake_index.downloads()] == [wheel.filename, sdist.filename]
    (download,) = fake_index.downloads(wheel.filename)
    assert download.method == "GET"
    assert download.status == 200
    assert download.path == f"/files/{wheel.filename}"
    assert download.headers["user-agent"] == "selmirror-test"

    fake_index.reset_log()
    assert fake_index.requests == []
    assert fake_index.downloads() == []


def test_basic_auth(any_index: FakeIndex, http: requests.Session) -> None:
    wheel = any_index.add_wheel("foo", "1.0")
    any_index.auth = ("user", "s3cret")

    anonymous = get(http, any_index.url + "foo/")
    wrong = get(http, any_index.url + "foo/", auth=("user", "nope"))
    page = get(http, any_index.url + "foo/", auth=("user", "s3cret"))
    file_anonymous = get(http, any_index.file_url(wheel.filename))

    assert anonymous.status_code == wrong.status_code == file_anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="fakeindex"'
    assert page.status_code == 200
    assert [(r.kind, r.status) for r in any_index.requests] == [
        ("page", 401), ("page", 401), ("page", 200), ("file", 401)
    ]  # fmt: skip


def test_concurrent_clients(fake_index: FakeIndex) -> None:
    wheels = [fake_index.add_wheel(f"pkg{i}", "1.0") for i in range(16)]
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(filename: str) -> None:
        try:
            with requests.Session() as session:
                for _ in range(3):
                    content = get(session, fake_index.file_url(filename)).content
                results[filename] = sha256(content)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w.filename,)) for w in wheels]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert results == {w.filename: w.sha256 for w in wheels}
    assert len(fake_index.downloads()) == 48
    assert fake_index.errors == []


def test_throttle_and_stop_mid_download() -> None:
    index = FakeIndex()
    index.start()
    f = index.add_file("foo", "foo-1.0.tar.gz", b"x" * 100_000, throttle=20_000.0)
    slow = index.add_file("foo", "foo-2.0.tar.gz", b"x" * 1_000, throttle=4_000.0)
    with requests.Session() as session:
        started = time.monotonic()
        assert len(get(session, index.file_url(slow.filename)).content) == 1_000
        assert time.monotonic() - started >= 0.2

        with session.get(index.file_url(f.filename), stream=True, timeout=10) as response:
            first = next(response.iter_content(1_000))
            started = time.monotonic()
            index.stop()  # must not wait for the five-second transfer, nor the open connection
            stopped_after = time.monotonic() - started
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                drain(response, bytearray(), 10_000)
    assert first
    assert stopped_after < 2.0
    assert index.errors == []


def test_stop_with_idle_keepalive_connection() -> None:
    with FakeIndex() as index, requests.Session() as session:
        index.add_wheel("foo", "1.0")
        get(session, index.url + "foo/")  # the pooled connection stays open
        started = time.monotonic()
        index.stop()
        assert time.monotonic() - started < 2.0


# --------------------------------------------------------------------------------------------
# The network guard (conftest.py)


@pytest.mark.parametrize("address", [("192.0.2.1", 80), ("::ffff:192.0.2.1", 80, 0, 0)])
def test_network_guard_refuses_connect(
    network_guard: NetworkGuard, address: tuple[str | int, ...]
) -> None:
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NetworkGuardError):
        sock.connect(address)
    with socket.socket(family, socket.SOCK_STREAM) as sock, pytest.raises(NetworkGuardError):
        sock.connect_ex(address)
    assert len(network_guard.blocked) == 2
    network_guard.blocked.clear()  # refusals are expected here; don't fail at teardown


def test_network_guard_refuses_dns_and_requests(network_guard: NetworkGuard) -> None:
    with pytest.raises(NetworkGuardError):
        socket.getaddrinfo("pypi.org", 443)
    with pytest.raises(NetworkGuardError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with requests.Session() as session, pytest.raises(NetworkGuardError):
        session.get("https://pypi.org/simple/", timeout=1)
    assert len(network_guard.blocked) == 3
    network_guard.blocked.clear()


def test_network_guard_allows_loopback_and_unix(tmp_path: Path, fake_index: FakeIndex) -> None:
    with socket.create_connection(("localhost", fake_index.port), timeout=5):
        pass
    with socket.create_connection(("127.0.0.1", fake_index.port), timeout=5):
        pass
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)


# --------------------------------------------------------------------------------------------
# Real installers against the fake index


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus PIP_*/UV_* (this machine's config must not leak in)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("PIP_", "UV_")) and not k.lower().endswith("_proxy")
    }
    env.update(extra)
    return env


@pytest.fixture(params=["json", "html"])
def installable_index(request: pytest.FixtureRequest) -> Iterator[FakeIndex]:
    """An index with a wheel-only project and an sdist-only project (with dependencies)."""
    with FakeIndex(page_format=request.param) as index:
        index.add_wheel("Fake.Wheel", "1.0", requires_dist=["nonexistent-dep>=1"])
        index.add_wheel("Fake.Wheel", "2.0", yanked="bad")
        index.add_sdist("fake-sdist", "1.0", requires_dist=["idna"], dynamic=["Requires-Dist"])
        yield index


def test_pip_download(installable_index: FakeIndex, tmp_path: Path) -> None:
    index = installable_index
    command = [
        sys.executable, "-m", "pip", "download", "--isolated", "--no-deps",
        "--disable-pip-version-check", "--no-cache-dir", "--index-url", index.url,
        "-d", str(tmp_path), "fake-wheel==1.0", "fake_sdist==1.0",
    ]  # fmt: skip
    env = clean_env(PIP_CONFIG_FILE=os.devnull)

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    downloaded = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    expected = {f.filename: f.content for f in index.files() if f.version == "1.0"}
    assert downloaded == expected
    assert {r.kind for r in index.requests} == {"page", "metadata", "file"}


def test_uv_install(installable_index: FakeIndex, tmp_path: Path) -> None:
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.skip("uv is not installed next to the test interpreter")
    index = installable_index
    target = tmp_path / "target"
    command = [
        str(uv), "pip", "install", "--no-config", "--no-cache", "--no-deps",
        "--python", sys.executable, "--target", str(target), "--default-index", index.url,
        "fake-wheel", "fake-sdist==1.0",
    ]  # fmt: skip
    env = clean_env(UV_PYTHON_DOWNLOADS="never")

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "fake_wheel" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert (target / "fake_sdist" / "__init__.py").read_text() == '__version__ = "1.0"\n'
    assert index.downloads("Fake_Wheel-2.0-py3-none-any.whl") == []  # yanked: skipped


# --------------------------------------------------------------------------------------------
# Build requirements and old sdists, with real pip and uv building them


def fetched_by(index: FakeIndex, project: str) -> dict[str, set[int]]:
    """client ("pip" or "uv", from the User-Agent) -> statuses it got for a project page."""
    seen: dict[str, set[int]] = {}
    for r in index.page_requests(project):
        client = r.headers.get("user-agent", "").split("/")[0]
        seen.setdefault(client, set()).add(r.status)
    return seen


def installed_metadata(target: Path, dist_info: str) -> str:
    return (target / dist_info / "METADATA").read_text()


def test_build_requires_come_from_the_index(tmp_path: Path) -> None:
    with FakeIndex() as index:
        index.add_sdist("in-tree", "1.0", build_requires=["fakebuild>=1"], requires_dist=["dep"])
        index.add_sdist("named", "1.0", build_requires=["fakebuild>=1"], build_backend="fakebuild")
        index.add_wheel("dep", "1.0")

        missing = build_with_pip_and_uv(index.url, ["in-tree", "named"], tmp_path)
        index.add_backend("fakebuild", "1.0")
        served = build_with_pip_and_uv(index.url, ["in-tree", "named"], tmp_path)

    missing.assert_failed(
        "No matching distribution found for fakebuild>=1",
        "fakebuild was not found in the package registry",
    )
    served.assert_ok("dep-1.0", "in-tree-1.0", "named-1.0")
    assert (served.target / "in_tree" / "__init__.py").is_file()
    assert (served.target / "named" / "__init__.py").is_file()
    assert "Requires-Dist: dep\n" in installed_metadata(served.target, "in_tree-1.0.dist-info")
    assert not (served.target / "fakebuild").exists()  # a build requirement, not installed
    assert fetched_by(index, "fakebuild") == {"pip": {404, 200}, "uv": {404, 200}}
    assert index.errors == []


def test_setup_py_sdist_builds_with_setuptools_from_the_index(tmp_path: Path) -> None:
    with FakeIndex() as index:
        index.add_sdist("legacy", "1.0", build_requires=None, requires_dist=["dep"])
        index.add_wheel("dep", "1.0")

        missing = build_with_pip_and_uv(index.url, ["legacy"], tmp_path)
        index.add_setuptools("80.9.0")
        served = build_with_pip_and_uv(index.url, ["legacy"], tmp_path)

    missing.assert_failed(
        "No matching distribution found for setuptools>=40.8.0",  # pip's default build system
        "setuptools was not found in the package registry",
    )
    served.assert_ok("dep-1.0", "legacy-1.0")
    assert "Requires-Dist: dep\n" in installed_metadata(served.target, "legacy-1.0.dist-info")
    assert fetched_by(index, "wheel") == {}  # setuptools >= 70.1 does not ask for it
    assert index.errors == []


def test_old_setuptools_needs_wheel_from_the_index(tmp_path: Path) -> None:
    with FakeIndex() as index:
        index.add_sdist("legacy", "1.0", build_requires=None)
        index.add_setuptools("65.0")

        missing = build_with_pip_and_uv(index.url, ["legacy"], tmp_path)
        index.add_wheel("wheel", "0.45.1")
        served = build_with_pip_and_uv(index.url, ["legacy"], tmp_path)

    missing.assert_failed(
        "No matching distribution found for wheel\n",
        "wheel was not found in the package registry",
    )
    served.assert_ok("legacy-1.0")
    assert (served.target / "legacy" / "__init__.py").is_file()
    assert fetched_by(index, "wheel") == {"pip": {404, 200}, "uv": {404, 200}}
    assert index.errors == []


def test_old_metadata_sdists_build_their_true_requirements(tmp_path: Path) -> None:
    with FakeIndex() as index:
        index.add_sdist(
            "eggy",
            "1.0",
            metadata_version="2.1",  # old setuptools: uv then builds instead of trusting PKG-INFO
            requires_dist=["dep>=1", 'extra-dep; extra == "x"'],
            provides_extra=["x"],
            egg_info_requires="dep>=1\n\n[x]\nextra-dep\n",
        )
        index.add_sdist(
            "dilly", "1.0", metadata_version="2.1", requires_dist=["other"], top_pkg_info=False
        )
        index.add_wheel("dep", "1.0")
        index.add_wheel("other", "1.0")
        index.add_wheel("extra-dep", "1.0")

        builds = build_with_pip_and_uv(index.url, ["eggy", "dilly"], tmp_path)

    builds.assert_ok("dep-1.0", "dilly-1.0", "eggy-1.0", "other-1.0")
    eggy = installed_metadata(builds.target, "eggy-1.0.dist-info")
    assert "Requires-Dist: dep>=1\n" in eggy
    assert 'Requires-Dist: extra-dep; extra == "x"\n' in eggy
    assert (builds.target / "dep").is_dir()
    assert (builds.target / "other").is_dir()
    assert not (builds.target / "extra_dep").exists()
    assert index.errors == []
