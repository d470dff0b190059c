"""publish: what a mirror is as objects, and the plan that keeps a bucket consistent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from selmirror.folder import MirrorFolder
from selmirror.publish import plan as P
from selmirror.publish.inventory import inventory
from tests.fakeindex import FakeIndex
from tests.test_e2e import selmirror

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
LOCAL = "alpha-1.0+cpu-py3-none-any.whl"


@pytest.fixture
def mirror(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[FakeIndex, Path]:
    fake_index.add_wheel("alpha", "1.0+cpu").provenance = json.dumps(
        {"version": 1, "attestation_bundles": []}
    ).encode()
    fake_index.add_sdist("beta", "1.0")
    root = tmp_path / "simple"
    assert selmirror(capsys, fake_index, root, "alpha", "beta")[0] == 0
    return fake_index, root


def _wanted(root: Path, prefix: str = "simple/", canonical: str = "json") -> list[P.Put]:
    return P.objects(inventory(MirrorFolder(root)), prefix, canonical)


def test_every_object_has_its_key_type_and_caching(mirror: tuple[FakeIndex, Path]) -> None:
    _, root = mirror
    wanted = {p.key: p for p in _wanted(root)}
    assert not [k for k in wanted if ".selmirror" in k]
    wheel = wanted[f"simple/alpha/{LOCAL}"]  # a literal "+": pages link it as %2B
    assert (wheel.content_type, wheel.cache_control) == (P.OCTETS, P.FILE_CACHE)
    assert (
        wheel.sha256
        == json.loads((root / "alpha" / "index.v1_json").read_text())["files"][0]["hashes"][
            "sha256"
        ]
    )
    assert wanted[f"simple/alpha/{LOCAL}.metadata"].content_type == P.OCTETS
    provenance = wanted[f"simple/alpha/{LOCAL}.provenance"]
    assert (provenance.content_type, provenance.cache_control) == ("application/json", P.PAGE_CACHE)
    assert "simple/beta/beta-1.0.tar.gz" in wanted
    for folder in ("simple/alpha/", "simple/beta/", "simple/"):  # no website hosting needed
        page = wanted[folder]
        assert (page.content_type, page.cache_control) == (P.JSON, P.PAGE_CACHE)
        assert page.sha256 == wanted[folder + "index.v1_json"].sha256
        assert wanted[folder + "index.html"].content_type == P.HTML
    html = {p.key: p for p in _wanted(root, canonical="html")}
    assert html["simple/alpha/"].sha256 == html["simple/alpha/index.html"].sha256
    assert "simple/" not in {p.key for p in _wanted(root, prefix="")}  # the bucket root
    assert not [p.key for p in _wanted(root, canonical="none") if p.key.endswith("/")]


def test_files_go_first_then_project_pages_then_the_root(mirror: tuple[FakeIndex, Path]) -> None:
    _, root = mirror
    first = P.plan(_wanted(root), {}, {}, now=NOW, delay=HOUR)
    kinds = [
        "root" if "/" not in p.source else "page" if p.content_type in (P.HTML, P.JSON) else "file"
        for p in first.puts
    ]
    assert kinds == sorted(kinds, key=["file", "page", "root"].index)
    assert {"file", "page", "root"} == set(kinds)
    assert first.deletes == ()
    # published as planned: nothing to do
    published = {p.key: p.sha256 for p in first.puts}
    again = P.plan(_wanted(root), published, {}, now=NOW, delay=HOUR)
    assert again.puts == ()
    assert again.unchanged == len(first.puts)


def test_only_what_changed_is_put_and_unlisted_objects_wait_out_the_delay(
    mirror: tuple[FakeIndex, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, root = mirror
    published = {p.key: p.sha256 for p in _wanted(root)}
    index.add_sdist("beta", "2.0")
    assert selmirror(capsys, index, root, "alpha", "beta", "--prune")[0] == 0
    step = P.plan(_wanted(root), published, {}, now=NOW, delay=HOUR)
    assert [p.key for p in step.files] == ["simple/beta/beta-2.0.tar.gz"]
    assert {p.key for p in step.pages} == {
        "simple/beta/",
        "simple/beta/index.html",
        "simple/beta/index.v1_json",
    }
    assert step.roots == ()  # the same projects: the root pages are unchanged
    gone = "simple/beta/beta-1.0.tar.gz"
    assert step.deletes == ()
    assert step.unlisted == {gone: NOW.isoformat()}
    published.update({p.key: p.sha256 for p in step.puts})
    later = P.plan(_wanted(root), published, step.unlisted, now=NOW + HOUR / 2, delay=HOUR)
    assert (later.deletes, later.unlisted) == ((), step.unlisted)  # a CDN may still list it
    last = P.plan(_wanted(root), published, later.unlisted, now=NOW + HOUR, delay=HOUR)
    assert last.deletes == (gone,)
    assert last.unlisted == {}


@pytest.mark.parametrize(
    ("prefix", "normal"), [("", ""), ("/a//b/", "a/b/"), ("simple", "simple/")]
)
def test_prefixes_are_normalized(prefix: str, normal: str) -> None:
    assert P.normalize_prefix(prefix) == normal


def test_a_prefix_cannot_climb() -> None:
    with pytest.raises(ValueError, match=r"no '\.' or '\.\.'"):
        P.normalize_prefix("a/../b")
