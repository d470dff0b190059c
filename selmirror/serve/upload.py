"""Uploads: the legacy ``file_upload`` form that twine and ``uv publish`` send, with Basic
auth against an htpasswd file.

A request goes through, in order: credentials (401 without, 403 when wrong), the size cap
(413, checked on ``Content-Length`` and again on the bytes as they arrive), the form (400),
the file: a safe distribution filename of the form's project and version, the form's
``sha256_digest`` when given, and an archive that reads as that distribution (400).
Then, holding the mirror's lock (503 if a sync holds it past ``--lock-timeout``), it is
written through a temp file into the project's folder and renamed into place (409 if a
file of that name is there, unless ``--allow-overwrite``); the project's pages are
rewritten as ``selmirror index`` would, so the file is a hand-placed one (``origin:
local``): syncs keep listing it and prunes never remove it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio.to_thread
from packaging.utils import InvalidName, NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request

from selmirror.errors import InputError, Locked, OutputError
from selmirror.folder import MirrorFolder, temp_file
from selmirror.indexer import index_project
from selmirror.metadata import BadDistribution, wheel_metadata
from selmirror.pages import FileRefused, dist_file
from selmirror.sdists import BadSdist, read_sdist

log = logging.getLogger("selmirror")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REALM = b'Basic realm="selmirror uploads", charset="UTF-8"'
MAX_HTPASSWD_BYTES = 1 << 20
MAX_FIELD_BYTES = 1 << 20  # a metadata field (the description is the largest)


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadSettings:
    htpasswd: Path
    users: Mapping[str, str]  # user -> hash, as the file was when the server started
    allow_overwrite: bool = False
    max_size: int = 2 << 30
    lock_timeout: float = 60.0


def load_htpasswd(path: Path) -> dict[str, str]:
    """``{user: hash}`` from an htpasswd file; only bcrypt (``htpasswd -B``) and SHA-1
    (``htpasswd -s``) entries are taken, anything else is an :class:`InputError` naming the
    line."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_HTPASSWD_BYTES + 1)
    except OSError as exc:
        raise InputError(f"--upload-htpasswd {path}: {exc.strerror}") from None
    if len(data) > MAX_HTPASSWD_BYTES:
        raise InputError(f"{path}: larger than {MAX_HTPASSWD_BYTES} bytes, not an htpasswd file")
    users: dict[str, str] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        line = raw.strip().decode("utf-8", "replace")
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise InputError(f"{path}:{number}: not a 'user:hash' line")
        if not hashed.startswith(("$2y$", "$2b$", "$2a$", "{SHA}")):
            raise InputError(
                f"{path}:{number}: user {user!r} has a hash selmirror does not take "
                "(only bcrypt and SHA-1)",
                hint=f"set it again with: htpasswd -B {path} {user}",
            )
        users[user] = hashed
    if not users:
        raise InputError(f"{path}: no users", hint=f"add one with: htpasswd -B {path} NAME")
    return users


def check_password(hashed: str, password: str) -> bool:
    """Whether ``password`` matches an htpasswd ``hashed`` (bcrypt or ``{SHA}``)."""
    if hashed.startswith("{SHA}"):
        digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324 - htpasswd -s
        return hmac.compare_digest(digest, hashed[5:])
    import bcrypt

    try:  # htpasswd writes $2y$; the library knows the same algorithm as $2b$
        return bcrypt.checkpw(password.encode(), ("$2b$" + hashed[4:]).encode())
    except ValueError:
        return False


