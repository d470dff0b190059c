"""A wheel's METADATA: found by searching the central directory, with zipfile the judge."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fakeindex import build_wheel
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.metadata import (
    BadDistribution,
    _metadata_by_search,
    parse_core_metadata,
    parse_dependency,
    wheel_metadata,
)

NAME, VERSION = NormalizedName("alpha"), Version("1.0")
FILENAME = "alpha-1.0-py3-none-any.whl"
METADATA = b"Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n"


def _zip(
    members: list[tuple[str, bytes]],
    *,
    method: int = zipfile.ZIP_DEFLATED,
    comment: bytes = b"",
    prefix: bytes = b"",
) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in members:
            archive.writestr(name, data)
        archive.comment = comment
    return prefix + out.getvalue()


def _ordinary(metadata: bytes = METADATA, **options: object) -> bytes:
    members = [("alpha/__init__.py", b""), ("alpha-1.0.dist-info/METADATA", metadata)]
    return _zip([*members, ("alpha-1.0.dist-info/RECORD", b"")], **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_metadata_is_found_by_search_in_an_ordinary_wheel(method: int) -> None:
    wheel = _ordinary(method=method)
    assert _metadata_by_search(io.BytesIO(wheel), NAME, VERSION) == METADATA
    assert wheel_metadata(io.BytesIO(wheel), FILENAME) == METADATA


def test_a_real_wheel_from_the_fake_index() -> None:
    filename, content, metadata = build_wheel(
        "Typing_Extras", "2.0.post1", tag="cp312-abi3-win_amd64"
    )
    name, version = NormalizedName("typing-extras"), Version("2.0.post1")
    assert _metadata_by_search(io.BytesIO(content), name, version) == metadata
    assert wheel_metadata(io.BytesIO(content), filename) == metadata


@pytest.mark.parametrize(
    "wheel",
    [
        pytest.param(_ordinary(comment=b"a comment"), id="comment"),
        pytest.param(_ordinary(prefix=b"#!/bin/sh\nexit 0\n"), id="data before the archive"),
        pytest.param(_ordinary(method=zipfile.ZIP_BZIP2), id="bzip2"),
    ],
)
def test_unusual_archives_are_left_to_zipfile(wheel: bytes) -> None:
    assert _metadata_by_search(io.BytesIO(wheel), NAME, VERSION) is None
    assert wheel_metadata(io.BytesIO(wheel), FILENAME) == METADATA


def _corrupt(wheel: bytes) -> bytes:
    at = wheel.index(b"alpha-1.0.dist-info/METADATA") + len("alpha-1.0.dist-info/METADATA")
    return wheel[:at] + bytes([wheel[at] ^ 0xFF]) + wheel[at + 1 :]  # first byte of its data


@pytest.mark.parametrize(
    ("wheel", "error"),
    [
        pytest.param(
            _corrupt(_ordinary(method=zipfile.ZIP_STORED)), "not a readable wheel", id="bad CRC"
        ),
        pytest.param(_ordinary(b"\0" * (11 << 20)), "larger than 10 MiB", id="inflates too far"),
        pytest.param(
            _zip([("alpha-1.0.dist-info/METADATA", METADATA), ("alpha-1.dist-info/METADATA", b"")]),
            "several alpha-1.0.dist-info/METADATA",
            id="two dist-info",
        ),
        pytest.param(
            _zip([("lib/alpha-1.0.dist-info/METADATA", METADATA)]),
            "no alpha-1.0.dist-info/METADATA",
            id="nested",
        ),
        pytest.param(
            _zip([("beta-1.0.dist-info/METADATA", METADATA)]),
            "no alpha-1.0.dist-info/METADATA",
            id="another project's",
        ),
        pytest.param(b"PK\x05\x06" + b"\0" * 18, "no alpha-1.0.dist-info/METADATA", id="empty"),
        pytest.param(b"not a zip at all", "not a readable wheel", id="garbage"),
    ],
)
def test_what_the_search_does_not_find_zipfile_words(wheel: bytes, error: str) -> None:
    assert _metadata_by_search(io.BytesIO(wheel), NAME, VERSION) is None
    with pytest.raises(BadDistribution, match=error):
        wheel_metadata(io.BytesIO(wheel), FILENAME)


# --- hostile wheels: BadDistribution, whatever the archive holds (issue 10) ---------------

_NAME_AT = b"alpha-1.0.dist-info/METADATA"


def _patch(wheel: bytes, *edits: tuple[int, bytes]) -> bytes:
    data = bytearray(wheel)
    for at, new in edits:
        data[at : at + len(new)] = new
    return bytes(data)


def _central(wheel: bytes) -> int:
    """The offset of METADATA's central directory record."""
    return wheel.rindex(_NAME_AT) - 46


def _local(wheel: bytes) -> int:
    """The offset of METADATA's local header."""
    return wheel.index(_NAME_AT) - 30


def _method(wheel: bytes, method: int) -> bytes:
    code = method.to_bytes(2, "little")
    return _patch(wheel, (_central(wheel) + 10, code), (_local(wheel) + 8, code))


def _deflate_garbage(wheel: bytes) -> bytes:
    data_at = wheel.index(_NAME_AT) + len(_NAME_AT)
    return _patch(wheel, (data_at, b"\xff\xff"))  # block type 3: zlib.error


