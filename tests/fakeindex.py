"""A real, threaded fake package index on 127.0.0.1 for end-to-end tests.

It serves the simple API (PEP 503 HTML, PEP 691 JSON, or both by content negotiation) plus the
files it lists, and it can misbehave on demand: lying hashes, truncated bodies, transient 503s,
throttled transfers, redirects, forced page statuses, raw pages, HTTP Basic auth.

Generated wheels and sdists are real distributions that pip and uv accept. Their bytes are
deterministic, so hashes are stable between runs. Generated sdists carry a tiny in-tree PEP 517
backend with no build requirements, so they build offline. On request they instead need build
requirements from the index (`build_requires`), or look like old setuptools projects (setup.py
only, egg-info); `add_setuptools` and `add_backend` serve fake build tools that build them.

Layout of the served URLs::

    /simple/                      root project list (answered, and recorded as kind "root")
    /simple/<normalized>/         project page; relative file URLs ``../../files/<quoted name>``
    /files/<quoted filename>      a distribution file; ``<filename>.metadata`` is its PEP 658 file
    /other-path/<normalized>/     where ``page_redirect`` projects end up (URLs ``../files/...``)
    /other-path/files/<quoted>    the files again, reachable only by joining to the final URL
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import html
import io
import json
import re
import socket
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from packaging.tags import parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
_LATEST_ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
}
# Offer order breaks ties in q: like PyPI, prefer HTML when the client does not say otherwise.
_OFFERS = (TEXT_HTML, HTML_V1, JSON_V1)
_PAGE_FORMATS = ("json", "html", "negotiate")

_ZIP_DATE = (2024, 1, 1, 0, 0, 0)
_TAR_MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


# --------------------------------------------------------------------------------------------
# Records


@dataclass
class FakeFile:
    """One file the index serves, with its misbehaviour knobs (mutable; set before requests)."""

    project: str
    filename: str
    content: bytes
    requires_python: str | None = None
    yanked: str | bool | None = None  # True/"" = yanked without reason, str = reason
    advertise_metadata: bool = True  # serve <file>.metadata and advertise it (needs `metadata`)
    metadata: bytes | None = None  # core metadata bytes (METADATA, or PKG-INFO for sdists)
    advertised_sha256: str | None = None  # a lying hash on the page (default: the real one)
    advertised_size: int | None = None  # a lying JSON size on the page (default: the real one)
    advertised_metadata_sha256: str | None = None  # a lying core-metadata hash on the page
    hashes: dict[str, str] | None = None  # replace the whole hashes dict (e.g. {} or {"md5": ..})
    truncate_to: int | None = None  # full Content-Length, but the body stops at this file offset
    truncate_first: int | None = None  # truncate only the first N GETs after failures (None: all)
    fail_first: int = 0  # answer the first N GETs with `fail_status`
    fail_status: int = 503
    retry_after: str | None = None  # Retry-After header sent with those failures
    throttle: float | None = None  # bytes/second cap while sending
    url_override: str | None = None  # emit exactly this URL on the page (HTML adds #sha256=)
    upload_time: str | None = "2024-01-01T00:00:00Z"
    provenance: bytes | None = None  # PEP 740: served at <file URL>.provenance, advertised
    version: str | None = None  # for the JSON "versions" list; parsed from the name if possible
    gets: int = field(default=0, init=False, compare=False)  # GETs served so far

    @property
    def sha256(self) -> str:
        """The real sha256 of `content`."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def metadata_advertised(self) -> bool:
        return self.advertise_metadata and self.metadata is not None

    def page_hashes(self) -> dict[str, str]:
        """The hashes dict the page shows for this file."""
        if self.hashes is not None:
            return dict(self.hashes)
        return {"sha256": self.advertised_sha256 or self.sha256}

    def page_metadata_sha256(self) -> str:
        assert self.metadata is not None
        return self.advertised_metadata_sha256 or hashlib.sha256(self.metadata).hexdigest()


