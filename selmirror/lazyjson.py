"""Read a JSON document whose one large array is kept as text, each element decoded later.

A PEP 691 page of a big project is mostly its ``files`` array, and a run uses the files of
a few versions. ``json.loads`` builds a dict for every file object: about 2.5 times the
page's size in objects, on top of the page's bytes and their decoded text (a 110 MiB page
cost 543 MiB). :func:`scan` decodes one element at a time, keeps only where it lies in the
text and its ``filename``, and drops the dict: the page then costs its text and a few
small objects per file, and an element is decoded again (:func:`load_json`) when it is
used. What :func:`scan` accepts and refuses is what ``json.loads`` accepts and refuses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, and no other
_DECODER = json.JSONDecoder()
# the C scanner behind raw_decode, called without raw_decode's Python frame
_SCAN_ONCE: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


class Span(NamedTuple):
    """An object of the array, not kept decoded: its ``filename`` and where it lies."""

    filename: str
    start: int
    end: int


Element = dict[str, Any] | Span


def load_json(data: bytes | str) -> Any:
    """``json.loads``, where every way hostile bytes can fail is a :class:`ValueError`.

    Arrays nested 100,000 deep exhaust the recursion limit: json raises RecursionError,
    which no reader of a page or of a state file expects.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def text_of(body: bytes) -> str:
    """``body`` decoded as ``json.loads`` decodes bytes (UTF-8, -16 or -32, by its start)."""
    return body.decode(json.detect_encoding(body), "surrogatepass")


def scan(text: str, key: str) -> tuple[Any, list[Element] | None]:
    """The document in ``text``, and the elements of its top-level ``key`` array.

    When the document is an object whose ``key`` is an array, that array is left out of
    the object returned and comes back as its elements: an object that has a str
    ``filename`` as a :class:`Span` of ``text``, any other object as itself, and anything
    else as an empty dict (no file object is anything but an object). Otherwise the
    document is returned whole, with ``None``. :class:`ValueError` as ``json.loads`` would.
    """
    try:
        return _scan(text, key)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _skip(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def _scan(text: str, key: str) -> tuple[Any, list[Element] | None]:
    at = _skip(text, 0)
    if text.startswith("\ufeff") or not text.startswith("{", at):
        return load_json(text), None  # json words its errors, and a BOM is one
    document: dict[str, Any] = {}
    elements: list[Element] | None = None
    at = _skip(text, at + 1)
    empty = text.startswith("}", at)
    while not empty:
        if not text.startswith('"', at):
            raise json.JSONDecodeError(
                "Expecting property name enclosed in double quotes", text, at
            )
        name, at = _DECODER.raw_decode(text, at)
        at = _skip(text, at)
        if not text.startswith(":", at):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
        at = _skip(text, at + 1)
        if name == key and text.startswith("[", at):
            elements, at = _array(text, at)
            document.pop(name, None)  # the last of keys listed twice counts, as in json
        else:
            document[name], at = _DECODER.raw_decode(text, at)
            if name == key:
                elements = None
        at = _skip(text, at)
        if text.startswith(",", at):
            at = _skip(text, at + 1)
        elif text.startswith("}", at):
            break
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
    end = _skip(text, at + 1)
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)
    return document, elements


def _array(text: str, at: int) -> tuple[list[Element], int]:
    """The elements of the array at ``text[at] == "["``, and where it ends.

    The loop of a page's every file, so written for speed: json's own scanner called
    directly, whitespace skipped by one match."""
    elements: list[Element] = []
    append, scan_once, blank = elements.append, _SCAN_ONCE, _WHITESPACE.match
    at = blank(text, at + 1).end()  # type: ignore[union-attr]  # matches the empty string
    if text.startswith("]", at):
        return elements, at + 1
    while True:
        start = at
        try:
            value, at = scan_once(text, at)
        except StopIteration as stop:
            raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        if value.__class__ is dict:
            filename = value.get("filename")
            append(Span(filename, start, at) if filename.__class__ is str else value)
        else:
            append({})
        at = blank(text, at).end()  # type: ignore[union-attr]
        delimiter = text[at : at + 1]
        if delimiter == ",":
            at = blank(text, at + 1).end()  # type: ignore[union-attr]
        elif delimiter == "]":
            return elements, at + 1
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