def _bzip2_bomb() -> bytes:
    """Bytes of bzip2 that inflate to 20 MiB (180 bytes make 200 MiB), whose directory
    says 49: zipfile inflates a bzip2 member whole, whatever is asked of it."""
    bomb = _ordinary(b"\0" * (20 << 20), method=zipfile.ZIP_BZIP2)
    size = len(METADATA).to_bytes(4, "little")
    return _patch(bomb, (_central(bomb) + 24, size), (_local(bomb) + 22, size))


def _name_not_utf8(wheel: bytes) -> bytes:
    flags = (0x800).to_bytes(2, "little")  # "the name is UTF-8"
    return _patch(wheel, (_central(wheel) + 8, flags), (_central(wheel) + 46 + 6, b"\xff"))


@pytest.mark.parametrize(
    ("wheel", "error"),
    [
        pytest.param(_deflate_garbage(_ordinary()), "invalid block type", id="corrupt deflate"),
        pytest.param(_method(_ordinary(), 99), "compression method 99", id="method 99"),
        pytest.param(_method(_ordinary(), 12), "Invalid data stream", id="deflate as bzip2"),
        pytest.param(_method(_ordinary(), 14), "bad LZMA properties", id="deflate as lzma"),
        pytest.param(_bzip2_bomb(), "larger than 10 MiB", id="bzip2 bomb"),
        pytest.param(_name_not_utf8(_ordinary()), "can't decode byte 0xff", id="name not UTF-8"),
        pytest.param(
            _patch(_ordinary(), (_central(_ordinary()) + 42, b"\xf0\xff\xff\xff")),
            "not a readable wheel",
            id="offset past the end",
        ),
        pytest.param(
            _patch(_ordinary(), (_central(_ordinary()) + 8, b"\x01\x00")),
            "METADATA is encrypted",
            id="encrypted",
        ),
        pytest.param(
            _ordinary()[: _central(_ordinary()) + 20] + _ordinary()[-22:],
            "not a readable wheel",
            id="directory cut short",
        ),
        pytest.param(
            _patch(_ordinary(comment=b"c"), (_central(_ordinary()) + 30, b"\x06\x00")),
            "Corrupt extra field",
            id="extra field",
        ),
    ],
)
def test_a_hostile_wheel_is_a_bad_distribution(wheel: bytes, error: str) -> None:
    with pytest.raises(BadDistribution, match=error):
        wheel_metadata(io.BytesIO(wheel), FILENAME)


def test_a_hostile_wheel_on_disk_too(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.write_bytes(_method(_ordinary(), 99))
    with pytest.raises(BadDistribution, match="compression method 99"):
        wheel_metadata(path, FILENAME)
    with pytest.raises(BadDistribution, match="not a readable wheel"):
        wheel_metadata(tmp_path, FILENAME)  # a directory


@pytest.mark.parametrize("method", [zipfile.ZIP_LZMA, zipfile.ZIP_BZIP2])
def test_bzip2_and_lzma_members_are_read(method: int) -> None:
    assert wheel_metadata(io.BytesIO(_ordinary(METADATA * 100, method=method)), FILENAME) == (
        METADATA * 100
    )


def test_a_zip64_wheel_is_read() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("alpha/__init__.py", b"")
        with archive.open("alpha-1.0.dist-info/METADATA", "w", force_zip64=True) as member:
            member.write(METADATA)
    assert wheel_metadata(io.BytesIO(out.getvalue()), FILENAME) == METADATA


@pytest.mark.parametrize(
    ("wheel", "error"),
    [
        pytest.param(
            _patch(
                _ordinary(METADATA * 50, method=zipfile.ZIP_LZMA),
                (_local(_ordinary(METADATA * 50, method=zipfile.ZIP_LZMA)) + 30 + 28 + 20, b"\xff"),
            ),
            "Corrupt input data",
            id="corrupt lzma",
        ),
        pytest.param(
            _patch(_ordinary(comment=b"c"), (_central(_ordinary(comment=b"c")) + 6, b"\xff")),
            "zip file version 25.5",
            id="version needed 25.5",
        ),
    ],
)
def test_what_zipfile_and_lzma_raise_is_a_bad_distribution(wheel: bytes, error: str) -> None:
    with pytest.raises(BadDistribution, match=error):
        wheel_metadata(io.BytesIO(wheel), FILENAME)


def test_an_unusable_requires_python_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    for value in ("foo", "=>3.8", ">=" + "1" * 5000):
        meta = parse_core_metadata(METADATA + f"Requires-Python: {value}\n".encode(), source="x")
        assert meta.requires_python is None
    assert "ignoring invalid Requires-Python" in caplog.text
    good = parse_core_metadata(METADATA + b"Requires-Python: >=3.8\n", source="x")
    assert good.requires_python == ">=3.8"


@pytest.mark.parametrize(
    "line", ["bar>=" + "1" * 5000, 'bar; python_version >= "' + "3" * 5000 + '"']
)
def test_a_dependency_with_a_number_too_long_for_int_is_invalid(line: str) -> None:
    assert parse_dependency(line) is None
    assert parse_dependency("bar>=" + "1" * 4000) is not None