class _Refused(Exception):
    def __init__(
        self, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class Uploads:
    def __init__(self, root: Path, settings: UploadSettings) -> None:
        self.folder = MirrorFolder(root)
        self.settings = settings
        self._users = dict(settings.users)
        self._mtime = _mtime(settings.htpasswd)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: Sequence[tuple[bytes, bytes]] = ()
        try:
            user = await self._authenticate(scope)
            where = await self._take(scope, receive)
            log.info("uploaded %s (by %s)", where, user)
            status, body = 200, f"uploaded {where}\n"
        except _Refused as exc:
            status, body, headers = exc.status, exc.message + "\n", exc.headers
            log.warning("upload refused (%d): %s", exc.status, exc.message)
        data = body.encode()
        response = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
            *headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": response})
        await send({"type": "http.response.body", "body": data})

    async def _authenticate(self, scope: Scope) -> str:
        header = dict(scope.get("headers", ())).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, sep, password = decoded.partition(":")
        if scheme.lower() != b"basic" or not sep:
            raise _Refused(401, "credentials needed", [(b"www-authenticate", REALM)])
        self._reload()
        hashed = self._users.get(user)
        ok = hashed is not None and await anyio.to_thread.run_sync(check_password, hashed, password)
        if not ok:
            raise _Refused(403, f"wrong user name or password for {user!r}")
        return user

    def _reload(self) -> None:
        """Take the htpasswd file's changes (a user added or removed) without a restart."""
        mtime = _mtime(self.settings.htpasswd)
        if mtime != self._mtime:
            try:
                self._users = load_htpasswd(self.settings.htpasswd)
                self._mtime = mtime
            except InputError as exc:
                log.error("keeping the users read before: %s", exc)

    async def _take(self, scope: Scope, receive: Receive) -> str:
        cap = self.settings.max_size
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > cap:
            raise _Refused(413, f"the upload is larger than the limit of {cap} bytes")
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _Refused(413, f"the upload is larger than the limit of {cap} bytes")
            return message

        request = Request(scope, capped)
        try:
            async with request.form(max_files=1, max_part_size=MAX_FIELD_BYTES) as form:
                content = form.get("content")
                fields = {k: v for k, v in form.items() if isinstance(v, str)}
                if not isinstance(content, UploadFile):
                    raise _Refused(400, "the form has no 'content' file")
                return await anyio.to_thread.run_sync(self._place, fields, content)
        except (MultiPartException, ClientDisconnect) as exc:
            raise _Refused(400, f"unreadable upload form: {exc}") from None

    def _place(self, fields: Mapping[str, str], content: UploadFile) -> str:
        if fields.get(":action", "file_upload") != "file_upload":
            raise _Refused(400, f"unsupported action {fields.get(':action')!r}")
        project, version = _name_and_version(fields)
        filename = content.filename or ""
        try:
            record = dist_file(
                project=project,
                filename=filename,
                url=filename,
                page_url="file:///upload/",
                hashes_raw={},
                schemes=("file",),
            )
        except FileRefused as exc:
            raise _Refused(400, exc.reason) from None
        if version is not None and record.version != version:
            raise _Refused(400, f"{filename} is version {record.version}, not {version}")
        folder = self.folder
        try:
            with folder.lock(self.settings.lock_timeout):
                folder.clean_stale_temps()
                return self._write(project, filename, record.kind, content.file, fields)
        except Locked as exc:
            raise _Refused(503, exc.message, [(b"retry-after", b"60")]) from None
        except OutputError as exc:
            raise _Refused(500, exc.message) from None

    def _write(
        self,
        project: NormalizedName,
        filename: str,
        kind: str,
        source: IO[bytes],
        fields: Mapping[str, str],
    ) -> str:
        directory = self.folder.project_dir(project)
        dest = directory / filename
        existing = (
            {p.name.casefold(): p.name for p in directory.iterdir()} if directory.is_dir() else {}
        )
        replaced = existing.get(filename.casefold())
        if replaced is not None and not (self.settings.allow_overwrite and replaced == filename):
            raise _Refused(409, f"{project}/{replaced} already exists")
        fd, tmp = temp_file(self.folder.root)  # the project's folder only once the file is good
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                source.seek(0)
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            expected = fields.get("sha256_digest", "").strip().lower()
            if expected and not hmac.compare_digest(expected, digest.hexdigest()):
                raise _Refused(
                    400, f"{filename}: sha256 {digest.hexdigest()} is not the form's {expected}"
                )
            _check_archive(tmp, filename, kind)
            self.folder.prepare(project)
            os.replace(tmp, dest)
        except OSError as exc:
            raise _Refused(500, f"cannot write {dest}: {exc.strerror}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        index_project(self.folder, project, upload=filename, replaced=replaced is not None)
        return f"{project}/{filename}"


def _name_and_version(fields: Mapping[str, str]) -> tuple[NormalizedName, Version | None]:
    try:
        project = canonicalize_name(fields.get("name", ""), validate=True)
    except InvalidName:
        raise _Refused(
            400, f"the form's name {fields.get('name', '')[:100]!r} is not a project name"
        ) from None
    text = fields.get("version", "")
    try:
        return project, Version(text) if text else None
    except InvalidVersion:
        raise _Refused(400, f"the form's version {text[:100]!r} is not a PEP 440 version") from None


def _check_archive(path: str, filename: str, kind: str) -> None:
    """The archive reads as the distribution its name says (a wheel's ``.dist-info`` must
    be its project's and version's, as pip checks)."""
    try:
        if kind == "wheel":
            wheel_metadata(path, filename)
        else:
            read_sdist(path, filename)
    except (BadDistribution, BadSdist) as exc:
        raise _Refused(400, str(exc)) from None


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0