@dataclass(frozen=True)
class RecordedRequest:
    """One request the index answered. Header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    kind: str  # "root", "page", "file", "metadata", "provenance" or "other"
    project: str | None = None  # normalized project for pages
    filename: str | None = None  # for files and metadata


# --------------------------------------------------------------------------------------------
# Distribution builders (pure, deterministic)


def _core_metadata(
    metadata_version: str,
    name: str,
    version: str,
    *,
    requires_python: str | None,
    requires_dist: Iterable[str],
    provides_extra: Iterable[str],
    dynamic: Iterable[str] = (),
) -> bytes:
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {name} {version}, a fake distribution for selmirror's tests",
        *(f"Dynamic: {item}" for item in dynamic),
    ]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires_dist]
    lines += [f"Provides-Extra: {extra}" for extra in provides_extra]
    return ("\n".join(lines) + "\n").encode()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def _zip(entries: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the host: keeps the bytes identical
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _tar_gz(entries: Iterable[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _module_name(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def build_wheel(
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    provides_extra: Iterable[str] = (),
    metadata_version: str = "2.1",
    extra_metadata: Iterable[str] = (),
) -> tuple[str, bytes, bytes]:
    """Build a real wheel; return (filename, wheel bytes, METADATA bytes). `extra_metadata`
    lines (``"License-Expression: MIT"``) end its METADATA."""
    metadata = (
        _core_metadata(
            metadata_version,
            name,
            version,
            requires_python=requires_python,
            requires_dist=requires_dist,
            provides_extra=provides_extra,
        )
        + "".join(f"{line}\n" for line in extra_metadata).encode()
    )
    module = (f"{_module_name(name)}/__init__.py", f'__version__ = "{version}"\n'.encode())
    return _wheel(name, version, tag, metadata, [module])


def _wheel(
    name: str, version: str, tag: str, metadata: bytes, files: Iterable[tuple[str, bytes]]
) -> tuple[str, bytes, bytes]:
    """A wheel holding `files` (path, bytes) plus its dist-info; (filename, bytes, METADATA)."""
    dist = _escape_wheel_name(name)
    dist_info = f"{dist}-{version}.dist-info"
    tags = "".join(f"Tag: {t}\n" for t in sorted(str(t) for t in parse_tag(tag)))
    wheel = f"Wheel-Version: 1.0\nGenerator: selmirror-fakeindex\nRoot-Is-Purelib: true\n{tags}"
    entries = [
        *files,
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", wheel.encode()),
    ]
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    return f"{dist}-{version}-{tag}.whl", _zip(entries), metadata


def _escape_wheel_name(name: str) -> str:
    # Wheel filename escaping: runs of "-", "_", "." become "_"; case is kept.
    return re.sub(r"[-_.]+", "_", name)


_BACKEND = '''\
"""A tiny PEP 517 backend written by selmirror's fake index. No build requirements."""

import base64
import hashlib
import os
import tarfile
import zipfile

DIST, VERSION, PACKAGE, SDIST_BASE = {dist!r}, {version!r}, {package!r}, {sdist_base!r}
HERE = os.path.dirname(os.path.abspath(__file__))
DIST_INFO = DIST + "-" + VERSION + ".dist-info"


