"""One member of a zip archive, read with bounds: what both wheels and zip sdists need.

zipfile inflates a bzip2 or LZMA member without a bound (180 bytes of bzip2 make 200 MiB)
and raises zlib.error, NotImplementedError or RuntimeError for a corrupt stream, an unknown
method or an encrypted member. Here the member's local header is read, its packed bytes
are read whole (at most a cap), decompressed to at most ``limit`` bytes, and checked
against the size and CRC its directory record gives. Every failure is :class:`Unreadable`.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import IO, Any, NamedTuple

LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header
_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}


class Unreadable(ValueError):
    """A member that cannot be read within its bounds; the message says why."""


class Member(NamedTuple):
    """Where a member's data lies, as its central directory record says."""

    offset: int  # of its local header
    method: int
    flags: int
    packed: int
    unpacked: int
    crc: int

    @classmethod
    def of(cls, info: zipfile.ZipInfo) -> Member:
        return cls(
            info.header_offset,
            info.compress_type,
            info.flag_bits,
            info.compress_size,
            info.file_size,
            info.CRC,
        )


def read_member(f: IO[bytes], member: Member, limit: int, what: str) -> bytes:
    """The data of ``member`` of the archive ``f``, at most ``limit`` bytes once
    decompressed; :class:`Unreadable` (naming the member as ``what``) for anything else."""
    if member.flags & 0x1:
        raise Unreadable(f"{what} is encrypted")
    if member.unpacked > limit or member.packed > limit + (1 << 16):
        raise Unreadable(f"{what} larger than {_size(limit)}")
    try:
        f.seek(member.offset)
        local = LOCAL.unpack(f.read(LOCAL.size))
        if local[0] != b"PK\x03\x04":
            raise Unreadable(f"bad {what} header")
        f.seek(member.offset + LOCAL.size + local[10] + local[11])
        packed = f.read(member.packed)
        if len(packed) != member.packed:
            raise Unreadable(f"{what} cut short")
        data = _decompress(member.method, packed, limit + 1)
    except Unreadable:
        raise
    # a short read, an offset past what a seek takes, a seek before the start, ...
    except (struct.error, EOFError, OverflowError, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None
    if len(data) > limit:
        raise Unreadable(f"{what} larger than {_size(limit)}")
    if len(data) != member.unpacked or zlib.crc32(data) != member.crc:
        raise Unreadable(f"Bad CRC-32 for {what}")
    return data


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def _decompress(method: int, data: bytes, limit: int) -> bytes:
    """``data`` decompressed by zip ``method``, at most ``limit`` bytes of it."""
    if method == 0:
        return data
    if method == 8:
        try:
            return zlib.decompressobj(-15).decompress(data, limit)
        except zlib.error as exc:
            raise Unreadable(str(exc)) from None
    try:
        if method == 12:
            import bz2

            return bz2.BZ2Decompressor().decompress(data, max_length=limit)
        if method == 14:
            import lzma

            try:
                return _unlzma(lzma, data, limit)
            except lzma.LZMAError as exc:  # neither an OSError nor a ValueError
                raise Unreadable(str(exc)) from None
    except ImportError:
        pass  # this Python was built without it
    raise Unreadable(f"compression method {_METHODS.get(method, str(method))}")


def _unlzma(lzma: Any, data: bytes, limit: int) -> bytes:
    """A zip LZMA member (APPNOTE 5.8.8): version, properties' size, LZMA1 properties
    (lc/lp/pb, dictionary size), then a raw stream."""
    if len(data) < 9 or int.from_bytes(data[2:4], "little") != 5 or data[4] >= 9 * 5 * 5:
        raise ValueError("bad LZMA properties")
    lc, lp, pb = data[4] % 9, data[4] // 9 % 5, data[4] // 45
    # Any match of a stream that fits in ``limit`` lies within it: a larger dictionary
    # would only be memory to allocate.
    dict_size = min(int.from_bytes(data[5:9], "little"), 1 << 24)
    lzma1 = {"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}
    decompressor = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma1])
    return bytes(decompressor.decompress(data[9:], max_length=limit))
