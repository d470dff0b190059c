"""lazyjson: a page's files array scanned one object at a time, judged by json.loads."""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import NormalizedName

from selmirror import lazyjson
from selmirror.lazyjson import Span, scan
from selmirror.pages import parse_json_page

EXAMPLES = int(os.environ.get("SELMIRROR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES * 2, deadline=None, derandomize=True)

_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
)
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
_FILE = st.one_of(
    st.fixed_dictionaries({"filename": st.text(max_size=8)}, optional={"url": _VALUE}),
    st.dictionaries(st.sampled_from(["filename", "url", "x"]), _VALUE, max_size=3),
    _VALUE,
)
_DOCUMENT = st.one_of(
    st.dictionaries(
        st.sampled_from(["meta", "name", "files", "versions", "x"]),
        st.one_of(st.lists(_FILE, max_size=4), _VALUE),
        max_size=4,
    ),
    _VALUE,
)
# what breaks JSON: structure, quotes, escapes, numbers, whitespace JSON has and has not
_NOISE = st.sampled_from(
    [*'{}[],:"\\ \t\n\r\x0b\ufeff0-.eE', "NaN", "true", "nul", '"files"', "\\u12"]
)


def _text(document: Any, style: int) -> str:
    if style == 0:
        return json.dumps(document)
    if style == 1:
        return json.dumps(document, indent=1, ensure_ascii=False)
    return json.dumps(document, separators=(",", ":")).replace(",", " ,\r\n\t")


@st.composite
def _texts(draw: st.DrawFn) -> str:
    text = _text(draw(_DOCUMENT), draw(st.integers(0, 2)))
    if draw(st.integers(0, 2)) == 0:
        return text
    for _ in range(draw(st.integers(1, 3))):  # an edit at a random place
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 2))
        text = text[:at] + draw(st.one_of(st.just(""), _NOISE)) + text[at + cut :]
    return text


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values (NaN, which no float equals, included)."""
    return json.dumps(a) == json.dumps(b)


@FUZZ
@given(_texts(), st.sampled_from(["files", "meta"]))
def test_scan_accepts_and_reads_what_json_loads_does(text: str, key: str) -> None:
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):  # noqa: PT011 - json's messages vary
            scan(text, key)
        return
    document, elements = scan(text, key)
    if elements is None:
        assert _same(document, expected)
        assert not (isinstance(expected, dict) and isinstance(expected.get(key), list))
        return
    assert isinstance(expected, dict)
    assert _same(document, {k: v for k, v in expected.items() if k != key})
    assert len(elements) == len(expected[key])
    for element, value in zip(elements, expected[key], strict=True):
        if isinstance(element, Span):
            assert _same(json.loads(text[element.start : element.end]), value)
            assert element.filename == value["filename"]
        elif isinstance(value, dict):
            assert _same(element, value)
            assert not isinstance(value.get("filename"), str)
        else:
            assert element == {}


@pytest.mark.parametrize(
    "text",
    ['{"files": [1,]}', '{"files": []} x', '{"files": [] "a": 1}', '{"files" [1]}', '{,}',
     '{"a": 1,}', "\ufeff{}", '{"files": [{"filename": "a"} {}]}', '{"files": ['],
)  # fmt: skip
def test_what_json_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError) as refused:  # noqa: PT011 - the message is json's
        json.loads(text)
    with pytest.raises(ValueError) as scanned:  # noqa: PT011 - the same message
        scan(text, "files")
    assert str(scanned.value) == str(refused.value)


def test_the_last_of_a_key_listed_twice_counts() -> None:
    assert scan('{"files": [{"filename": "a"}], "files": 3}', "files") == ({"files": 3}, None)
    document, elements = scan('{"files": 3, "files": [{"filename": "a"}]}', "files")
    assert document == {}
    assert elements == [Span("a", 23, 40)]


def test_nesting_past_the_recursion_limit_is_a_value_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ValueError, match="nested too deeply"):
        scan('{"files": [{"filename": "a", "url": ' + deep + "}]}", "files")
    with pytest.raises(ValueError, match="nested too deeply"):
        lazyjson.load_json(deep)


def test_bytes_are_decoded_as_json_loads_decodes_them() -> None:
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32-le"):
        body = '{"name": "é"}'.encode(encoding)
        assert scan(lazyjson.text_of(body), "files")[0] == json.loads(body)


def test_a_json_page_costs_its_text_not_a_dict_per_file() -> None:
    """Peak memory of parsing a page of 20,000 files (10 per version) stays under 2.5 times
    its bytes; every file decoded at once, as json.loads does, cost 3.6 times them."""
    files = [
        {
            "filename": f"foo-{n // 10}.0-cp3{n % 10}-cp3{n % 10}-manylinux_2_17_x86_64.whl",
            "url": f"https://files.example/packages/ab/cd/{n:060d}/foo-{n}.0.whl",
            "hashes": {"sha256": f"{n:064x}"},
            "requires-python": ">=3.8",
            "core-metadata": {"sha256": f"{n:064x}"},
            "size": n,
            "upload-time": "2026-01-01T00:00:00.000000Z",
            "yanked": False,
        }
        for n in range(20_000)
    ]
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "foo", "files": files}).encode()
    del files
    tracemalloc.start()
    try:
        page = parse_json_page(body, url="https://x/simple/foo/", project=NormalizedName("foo"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(page.versions()) == 2_000
    assert peak < 2.5 * len(body), f"peak {peak:,} B for a page of {len(body):,} B"
    newest = page.files_of(page.versions()[0])
    assert [f.size for f in newest] == list(range(19_990, 20_000))
    assert newest[0].filename == "foo-1999.0-cp30-cp30-manylinux_2_17_x86_64.whl"


def test_an_entry_too_deep_to_decode_later_is_refused_not_raised() -> None:
    """An entry scanned at a shallow stack may be decoded later from a deeper one."""
    deep = "[" * 400 + "]" * 400
    body = (
        '{"meta": {"api-version": "1.1"}, "files": [{"filename": "foo-1.0.tar.gz", '
        f'"url": "https://x/foo-1.0.tar.gz", "x": {deep}}}]}}'
    ).encode()
    page = parse_json_page(body, url="https://x/simple/foo/", project=NormalizedName("foo"))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        files, rejected = page.files, page.rejected
    finally:
        sys.setrecursionlimit(limit)
    assert files == ()
    assert [(r.filename, r.category, r.reason) for r in rejected] == [
        ("foo-1.0.tar.gz", "bad-entry", "foo-1.0.tar.gz: nested too deeply")
    ]