def _metadata():
    with open(os.path.join(HERE, "PKG-INFO"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    keep = [x for x in lines if not x.startswith(("Metadata-Version:", "Dynamic:"))]
    return ("\\n".join(["Metadata-Version: 2.1", *keep]) + "\\n").encode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    os.makedirs(os.path.join(metadata_directory, DIST_INFO), exist_ok=True)
    with open(os.path.join(metadata_directory, DIST_INFO, "METADATA"), "wb") as f:
        f.write(_metadata())
    return DIST_INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.path.join(HERE, PACKAGE, "__init__.py"), "rb") as f:
        module = f.read()
    wheel = b"Wheel-Version: 1.0\\nGenerator: fakeindex-backend\\nRoot-Is-Purelib: true\\n"
    entries = [
        (PACKAGE + "/__init__.py", module),
        (DIST_INFO + "/METADATA", _metadata()),
        (DIST_INFO + "/WHEEL", wheel + b"Tag: py3-none-any\\n"),
    ]
    record = ""
    for path, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record += path + ",sha256=" + digest.decode() + "," + str(len(data)) + "\\n"
    entries.append((DIST_INFO + "/RECORD", (record + DIST_INFO + "/RECORD,,\\n").encode()))
    filename = DIST + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in entries:
            zf.writestr(path, data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    filename = SDIST_BASE + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as tar:
        for entry in ("PKG-INFO", "pyproject.toml", "_fake_backend.py", PACKAGE):
            tar.add(os.path.join(HERE, entry), arcname=SDIST_BASE + "/" + entry)
    return filename
'''

_PYPROJECT = """\
[build-system]
requires = []
build-backend = "_fake_backend"
backend-path = ["."]
"""

# The backend of fake setuptools, of `add_backend` projects and of the sdists that use a new
# build_sdist knob (the default sdists keep `_BACKEND`, so their bytes do not change). Plain
# source, not a format template: `_generic_backend` only rewrites the REQUIRES line.
_GENERIC_BACKEND = '''\
"""A generic PEP 517 backend written by selmirror's fake index (tests only).

It builds the source tree in the current directory (pip and uv run the hooks there) into a
py3-none-any wheel. The metadata is `_fake_metadata` (the sdist's true METADATA) if present,
else PKG-INFO, else <something>.egg-info/PKG-INFO; the wheel holds the package named after the
project (or else every top-level package). The same hooks are on `__legacy__`, as in
`setuptools.build_meta:__legacy__`. Nothing here imports a build requirement.
"""

import base64
import hashlib
import os
import re
import tarfile
import types
import zipfile

REQUIRES_FOR_BUILD_WHEEL = []
_DATE = (2024, 1, 1, 0, 0, 0)


def _read_metadata():
    candidates = ["_fake_metadata", "PKG-INFO"]
    candidates += sorted(
        os.path.join(entry, "PKG-INFO") for entry in os.listdir(".") if entry.endswith(".egg-info")
    )
    for path in candidates:
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    raise RuntimeError("fake backend: no _fake_metadata or PKG-INFO in " + os.getcwd())


def _project():
    """(name, version, METADATA bytes) of the source tree in the current directory."""
    lines = _read_metadata().split("\\n\\n", 1)[0].splitlines()
    keep = [x for x in lines if not x.startswith(("Metadata-Version:", "Dynamic:"))]
    fields = {}
    for line in keep:
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    metadata = ("\\n".join(["Metadata-Version: 2.1", *keep]) + "\\n").encode()
    return fields["name"], fields["version"], metadata


def _dist(name):
    return re.sub(r"[-_.]+", "_", name)


def _sources(name):
    package = _dist(name).lower()
    if os.path.isdir(package):
        roots = [package]
    else:
        roots = sorted(e for e in os.listdir(".") if os.path.isfile(os.path.join(e, "__init__.py")))
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for filename in sorted(filenames):
                path = os.path.join(dirpath, filename)
                with open(path, "rb") as f:
                    yield path.replace(os.sep, "/"), f.read()


def get_requires_for_build_wheel(config_settings=None):
    return list(REQUIRES_FOR_BUILD_WHEEL)


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, metadata = _project()
    dist_info = _dist(name) + "-" + version + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "wb") as f:
        f.write(metadata)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, metadata = _project()
    dist_info = _dist(name) + "-" + version + ".dist-info"
    wheel = b"Wheel-Version: 1.0\\nGenerator: fakeindex-backend\\nRoot-Is-Purelib: true\\n"
    entries = [
        *_sources(name),
        (dist_info + "/METADATA", metadata),
        (dist_info + "/WHEEL", wheel + b"Tag: py3-none-any\\n"),
    ]
    record = ""
    for path, data in entries:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record += path + ",sha256=" + digest.decode() + "," + str(len(data)) + "\\n"
    entries.append((dist_info + "/RECORD", (record + dist_info + "/RECORD,,\\n").encode()))
    filename = _dist(name) + "-" + version + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in entries:
            zf.writestr(zipfile.ZipInfo(path, date_time=_DATE), data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    name, version, _ = _project()
    base = _dist(name).lower() + "-" + version
    with tarfile.open(os.path.join(sdist_directory, base + ".tar.gz"), "w:gz") as tar:
        for entry in sorted(os.listdir(".")):
            tar.add(entry, arcname=base + "/" + entry)
    return base + ".tar.gz"


__legacy__ = types.SimpleNamespace(
    get_requires_for_build_wheel=get_requires_for_build_wheel,
    get_requires_for_build_sdist=get_requires_for_build_sdist,
    prepare_metadata_for_build_wheel=prepare_metadata_for_build_wheel,
    build_wheel=build_wheel,
    build_sdist=build_sdist,
)
'''

_SETUP_PY = b"""\
# A legacy setuptools project made by selmirror's fake index: without a pyproject.toml, pip
# and uv build it with setuptools.build_meta:__legacy__ (the fake one never runs this file).
"""


def _generic_backend(requires_for_build_wheel: Sequence[str] = ()) -> str:
    """The generic backend's source; its get_requires_for_build_wheel returns these."""
    old = "REQUIRES_FOR_BUILD_WHEEL = []\n"
    new = f"REQUIRES_FOR_BUILD_WHEEL = {list(requires_for_build_wheel)!r}\n"
    return _GENERIC_BACKEND.replace(old, new, 1)


def _pyproject(requires: Sequence[str], backend: str | None) -> bytes:
    listed = ", ".join(json.dumps(r) for r in requires)  # a JSON string is a TOML basic string
    lines = ["[build-system]", f"requires = [{listed}]"]
    if backend is None:
        lines += ['build-backend = "_fake_backend"', 'backend-path = ["."]']
    else:
        lines.append(f"build-backend = {json.dumps(backend)}")
    return ("\n".join(lines) + "\n").encode()


def build_sdist(
    name: str,
    version: str,
    *,
    fmt: str = "tar.gz",
    metadata_version: str = "2.2",
    requires_python: str | None = None,
    requires_dist: Iterable[str] = (),
    provides_extra: Iterable[str] = (),
    dynamic: Iterable[str] = (),
    build_requires: Sequence[str] | None = (),
    build_backend: str | None = None,
    egg_info_requires: str | None = None,
    top_pkg_info: bool = True,
) -> tuple[str, bytes, bytes]:
    """Build a real sdist; return (filename, archive bytes, PKG-INFO bytes).

    By default it carries an in-tree backend with no build requirements, so it builds offline.
    Knobs for build requirements and old layouts:

    - `build_requires`: `[build-system] requires`, which pip and uv install from the index into
      the isolated build environment (the in-tree backend stays, unless `build_backend` names
      another one, e.g. an `add_backend` project). None: no pyproject.toml but a setup.py, so
      pip and uv use the default `setuptools>=40.8.0` with `setuptools.build_meta:__legacy__`
      (serve it with `add_setuptools`).
    - `egg_info_requires`: also write `<module>.egg-info/PKG-INFO` (a copy of PKG-INFO) and
      `<module>.egg-info/requires.txt` with exactly this text, and leave the Requires-Dist
      lines out of PKG-INFO (old setuptools did this with Metadata-Version 2.1: pass
      `metadata_version="2.1"` too, or uv may trust the requirement-less PKG-INFO).
    - `top_pkg_info=False`: no `<base>/PKG-INFO`, only `<module>.egg-info/PKG-INFO`.

    With any of these, the sdist also holds `_fake_metadata`: the true METADATA (2.1, with
    `requires_dist`) that the backends put into the wheel they build, whatever PKG-INFO says.
    The PKG-INFO bytes returned are the top-level ones (the egg-info copy without it).
    """
    if fmt not in ("tar.gz", "zip"):
        raise ValueError(f"unsupported sdist format {fmt!r}")
    if isinstance(build_requires, str):
        raise TypeError("build_requires is a sequence of requirement strings, not one string")
    if build_requires is None and build_backend is not None:
        raise ValueError("build_backend needs a pyproject.toml: build_requires must not be None")
    package = _module_name(name)
    base = f"{package}-{version}"
    requires_dist = list(requires_dist)
    provides_extra = list(provides_extra)
    pkg_info = _core_metadata(
        metadata_version,
        name,
        version,
        requires_python=requires_python,
        requires_dist=requires_dist if egg_info_requires is None else (),
        provides_extra=provides_extra,
        dynamic=dynamic,
    )
    init = (f"{base}/{package}/__init__.py", f'__version__ = "{version}"\n'.encode())
    original = (
        build_requires is not None
        and len(build_requires) == 0
        and build_backend is None
        and egg_info_requires is None
        and top_pkg_info
    )
    if original:  # the original layout, byte for byte
        backend = _BACKEND.format(
            dist=_escape_wheel_name(name), version=version, package=package, sdist_base=base
        )
        entries = [
            (f"{base}/PKG-INFO", pkg_info),
            (f"{base}/pyproject.toml", _PYPROJECT.encode()),
            (f"{base}/_fake_backend.py", backend.encode()),
            init,
        ]
        archive = _tar_gz(entries) if fmt == "tar.gz" else _zip(entries)
        return f"{base}.{fmt}", archive, pkg_info
    entries = []
    if top_pkg_info:
        entries.append((f"{base}/PKG-INFO", pkg_info))
    if build_requires is None:
        entries.append((f"{base}/setup.py", _SETUP_PY))
    else:
        entries.append((f"{base}/pyproject.toml", _pyproject(build_requires, build_backend)))
        if build_backend is None:
            entries.append((f"{base}/_fake_backend.py", _generic_backend().encode()))
    true_metadata = _core_metadata(
        "2.1",
        name,
        version,
        requires_python=requires_python,
        requires_dist=requires_dist,
        provides_extra=provides_extra,
    )
    entries.append((f"{base}/_fake_metadata", true_metadata))
    if egg_info_requires is not None or not top_pkg_info:
        entries.append((f"{base}/{package}.egg-info/PKG-INFO", pkg_info))
        if egg_info_requires is not None:
            requires_txt = egg_info_requires.encode()
            entries.append((f"{base}/{package}.egg-info/requires.txt", requires_txt))
    entries.append(init)
    archive = _tar_gz(entries) if fmt == "tar.gz" else _zip(entries)
    return f"{base}.{fmt}", archive, pkg_info


def build_setuptools_wheel(version: str) -> tuple[str, bytes, bytes]:
    """A fake `setuptools` wheel; return (filename, wheel bytes, METADATA bytes).

    `setuptools.build_meta` (and its `__legacy__`) is the generic fake backend. Like real
    setuptools before 70.1, a version below 70.1 asks for `wheel` to build wheels.
    """
    requires = ["wheel"] if Version(version) < Version("70.1") else []
    return build_backend_wheel(
        "setuptools", version, requires_for_build_wheel=requires, submodule="build_meta"
    )


def build_backend_wheel(
    name: str = "fakebuild",
    version: str = "1.0",
    *,
    requires_for_build_wheel: Sequence[str] = (),
    requires_dist: Iterable[str] = (),
    submodule: str | None = None,
) -> tuple[str, bytes, bytes]:
    """A wheel whose module `<name>` (or `<name>.<submodule>`) is the generic fake backend;
    return (filename, wheel bytes, METADATA bytes). Its get_requires_for_build_wheel returns
    `requires_for_build_wheel`; `requires_dist` are the backend project's own dependencies."""
    package = _module_name(name)
    metadata = _core_metadata(
        "2.1",
        name,
        version,
        requires_python=None,
        requires_dist=requires_dist,
        provides_extra=(),
    )
    version_line = f'__version__ = "{version}"\n'
    backend = _generic_backend(requires_for_build_wheel)
    if submodule is None:
        files = [(f"{package}/__init__.py", (backend + "\n" + version_line).encode())]
    else:
        files = [
            (f"{package}/__init__.py", version_line.encode()),
            (f"{package}/{submodule}.py", backend.encode()),
        ]
    return _wheel(name, version, "py3-none-any", metadata, files)


def _version_from_filename(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


# --------------------------------------------------------------------------------------------
# Page rendering and content negotiation (pure)


def _yanked_json(yanked: str | bool | None) -> str | bool:
    if yanked is True or yanked == "":
        return True
    return yanked or False


def render_json_page(
    name: str, files: Iterable[tuple[FakeFile, str]], status: Mapping[str, str] | None = None
) -> bytes:
    """PEP 691 project page; `files` pairs each file with the URL to show; `status` is
    the PEP 792 `project-status` object, as given."""
    entries: list[dict[str, Any]] = []
    versions: set[str] = set()
    for f, url in files:
        entry: dict[str, Any] = {"filename": f.filename, "url": url, "hashes": f.page_hashes()}
        if f.requires_python is not None:
            entry["requires-python"] = f.requires_python
        entry["yanked"] = _yanked_json(f.yanked)
        entry["size"] = len(f.content) if f.advertised_size is None else f.advertised_size
        if f.upload_time is not None:
            entry["upload-time"] = f.upload_time
        entry["core-metadata"] = (
            {"sha256": f.page_metadata_sha256()} if f.metadata_advertised else False
        )
        if f.provenance is not None:
            entry["provenance"] = url.partition("#")[0] + ".provenance"
        entries.append(entry)
        if f.version is not None:
            versions.add(f.version)
    page = {
        "meta": {"api-version": "1.1"},
        "name": name,
        "versions": sorted(versions, key=_version_sort_key),
        "files": entries,
    }
    if status is not None:
        page["project-status"] = dict(status)
    return json.dumps(page, indent=1).encode()


def _version_sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def _html_document(title: str, anchors: Iterable[str], meta: Mapping[str, str] = {}) -> bytes:
    t = html.escape(title)
    body = "".join(f"{a}<br>\n" for a in anchors)
    tags = "".join(
        f'<meta name="{html.escape(k)}" content="{html.escape(v, quote=True)}">'
        for k, v in meta.items()
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
        f"{tags}<title>{t}</title></head>\n<body><h1>{t}</h1>\n{body}</body></html>\n"
    ).encode()


def _anchor(href: str, text: str, attrs: Mapping[str, str] = {}) -> str:
    rendered = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return f'<a href="{html.escape(href, quote=True)}"{rendered}>{html.escape(text)}</a>'


def render_html_page(
    name: str, files: Iterable[tuple[FakeFile, str]], status: Mapping[str, str] | None = None
) -> bytes:
    """PEP 503 project page; `files` pairs each file with the URL to show; `status` as the
    PEP 792 meta tags."""
    anchors = []
    for f, url in files:
        hashes = f.page_hashes()
        algo = "sha256" if "sha256" in hashes else next(iter(hashes), None)
        if algo is not None and "#" not in url:
            url = f"{url}#{algo}={hashes[algo]}"
        attrs: dict[str, str] = {}
        if f.requires_python is not None:
            attrs["data-requires-python"] = f.requires_python
        if f.yanked is not None and f.yanked is not False:
            attrs["data-yanked"] = "" if f.yanked is True else f.yanked
        if f.metadata_advertised:
            attrs["data-core-metadata"] = f"sha256={f.page_metadata_sha256()}"
            attrs["data-dist-info-metadata"] = attrs["data-core-metadata"]
        if f.provenance is not None:
            attrs["data-provenance"] = url.partition("#")[0] + ".provenance"
        anchors.append(_anchor(url, f.filename, attrs))
    meta = {}
    if status is not None:
        meta["pypi:project-status"] = status.get("status", status.get("state", ""))
        if "reason" in status:
            meta["pypi:project-status-reason"] = status["reason"]
    return _html_document(f"Links for {name}", anchors, meta)


def render_root(names: Iterable[str], content_type: str) -> bytes:
    names = sorted(names)
    if content_type == JSON_V1:
        page = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in names]}
        return json.dumps(page).encode()
    return _html_document("Simple index", (_anchor(f"{quote(n)}/", n) for n in names))


def negotiate(accept: str | None) -> str | None:
    """Pick the page content type for an Accept header like PyPI; None means 406."""
    if not accept or not accept.strip():
        return TEXT_HTML
    ranges: list[tuple[str, float]] = []
    for item in accept.split(","):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            media = media.lower()
            ranges.append((_LATEST_ALIASES.get(media, media), q))
    best, best_q = None, 0.0
    for offer in _OFFERS:
        q = _quality(offer, ranges)
        if q > best_q:
            best, best_q = offer, q
    return best


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """q of the most specific media range matching `offer` (RFC 9110 12.5.1)."""
    kind = offer.split("/")[0]
    for candidates in ([offer], [f"{kind}/*"], ["*/*"]):
        qs = [q for media, q in ranges if media in candidates]
        if qs:
            return max(qs)
    return 0.0


_UNSATISFIABLE = (-1, -1)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single `bytes=` range as (start, end-exclusive); None = serve it all."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, sep, last = header[len("bytes=") :].strip().partition("-")
    if not sep or not (first + last).isdigit():
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else _UNSATISFIABLE
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    if start >= size or end <= start:
        return _UNSATISFIABLE
    return (start, end)


# --------------------------------------------------------------------------------------------
# The server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, index: FakeIndex) -> None:
        self.index = index
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(): a reverse lookup we do not need.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Stay silent; keep anything that is not a client hanging up for debugging.
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, _DISCONNECTS):
            self.index.errors.append(exc)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # a stuck client cannot hold a thread forever

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def index(self) -> FakeIndex:
        return self.server.index

    def setup(self) -> None:
        super().setup()
        self.index._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except _DISCONNECTS:
            pass
        finally:
            self.index._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def _dispatch(self, *, head: bool) -> None:
        try:
            self._route(head=head)
        except _DISCONNECTS:
            self.close_connection = True

    def _record(self, status: int, kind: str, **extra: str | None) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.index._record(RecordedRequest(self.command, self.path, headers, status, kind, **extra))

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] = {},
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _status(self, status: int, kind: str, head: bool, **extra: str | None) -> None:
        self._record(status, kind, **extra)
        self._reply(status, f"{status} {HTTPStatus(status).phrase}\n".encode(), head=head)

    def _redirect(self, location: str, kind: str, head: bool, **extra: str | None) -> None:
        self._record(301, kind, **extra)
        self._reply(301, b"moved\n", headers={"Location": location}, head=head)

    # -- routing ----------------------------------------------------------------------------

    def _route(self, *, head: bool) -> None:
        index = self.index
        split = urlsplit(self.path)
        parts = [unquote(p) for p in split.path.split("/")][1:]
        if index.auth is not None and not self._authorized(index.auth):
            kind, extra = _classify(parts)
            self._record(401, kind, **extra)
            challenge = {"WWW-Authenticate": 'Basic realm="fakeindex"'}
            self._reply(401, b"401 Unauthorized\n", headers=challenge, head=head)
            return
        match parts:
            case ["simple"]:
                self._redirect("/simple/", "root", head)
            case ["simple", ""]:
                self._root(split.query, head)
            case ["simple", name]:
                project = canonicalize_name(name)
                self._redirect(f"/simple/{quote(name)}/", "page", head, project=project)
            case ["simple", name, ""]:
                self._page(name, split.query, head)
            case ["other-path", "files", filename] if filename:
                self._file(filename, head)
            case ["other-path", name, ""] if name in index._redirected():
                self._final_page(name, split.query, head, redirected=True)
            case ["files", filename] if filename:
                self._file(filename, head)
            case _:
                self._status(404, "other", head)

    def _authorized(self, auth: tuple[str, str]) -> bool:
        expected = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        return self.headers.get("Authorization", "") == f"Basic {expected}"

    def _content_type(self, query: str) -> str | None:
        fmt = self.index.page_format
        if fmt == "json":
            return JSON_V1
        if fmt == "html":
            return TEXT_HTML
        requested = parse_qs(query).get("format")  # PEP 691: ?format= overrides Accept
        return negotiate(requested[0] if requested else self.headers.get("Accept"))

    def _root(self, query: str, head: bool) -> None:
        content_type = self._content_type(query)
        if content_type is None:
            self._status(406, "root", head)
            return
        self._record(200, "root")
        body = render_root(self.index._project_names(), content_type)
        self._reply(200, body, content_type=content_type, head=head)

    def _page(self, name: str, query: str, head: bool) -> None:
        index, project = self.index, canonicalize_name(name)
        if name != project:
            if index.redirect_unnormalized:
                self._redirect(f"/simple/{project}/", "page", head, project=project)
            else:
                self._status(404, "page", head, project=project)
            return
        if not head and index._page_should_fail(project):
            self._record(503, "page", project=project)
            extra = {"Retry-After": index.page_retry_after} if index.page_retry_after else {}
            self._reply(503, b"503 Service Unavailable\n", headers=extra, head=head)
            return
        forced = index._lookup(index.page_status, project)
        if forced is not None:
            self._status(forced, "page", head, project=project)
        elif project in index._redirected():
            self._redirect(f"/other-path/{project}/", "page", head, project=project)
        else:
            self._final_page(project, query, head, redirected=False)

    def _final_page(self, project: str, query: str, head: bool, *, redirected: bool) -> None:
        index = self.index
        raw = index._lookup(index.raw_page, project)
        if raw is not None:
            self._record(200, "page", project=project)
            self._reply(200, raw[1], content_type=raw[0], head=head)
            return
        if project not in index._projects:
            self._status(404, "page", head, project=project)
            return
        content_type = self._content_type(query)
        if content_type is None:
            self._status(406, "page", head, project=project)
            return
        files = [(f, index._file_url(f, redirected=redirected)) for f in index._files_of(project)]
        render = render_json_page if content_type == JSON_V1 else render_html_page
        body = render(project, files, index._lookup(index.project_status, project))
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {"ETag": etag}
        if index.page_format == "negotiate":
            headers["Vary"] = "Accept"
        if self.headers.get("If-None-Match") == etag:
            self._record(304, "page", project=project)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._record(200, "page", project=project)
        self._reply(200, body, content_type=content_type, headers=headers, head=head)

    def _file(self, filename: str, head: bool) -> None:
        index = self.index
        f = index._files.get(filename)
        if f is None and filename.endswith(".metadata"):
            meta = index._files.get(filename.removesuffix(".metadata"))
            if meta is not None and meta.metadata_advertised:
                assert meta.metadata is not None
                self._record(200, "metadata", filename=meta.filename)
                self._reply(200, meta.metadata, content_type="binary/octet-stream", head=head)
                return
        if f is None and filename.endswith(".provenance"):
            signed = index._files.get(filename.removesuffix(".provenance"))
            if signed is not None and signed.provenance is not None:
                self._record(200, "provenance", filename=signed.filename)
                self._reply(200, signed.provenance, content_type="application/json", head=head)
                return
        if f is None:
            self._status(404, "file", head, filename=filename)
            return
        self._send_file(f, head)

    def _send_file(self, f: FakeFile, head: bool) -> None:
        index = self.index
        attempt = 0 if head else index._count_get(f)
        if 0 < attempt <= f.fail_first:
            self._record(f.fail_status, "file", filename=f.filename)
            extra = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
            body = f"{f.fail_status} (fake failure {attempt})\n".encode()
            self._reply(f.fail_status, body, headers=extra, head=head)
            return
        size = len(f.content)
        span = parse_range(self.headers.get("Range"), size) if index.range_support else None
        if span == _UNSATISFIABLE:
            self._record(416, "file", filename=f.filename)
            self._reply(416, b"", headers={"Content-Range": f"bytes */{size}"}, head=head)
            return
        start, end = span or (0, size)
        if span and index.range_lies:
            start, end = 0, size  # Content-Range and body: the whole file
        status = 206 if span else 200
        self._record(status, "file", filename=f.filename)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        if index.range_support:
            self.send_header("Accept-Ranges", "bytes")
        if span:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if head:
            return
        stop = end
        truncating = f.truncate_first is None or attempt - f.fail_first <= f.truncate_first
        if f.truncate_to is not None and truncating:
            stop = max(start, min(end, f.truncate_to))
            self.close_connection = True  # the promised bytes never come: hang up
        self._write(f.content[start:stop], f.throttle)

    def _write(self, data: bytes, throttle: float | None) -> None:
        if throttle is None:
            self.wfile.write(data)
            return
        chunk = max(1, int(throttle / 20))
        for offset in range(0, len(data), chunk):
            piece = data[offset : offset + chunk]
            self.wfile.write(piece)
            if self.index._stopping.wait(len(piece) / throttle):
                self.close_connection = True
                return


def _classify(parts: list[str]) -> tuple[str, dict[str, str | None]]:
    """The log `kind` (and project or filename) of a path, for requests refused before routing."""
    match parts:
        case ["simple"] | ["simple", ""]:
            return "root", {}
        case ["simple", name, *_]:
            return "page", {"project": canonicalize_name(name)}
        case ["files", name] | ["other-path", "files", name] if name.endswith(".metadata"):
            return "metadata", {"filename": name.removesuffix(".metadata")}
        case ["files", name] | ["other-path", "files", name]:
            return "file", {"filename": name}
        case _:
            return "other", {}


class FakeIndex:
    """A threaded simple-API index on 127.0.0.1; configure it, `start()`, point clients at `url`.

    Tests are expected to configure files and knobs before the requests that depend on them.
    """

    def __init__(self, *, page_format: str = "json") -> None:
        if page_format not in _PAGE_FORMATS:
            raise ValueError(f"page_format must be one of {_PAGE_FORMATS}, not {page_format!r}")
        self.page_format = page_format
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []  # unexpected server-side exceptions
        self.page_status: dict[str, int] = {}
        self.page_fail_first: dict[str, int] = {}
        self.page_retry_after: str | None = None  # Retry-After sent with page_fail_first 503s
        self.page_redirect: set[str] = set()
        self.raw_page: dict[str, tuple[str, bytes]] = {}
        self.project_status: dict[str, dict[str, str]] = {}  # PEP 792 object, by project
        self.range_support = True
        self.range_lies = False  # a range answered with the whole file, as a 206 "range"
        self.auth: tuple[str, str] | None = None
        self.absolute_urls = False  # emit http://127.0.0.1:PORT/files/... instead of relative
        self.redirect_unnormalized = False  # /simple/Foo_Bar/: 404 (default) or 301 like PyPI
        self._projects: dict[str, str] = {}  # normalized -> name as first given
        self._files: dict[str, FakeFile] = {}
        self._page_gets: dict[str, int] = {}
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("FakeIndex already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; open and half-sent connections are cut, not waited for."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        with self._lock:
            self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FakeIndex:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeIndex is not started")
        return int(self._server.server_port)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base simple URL, e.g. http://127.0.0.1:PORT/simple/."""
        return f"{self.origin}/simple/"

    def file_url(self, filename: str) -> str:
        """Absolute URL of a served file (the default page URL, resolved)."""
        return f"{self.origin}/files/{quote(filename, safe='')}"

    # -- content ----------------------------------------------------------------------------

    def add_project(self, name: str) -> None:
        """Make a project exist (an empty page) even before it has files."""
        self._projects.setdefault(canonicalize_name(name), name)

    def add_file(
        self, project: str, filename: str, content: bytes = b"...", **knobs: Any
    ) -> FakeFile:
        """Add a raw file entry: any filename, any bytes (odd or hostile cases)."""
        knobs.setdefault("version", _version_from_filename(filename))
        f = FakeFile(project=project, filename=filename, content=content, **knobs)
        if filename in self._files:
            raise ValueError(f"{filename!r} is already served")
        self.add_project(project)
        self._files[filename] = f
        return f

    def remove_file(self, filename: str) -> FakeFile:
        """Take a file down: off its page, and 404 if asked for (PyPI removing malware)."""
        return self._files.pop(filename)

    def add_wheel(
        self,
        name: str,
        version: str,
        *,
        tag: str = "py3-none-any",
        requires_python: str | None = None,
        requires_dist: Iterable[str] = (),
        provides_extra: Iterable[str] = (),
        metadata_version: str = "2.1",
        extra_metadata: Iterable[str] = (),
        **knobs: Any,
    ) -> FakeFile:
        """Add a generated wheel; its METADATA is served as the PEP 658 file by default."""
        filename, content, metadata = build_wheel(
            name,
            version,
            tag=tag,
            requires_python=requires_python,
            requires_dist=requires_dist,
            provides_extra=provides_extra,
            metadata_version=metadata_version,
            extra_metadata=extra_metadata,
        )
        knobs.setdefault("metadata", metadata)
        knobs.setdefault("version", version)
        return self.add_file(name, filename, content, requires_python=requires_python, **knobs)

    def add_sdist(
        self,
        name: str,
        version: str,
        *,
        fmt: str = "tar.gz",
        metadata_version: str = "2.2",
        requires_python: str | None = None,
        requires_dist: Iterable[str] = (),
        provides_extra: Iterable[str] = (),
        dynamic: Iterable[str] = (),
        build_requires: Sequence[str] | None = (),
        build_backend: str | None = None,
        egg_info_requires: str | None = None,
        top_pkg_info: bool = True,
        **knobs: Any,
    ) -> FakeFile:
        """Add a generated sdist (see `build_sdist` for the build-system and old-layout knobs).
        Its PKG-INFO is kept in `metadata` but, like PyPI, not advertised unless
        `advertise_metadata=True` is passed."""
        filename, content, pkg_info = build_sdist(
            name,
            version,
            fmt=fmt,
            metadata_version=metadata_version,
            requires_python=requires_python,
            requires_dist=requires_dist,
            provides_extra=provides_extra,
            dynamic=dynamic,
            build_requires=build_requires,
            build_backend=build_backend,
            egg_info_requires=egg_info_requires,
            top_pkg_info=top_pkg_info,
        )
        knobs.setdefault("metadata", pkg_info)
        knobs.setdefault("advertise_metadata", False)
        knobs.setdefault("version", version)
        return self.add_file(name, filename, content, requires_python=requires_python, **knobs)

    def add_setuptools(self, version: str = "80.9.0", **knobs: Any) -> FakeFile:
        """Serve a fake `setuptools` wheel (`build_setuptools_wheel`): the default build system
        of sdists without pyproject.toml. Below 70.1 it also needs a `wheel` project."""
        filename, content, metadata = build_setuptools_wheel(version)
        return self._add_tool("setuptools", version, filename, content, metadata, knobs)

    def add_backend(
        self,
        name: str = "fakebuild",
        version: str = "1.0",
        *,
        requires_for_build_wheel: Sequence[str] = (),
        requires_dist: Iterable[str] = (),
        **knobs: Any,
    ) -> FakeFile:
        """Serve a wheel whose top-level module (`name` with - as _) is the generic fake
        backend, for sdists made with `build_requires=[name]` and `build_backend=<module>`."""
        filename, content, metadata = build_backend_wheel(
            name,
            version,
            requires_for_build_wheel=requires_for_build_wheel,
            requires_dist=requires_dist,
        )
        return self._add_tool(name, version, filename, content, metadata, knobs)

    def _add_tool(
        self,
        name: str,
        version: str,
        filename: str,
        content: bytes,
        metadata: bytes,
        knobs: dict[str, Any],
    ) -> FakeFile:
        knobs.setdefault("metadata", metadata)
        knobs.setdefault("version", version)
        return self.add_file(name, filename, content, **knobs)

    def files(self, project: str | None = None) -> list[FakeFile]:
        """The files served, optionally only those listed on one project's page."""
        if project is None:
            return list(self._files.values())
        return list(self._files_of(canonicalize_name(project)))

    # -- request log ------------------------------------------------------------------------

    def downloads(self, filename: str | None = None) -> list[RecordedRequest]:
        """GETs of distribution files (not .metadata, not pages), whatever their status."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.method == "GET"
                and r.kind == "file"
                and (filename is None or r.filename == filename)
            ]

    def page_requests(self, project: str | None = None) -> list[RecordedRequest]:
        """GETs and HEADs of project pages (and of the root when `project` is None)."""
        wanted = None if project is None else canonicalize_name(project)
        with self._lock:
            return [
                r
                for r in self.requests
                if (r.kind == "page" and (wanted is None or r.project == wanted))
                or (r.kind == "root" and wanted is None)
            ]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- used by the handler ----------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)
            stopping = self._stopping.is_set()
        if stopping:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _count_get(self, f: FakeFile) -> int:
        with self._lock:
            f.gets += 1
            return f.gets

    def _page_should_fail(self, project: str) -> bool:
        limit = self._lookup(self.page_fail_first, project) or 0
        with self._lock:
            self._page_gets[project] = self._page_gets.get(project, 0) + 1
            return self._page_gets[project] <= limit

    @staticmethod
    def _lookup(table: Mapping[str, Any], project: str) -> Any:
        for key, value in list(table.items()):
            if canonicalize_name(key) == project:
                return value
        return None

    def _redirected(self) -> set[str]:
        return {canonicalize_name(p) for p in self.page_redirect}

    def _project_names(self) -> list[str]:
        return sorted(set(self._projects) | {canonicalize_name(p) for p in self.raw_page})

    def _files_of(self, project: str) -> Iterator[FakeFile]:
        # Keyed by the listing project, not the filename: a page may list a foreign file.
        return (f for f in list(self._files.values()) if canonicalize_name(f.project) == project)

    def _file_url(self, f: FakeFile, *, redirected: bool) -> str:
        if f.url_override is not None:
            return f.url_override
        quoted = quote(f.filename, safe="")
        if self.absolute_urls:
            return f"{self.origin}/files/{quoted}"
        return f"../files/{quoted}" if redirected else f"../../files/{quoted}"


__all__ = [
    "HTML_V1",
    "JSON_V1",
    "TEXT_HTML",
    "FakeFile",
    "FakeIndex",
    "RecordedRequest",
    "build_backend_wheel",
    "build_sdist",
    "build_setuptools_wheel",
    "build_wheel",
    "negotiate",
    "parse_range",
    "render_html_page",
    "render_json_page",
]
