"""Hash names and digests as indexes advertise them: validate, rank, compare."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping

# Strongest first. blake2b ranks below sha512/sha384 only for determinism; all four are secure.
STRENGTH_ORDER: tuple[str, ...] = ("sha512", "sha384", "blake2b", "sha256", "sha224", "sha1", "md5")
WEAK = frozenset({"sha1", "md5"})
_HEX = re.compile(r"[0-9a-f]+")


class BadHash(ValueError):
    """An advertised hash is malformed."""


_HEX_LENGTH = {a: hashlib.new(a).digest_size * 2 for a in STRENGTH_ORDER}


def normalize(raw: Mapping[str, object]) -> dict[str, str]:
    """Return ``{algorithm: lowercase hex}`` for the known algorithms in ``raw``.

    Unknown algorithm names are dropped (an index may offer more than we check); a known
    algorithm with a digest that is not hex of the right length raises :class:`BadHash`.
    """
    out: dict[str, str] = {}
    for name, value in raw.items():
        algorithm = name.lower()
        if algorithm not in STRENGTH_ORDER:
            continue
        if not isinstance(value, str):
            raise BadHash(f"{algorithm} digest is not a string")
        digest = value.lower()
        if len(digest) != _HEX_LENGTH[algorithm] or not _HEX.fullmatch(digest):
            raise BadHash(f"malformed {algorithm} digest {value[:80]!r}")
        out[algorithm] = digest
    return out


def strongest(hashes: Mapping[str, str]) -> tuple[str, str] | None:
    """The strongest ``(algorithm, digest)`` in ``hashes``, or ``None`` if there is none."""
    for algorithm in STRENGTH_ORDER:
        if algorithm in hashes:
            return algorithm, hashes[algorithm]
    return None


def file_digest(path: str | os.PathLike[str], algorithms: tuple[str, ...]) -> dict[str, str]:
    """Hash a file once with every algorithm in ``algorithms``."""
    hashers = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}
