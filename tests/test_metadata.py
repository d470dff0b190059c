"""A wheel's METADATA: found by searching the central directory, with zipfile the judge."""

from __future__ import annotations

import io
import zipfile

import pytest
from fakeindex import build_wheel
from packaging.utils import NormalizedName
from packaging.version import Version

from selmirror.metadata import BadDistribution, _metadata_by_search, wheel_metadata

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
