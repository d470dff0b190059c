"""Rendering pages: escaping of every upstream-controlled value, and what each format carries."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.index_writer import (
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from selmirror.models import DistFile, ProjectStatus
from selmirror.pages import parse_html_page

FOO = NormalizedName("foo")
SHA = "c" * 64
EVIL = '"><script>alert(1)</script><a x="'


def _file(filename: str = "foo-1.0-py3-none-any.whl", **extra: object) -> DistFile:
    fields: dict[str, object] = {
        "project": FOO,
        "filename": filename,
        "url": f"file:///m/foo/{filename}",
        "version": Version("1.0"),
        "kind": "wheel" if filename.endswith(".whl") else "sdist",
        "hashes": {"sha256": SHA},
        "size": 10,
    }
    return DistFile(**(fields | extra))  # type: ignore[arg-type]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _anchors(html: bytes) -> list[dict[str, str | None]]:
    parser = _Tags()
    parser.feed(html.decode())
    return [attrs for tag, attrs in parser.tags if tag == "a"]


def test_hostile_values_are_escaped_in_html() -> None:
    html = render_project_html(
        FOO, [_file(yanked=EVIL, requires_python=">=3.8,<4", core_metadata={"sha256": SHA})]
    )
    assert b"<script>" not in html
    (anchor,) = _anchors(html)
    assert anchor["data-yanked"] == EVIL  # survives intact, as an attribute value
    assert anchor["data-requires-python"] == ">=3.8,<4"
    assert b"&gt;=3.8,&lt;4" in html
    assert anchor["href"] == f"foo-1.0-py3-none-any.whl#sha256={SHA}"
    assert anchor["data-core-metadata"] == anchor["data-dist-info-metadata"] == f"sha256={SHA}"


def test_yanked_without_reason_is_never_a_bare_attribute() -> None:
    html = render_project_html(FOO, [_file(yanked="")])
    assert b'data-yanked=""' in html
    assert render_project_json(FOO, [_file(yanked="")]).count(b'"yanked": true') == 1


def test_local_version_plus_is_percent_encoded_in_links() -> None:
    f = _file("foo-1.0+cpu-py3-none-any.whl", version=Version("1.0+cpu"))
    (anchor,) = _anchors(render_project_html(FOO, [f]))
    assert anchor["href"] is not None
    assert anchor["href"].startswith("foo-1.0%2Bcpu-py3-none-any.whl#")
    entry = json.loads(render_project_json(FOO, [f]))["files"][0]
    assert entry["url"] == "foo-1.0%2Bcpu-py3-none-any.whl"
    assert entry["filename"] == "foo-1.0+cpu-py3-none-any.whl"


def test_json_page_carries_pep_691_and_700_fields() -> None:
    files = [
        _file(upload_time="2024-01-01T00:00:00Z", core_metadata={"sha256": SHA}),
        _file("foo-2.0.tar.gz", version=Version("2.0"), requires_python=">=3.9"),
    ]
    page = json.loads(render_project_json(FOO, files))
    assert page["meta"] == {"api-version": "1.4"}
    assert page["name"] == "foo"
    assert page["versions"] == ["1.0", "2.0"]
    wheel, sdist = page["files"]
    assert wheel["core-metadata"] == {"sha256": SHA}
    assert wheel["upload-time"] == "2024-01-01T00:00:00Z"
    assert wheel["size"] == 10
    assert wheel["yanked"] is False
    assert "requires-python" not in wheel
    assert "upload-time" not in sdist  # omitted, never "" (uv rejects an empty string)
    assert sdist["core-metadata"] is False
    assert sdist["requires-python"] == ">=3.9"
    assert all("dist-info-metadata" not in f for f in page["files"])  # breaks older pip


def test_root_pages_link_every_project_folder() -> None:
    (anchor,) = _anchors(render_root_html(["foo"]))
    assert anchor["href"] == "foo/"
    assert json.loads(render_root_json(["b", "a"]))["projects"] == [{"name": "a"}, {"name": "b"}]


def test_upload_times_in_both_pages_and_our_arrival_time_apart() -> None:
    files = [
        _file(upload_time="2024-01-01T00:00:00Z", arrival_time="2026-12-04T18:00:00.000001Z"),
        _file("foo-2.0.tar.gz", version=Version("2.0"), size=None),
    ]
    wheel, sdist = _anchors(render_project_html(FOO, files))
    assert wheel["data-upload-time"] == "2024-01-01T00:00:00Z"  # uv reads it, for cooldowns
    assert wheel["data-size"] == "10"
    assert "data-upload-time" not in sdist  # unknown: left out, never ""
    assert "data-size" not in sdist
    entry, other = json.loads(render_project_json(FOO, files))["files"]
    assert entry["upload-time"] == "2024-01-01T00:00:00Z"  # upstream's, not ours
    assert entry["_arrival-time"] == "2026-12-04T18:00:00.000001Z"
    assert "_arrival-time" not in other
    assert "arrival" not in render_project_html(FOO, files).decode()


def test_project_status_in_both_pages_and_read_back() -> None:
    status = ProjectStatus("deprecated", EVIL)
    html = render_project_html(FOO, [_file()], status)
    assert b"<script>" not in html
    assert b'<meta name="pypi:repository-version" content="1.4">' in html
    head = parse_html_page(html, url="file:///m/foo/", project=FOO, schemes=("file",))
    assert head.project_status == status
    page = json.loads(render_project_json(FOO, [_file()], status))
    assert page["meta"] == {"api-version": "1.4"}
    assert page["project-status"] == {"status": "deprecated", "reason": EVIL}
    assert "project-status" not in json.loads(render_project_json(FOO, [_file()]))
    assert b"project-status" not in render_project_html(FOO, [_file()])
