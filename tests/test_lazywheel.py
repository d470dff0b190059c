"""Reading a remote wheel's METADATA by range: what it asks, and what it refuses to read
(a server that sends more than was asked, a file that would take too much; issue 10)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tenacity import Retrying, stop_after_attempt

from selmirror.errors import UpstreamError
from selmirror.lazywheel import RangeNotSupported, remote_wheel_metadata, tail_for
from selmirror.upstream import Upstream

URL = "https://files.example/alpha-1.0-py3-none-any.whl"
FILENAME = "alpha-1.0-py3-none-any.whl"
METADATA = b"Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n"
READ_LIMIT = 1 << 20  # more than any test asks; a read beyond it would buffer a lie


def _wheel(padding: int = 0, comment: bytes = b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("alpha/data.bin", b"x" * padding, compress_type=zipfile.ZIP_STORED)
        archive.writestr("alpha-1.0.dist-info/METADATA", METADATA)
        archive.comment = comment
    return out.getvalue()


class _Raw:
    def __init__(self, body: bytes, reads: list[int]) -> None:
        self.body, self.reads = body, reads

    def read(self, amount: int, decode_content: bool = True) -> bytes:
        self.reads.append(amount)
        assert amount <= READ_LIMIT, f"would buffer {amount} bytes"
        return self.body[:amount]


class _Response:
    def __init__(self, status: int, headers: dict[str, str], raw: _Raw) -> None:
        self.status_code, self.headers, self.raw, self.url = status, headers, raw, URL

    def close(self) -> None:
        pass


Answer = Callable[[str], tuple[int, dict[str, str], bytes]]


class _Session:
    """Answers each GET with ``answer(range header)``; remembers ranges and read sizes."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.ranges: list[str] = []
        self.reads: list[int] = []

    @contextmanager
    def get(self, url: str, *, headers: dict[str, str], **_: Any) -> Iterator[_Response]:
        self.ranges.append(headers["Range"])
        status, response_headers, body = self.answer(headers["Range"])
        yield _Response(status, response_headers, _Raw(body, self.reads))


def _honest(content: bytes, total: int | None = None) -> Answer:
    size = len(content) if total is None else total

    def answer(byte_range: str) -> tuple[int, dict[str, str], bytes]:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range)
        assert match is not None
        first, last = match.groups()
        start, end = (size - int(last), size - 1) if not first else (int(first), int(last))
        start, end = max(start, 0), min(end, size - 1)
        body = content[start - (size - len(content)) : end + 1 - (size - len(content))]
        return 206, {"Content-Range": f"bytes {start}-{end}/{size}"}, body

    return answer


def _read(answer: Answer) -> tuple[bytes, _Session]:
    session = _Session(answer)
    upstream = Upstream(
        session,  # type: ignore[arg-type]
        [],
        retrying=lambda: Retrying(stop=stop_after_attempt(1), reraise=True),
    )
    return remote_wheel_metadata(upstream, URL, FILENAME), session


def test_an_honest_server_gives_metadata_from_the_tail() -> None:
    data, session = _read(_honest(_wheel(padding=200_000)))
    assert data == METADATA
    assert session.ranges == ["bytes=-65536"]


def test_a_wheel_whose_directory_lies_outside_the_tail() -> None:
    data, session = _read(_honest(_wheel(padding=200_000, comment=b"c" * 65_000)))
    assert data == METADATA
    assert len(session.ranges) > 1


