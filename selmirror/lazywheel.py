"""Read a remote wheel's METADATA with HTTP range requests, without downloading the wheel.

A wheel is a zip: its central directory sits at the end, and ``.dist-info`` is written last,
so the tail of the file usually holds both. One ranged GET of the tail, and at most a few
more for what it lacks, give the exact METADATA bytes.
"""

from __future__ import annotations

import io
import re
from bisect import bisect_right

from selmirror.errors import UpstreamError
from selmirror.metadata import BadDistribution, wheel_metadata
from selmirror.upstream import Upstream, check_status
from selmirror.urls import redact

TAIL = 1 << 16
MIN_FETCH = 1 << 15
MAX_FETCHES = 8
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class RangeNotSupported(Exception):
    """The server answered a range request with the whole file (or not at all)."""


class _RemoteFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches what is read, by range."""

    def __init__(self, upstream: Upstream, url: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.url = url
        self.size = 0
        self.position = 0
        self.fetches = 0
        self._starts: list[int] = []
        self._chunks: list[bytes] = []
        self._get(f"bytes=-{TAIL}")

    def _get(self, byte_range: str) -> None:
        self.fetches += 1
        if self.fetches > MAX_FETCHES:
            raise UpstreamError(f"too many range requests for {redact(self.url)}")

        def attempt() -> tuple[int, int, bytes]:
            headers = {"Range": byte_range, "Accept-Encoding": "identity"}
            with self.upstream.session.get(
                self.url, headers=headers, timeout=self.upstream.timeout, stream=True
            ) as response:
                if response.status_code == 200:
                    raise RangeNotSupported(redact(self.url))
                check_status(response, self.url)
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
                if response.status_code != 206 or match is None:
                    raise RangeNotSupported(redact(self.url))
                start, end, total = (int(g) for g in match.groups())
                body = response.raw.read(end - start + 1, decode_content=False)
                if len(body) != end - start + 1:
                    raise UpstreamError(f"short range response from {redact(self.url)}")
                return start, total, body

        start, total, body = self.upstream.call(self.url, attempt)
        self.size = total
        index = bisect_right(self._starts, start)
        self._starts.insert(index, start)
        self._chunks.insert(index, body)

    def _cached(self, start: int, length: int) -> bytes | None:
        index = bisect_right(self._starts, start) - 1
        if index < 0:
            return None
        chunk_start, chunk = self._starts[index], self._chunks[index]
        if start + length <= chunk_start + len(chunk):
            return chunk[start - chunk_start : start + length - chunk_start]
        return None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        length = min(len(buffer), self.size - self.position)
        if length <= 0:
            return 0
        data = self._cached(self.position, length)
        if data is None:
            end = min(self.size, self.position + max(length, MIN_FETCH)) - 1
            self._get(f"bytes={self.position}-{end}")
            data = self._cached(self.position, length)
            if data is None:  # pragma: no cover - the fetch covers the read by construction
                raise UpstreamError(f"range fetch missed for {redact(self.url)}")
        buffer[:length] = data
        self.position += length
        return length


def remote_wheel_metadata(upstream: Upstream, url: str, filename: str) -> bytes:
    """The METADATA of the wheel at ``url``; :class:`RangeNotSupported` if ranges are not."""
    remote = _RemoteFile(upstream, url)
    try:
        return wheel_metadata(io.BufferedReader(remote, buffer_size=1 << 14), filename)
    except BadDistribution as exc:
        raise UpstreamError(f"{exc} (read by range from {redact(url)})") from None