def _wheel_with_big_directory(files: int) -> bytes:
    """METADATA, then a RECORD and a central directory of ``files`` entries after it, as a
    compiled project's wheel has (numpy's METADATA is about 350 KiB from its end)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("alpha/data.bin", b"x" * (8 << 20))
        for n in range(files):
            archive.writestr(f"alpha/module_with_a_long_name_{n:06d}.py", b"")
        archive.writestr("alpha-1.0.dist-info/METADATA", METADATA)
        record = "".join(f"alpha/module_with_a_long_name_{n:06d}.py,,\n" for n in range(files))
        archive.writestr("alpha-1.0.dist-info/RECORD", record)
    return out.getvalue()


def test_the_pages_size_of_a_big_wheel_sizes_the_first_request() -> None:
    """One request for what would take three from a 64 KiB tail (directory, then METADATA)."""
    wheel = _wheel_with_big_directory(1500)
    session = _Session(_honest(wheel))
    upstream = Upstream(
        session,  # type: ignore[arg-type]
        [],
        retrying=lambda: Retrying(stop=stop_after_attempt(1), reraise=True),
    )
    assert remote_wheel_metadata(upstream, URL, FILENAME, len(wheel)) == METADATA
    assert session.ranges == [f"bytes=-{len(wheel) // 32}"]
    session.ranges.clear()
    assert remote_wheel_metadata(upstream, URL, FILENAME) == METADATA  # size unknown
    assert len(session.ranges) == 3


@pytest.mark.parametrize(("size", "tail"), [(None, 1 << 16), (1000, 1 << 16), (10**12, 1 << 19)])
def test_the_first_request_is_bounded_whatever_size_a_page_claims(
    size: int | None, tail: int
) -> None:
    assert tail_for(size) == tail


def test_a_200_with_the_whole_file_is_not_read() -> None:
    session = _Session(lambda _: (200, {}, b"x" * (10 << 20)))
    upstream = Upstream(session, [])  # type: ignore[arg-type]
    with pytest.raises(RangeNotSupported):
        remote_wheel_metadata(upstream, URL, FILENAME)
    assert session.reads == []


@pytest.mark.parametrize(
    "content_range",
    [
        "bytes 0-999999999/1000000000",  # the whole file, for the last 64 KiB
        "bytes 0-65536/65537",  # one byte more than asked
        "bytes 10-5/100000",
        "bytes 0-65535/100",
    ],
)
def test_a_range_answer_wider_than_asked_is_refused_unread(
    content_range: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Not read, and the whole file is downloaded instead (and checked by its hash)."""
    session = _Session(lambda _: (206, {"Content-Range": content_range}, b"\0" * (1 << 16)))
    upstream = Upstream(session, [])  # type: ignore[arg-type]
    with pytest.raises(RangeNotSupported):
        remote_wheel_metadata(upstream, URL, FILENAME)
    assert session.reads == []
    assert f"answered 'bytes=-65536' with '{content_range}'" in caplog.text
    assert "downloading the whole file instead" in caplog.text


@pytest.mark.parametrize(
    "content_range",
    ["bytes 1-2/" + "9" * 5000, "bytes */100", "items 0-1/2", ""],
)
def test_an_unreadable_content_range_is_no_range_support(content_range: str) -> None:
    session = _Session(lambda _: (206, {"Content-Range": content_range}, b""))
    upstream = Upstream(session, [])  # type: ignore[arg-type]
    with pytest.raises(RangeNotSupported):
        remote_wheel_metadata(upstream, URL, FILENAME)


def test_a_second_answer_for_another_range_or_size_is_refused() -> None:
    wheel = _wheel(padding=200_000, comment=b"c" * 65_000)
    honest = _honest(wheel)

    def shifty(byte_range: str) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = honest(byte_range)
        if not byte_range.startswith("bytes=-"):  # the second request: another start
            headers["Content-Range"] = headers["Content-Range"].replace("bytes ", "bytes 1", 1)
        return status, headers, body

    with pytest.raises(RangeNotSupported):
        _read(shifty)


def test_a_file_that_would_take_too_much_is_refused_before_a_buffer_is_made() -> None:
    """A tail whose end record claims a central directory of 100 MiB, of a 1 GiB file."""
    total, cd_size = 1 << 30, 100 << 20
    end = b"PK\x05\x06" + b"\0" * 4 + (1).to_bytes(2, "little") * 2
    end += cd_size.to_bytes(4, "little") + (total - 22 - cd_size).to_bytes(4, "little") + b"\0\0"
    tail = b"\0" * (65536 - len(end)) + end
    with pytest.raises(UpstreamError, match="would take more than 64 MiB"):
        _read(_honest(tail, total=total))


def test_a_short_body_is_refused() -> None:
    honest = _honest(_wheel())

    def short(byte_range: str) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = honest(byte_range)
        return status, headers, body[:-1]

    with pytest.raises(UpstreamError, match="short range response"):
        _read(short)


def test_a_bad_wheel_by_range_is_downloaded_whole_instead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Bytes that make no wheel may be the server's ranges at fault: the whole file, checked
    against its hash first, tells."""
    with pytest.raises(RangeNotSupported):
        _read(_honest(b"not a zip" * 100))
    assert "not a readable wheel" in caplog.text
    assert "(read by range): downloading the whole file instead" in caplog.text
