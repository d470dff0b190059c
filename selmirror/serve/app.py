"""The ASGI application of ``selmirror serve`` (see the package docstring for what it answers).

Plain ASGI for pages, health and redirects (the hot path: a ``stat``, a dict lookup, two
``send`` calls); Starlette's ``FileResponse`` for files (``Range``, ``HEAD``, and the
server's zero-copy ``pathsend`` where it has one); :mod:`selmirror.serve.upload` for
uploads. One access-log line per request (:mod:`selmirror.serve.accesslog`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.responses import FileResponse

from selmirror.folder import HTML_PAGE
from selmirror.serve import negotiate, tree
from selmirror.serve.accesslog import AccessLog, LogFormat
from selmirror.state import COMPLETED, STATE_DIR

if TYPE_CHECKING:
    from selmirror.serve.upload import Uploads, UploadSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FILE_CACHE = b"public, max-age=31536000, immutable"
PAGE_VARY = b"Accept, Accept-Encoding"


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What ``selmirror serve`` was asked to do (picklable: each worker process builds its
    application from it)."""

    root: Path
    prefix: str = "/simple/"
    page_max_age: int = 60
    log_format: LogFormat = "plain"
    upload: UploadSettings | None = None  # when uploads are on


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.root
        self.real_root = os.path.realpath(settings.root)
        self.prefix = settings.prefix
        self.pages = tree.Pages()
        self.page_cache = f"max-age={settings.page_max_age}, must-revalidate".encode()
        self.uploads: Uploads | None = None
        self.file_cache = FILE_CACHE
        if settings.upload is not None and settings.upload.allow_overwrite:
            self.file_cache = self.page_cache  # a file may change under its name: revalidate
        if settings.upload is not None:
            from selmirror.serve.upload import Uploads  # bcrypt and forms only if asked

            self.uploads = Uploads(settings.root, settings.upload)
        self.access = AccessLog(settings.log_format, journal="JOURNAL_STREAM" in os.environ)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.settings.log_format == "off":
            await self.handle(scope, receive, send)
            return
        started = time.perf_counter()
        seen: dict[str, int] = {"status": 0, "bytes": 0}

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for key, value in message.get("headers", ()):
                    if key == b"content-length":
                        seen["bytes"] = int(value)
            await send(message)

        try:
            await self.handle(scope, receive, logged)
        finally:
            if scope["method"] == "HEAD":
                seen["bytes"] = 0
            self.access.request(scope, seen["status"], seen["bytes"], time.perf_counter() - started)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path in ("/health", "/ready"):
            if method not in ("GET", "HEAD"):
                await _plain(send, 405, b"method not allowed\n", method, [(b"allow", b"GET, HEAD")])
            elif path == "/health":
                await _json(send, 200, {"status": "ok"}, method)
            else:
                await self.ready(send, method)
            return
        if method == "POST" and path in ("/", self.prefix, self.prefix.rstrip("/")):
            if self.uploads is None:
                await _plain(send, 405, b"uploads are off\n", method, [(b"allow", b"GET, HEAD")])
            else:
                await self.uploads.handle(scope, receive, send)
            return
        if not path.startswith(self.prefix):
            if path == self.prefix.rstrip("/"):
                await self.redirect(scope, send, self.prefix)
            else:
                await _plain(send, 404, b"not found\n", method)
            return
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"method not allowed\n", method, [(b"allow", b"GET, HEAD")])
            return
        target = tree.route(path[len(self.prefix) :])
        if isinstance(target, tree.Page):
            await self.page(scope, send, target)
        elif isinstance(target, tree.File):
            await self.file(scope, receive, send, target)
        elif isinstance(target, tree.Redirect):
            await self.redirect(scope, send, self.prefix + target.path)
        else:
            await _plain(send, 404, b"not found\n", method)

    async def page(self, scope: Scope, send: Send, target: tree.Page) -> None:
        method = scope["method"]
        headers = _headers(scope)
        choice = self.choose(scope, headers)
        vary = [(b"vary", PAGE_VARY)]
        if choice is None:
            served = ", ".join(negotiate.SERVED).encode()
            await _plain(send, 406, b"acceptable: " + served + b"\n", method, vary)
            return
        folder = (
            self.root if target.project is None else tree.project_dir(self.root, target.project)
        )
        gzipped = negotiate.accepts_gzip(headers.get(b"accept-encoding", b"").decode("latin-1"))
        body = None
        if folder is not None:
            body = self.pages.get(folder / tree.PAGE_FILES[choice.representation], gzipped=gzipped)
        if body is None:
            await _plain(send, 404, b"not found\n", method, vary)
            return
        content_type = choice.content_type
        if content_type == negotiate.TEXT_HTML:
            content_type += "; charset=utf-8"
        cached = [(b"cache-control", self.page_cache), *vary]
        encoding = [(b"content-encoding", b"gzip")] if body.etag.endswith('-gzip"') else []
        await _cached(scope, send, headers, body, cached, content_type, encoding)

    def choose(self, scope: Scope, headers: dict[bytes, bytes]) -> negotiate.Choice | None:
        query = scope.get("query_string", b"")
        if b"format=" in query:
            for pair in query.decode("latin-1").split("&"):
                key, _, value = pair.partition("=")
                if key == "format":  # "+" is literal here: v1+json, as PEP 691 writes it
                    return negotiate.from_format(unquote(value))
        accept = headers.get(b"accept")
        return negotiate.choose(None if accept is None else accept.decode("latin-1"))

    async def file(self, scope: Scope, receive: Receive, send: Send, target: tree.File) -> None:
        found = tree.file_path(self.root, self.real_root, target)
        if found is None:
            await _plain(send, 404, b"not found\n", scope["method"])
            return
        path, st = found
        headers = _headers(scope)
        if target.filename.endswith(".metadata") and b"range" not in headers:
            await self.small_file(scope, send, path, st, headers)
            return
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        last_modified = formatdate(st.st_mtime, usegmt=True)
        validators = {"etag": etag, "last-modified": last_modified}
        if _not_modified(headers, etag, last_modified):
            unchanged = [(k.encode(), v.encode()) for k, v in validators.items()]
            provenance = target.filename.endswith(".provenance")
            unchanged.append((b"cache-control", self.page_cache if provenance else self.file_cache))
            await send({"type": "http.response.start", "status": 304, "headers": unchanged})
            await send({"type": "http.response.body", "body": b""})
            return
        # a provenance may change (attestations are added): revalidated, like a page
        provenance = target.filename.endswith(".provenance")
        cache = self.page_cache if provenance else self.file_cache
        response = FileResponse(
            path,
            media_type="application/json" if provenance else "application/octet-stream",
            stat_result=st,
            headers={**validators, "cache-control": cache.decode()},
        )
        await response(scope, receive, send)

    async def small_file(
        self,
        scope: Scope,
        send: Send,
        path: Path,
        st: os.stat_result,
        headers: dict[bytes, bytes],
    ) -> None:
        """A ``.metadata`` file from memory, as pages are (pip and uv read one per wheel
        they consider; a range of one goes the way of other files)."""
        body = self.pages.get(path, gzipped=False, st=st)
        if body is None:
            await _plain(send, 404, b"not found\n", scope["method"])
            return
        cached = [(b"cache-control", self.file_cache)]
        octets = "application/octet-stream"
        await _cached(scope, send, headers, body, cached, octets, [(b"accept-ranges", b"bytes")])

    async def redirect(self, scope: Scope, send: Send, location: str) -> None:
        query = scope.get("query_string", b"")
        target = location.encode() + (b"?" + query if query else b"")
        await _plain(send, 301, b"moved\n", scope["method"], [(b"location", target)])

    async def ready(self, send: Send, method: str) -> None:
        if not (self.root / HTML_PAGE).is_file():
            reason = f"no root page in {self.root}: run a sync, an index or an import first"
            await _json(send, 503, {"status": "not ready", "reason": reason}, method)
            return
        document: dict[str, object] = {"status": "ready", "last_sync": None, "age_seconds": None}
        try:
            mtime = (self.root / STATE_DIR / COMPLETED).stat().st_mtime
        except OSError:
            pass
        else:
            when = datetime.fromtimestamp(mtime, timezone.utc)
            document["last_sync"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            document["age_seconds"] = max(0, round(time.time() - mtime))
        await _json(send, 200, document, method)


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name (a repeated header: the last one)."""
    return {key.lower(): value for key, value in scope.get("headers", ())}


def _not_modified(headers: dict[bytes, bytes], etag: str, last_modified: str) -> bool:
    """RFC 9110 13.1.2 and 13.1.3: If-None-Match (weak comparison) decides when present;
    otherwise If-Modified-Since."""
    match = headers.get(b"if-none-match")
    if match is not None:
        tags = [t.strip().removeprefix("W/") for t in match.decode("latin-1").split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    since = headers.get(b"if-modified-since")
    if since is None:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(
            since.decode("latin-1")
        )
    except (TypeError, ValueError):
        return False


async def _cached(
    scope: Scope,
    send: Send,
    headers: dict[bytes, bytes],
    body: tree.Body,
    cached: list[tuple[bytes, bytes]],
    content_type: str,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """``body`` with its validators and ``cached`` headers, or a 304 with them when the
    request's validators match; ``extra`` headers go with the 200 only."""
    response = [
        (b"etag", body.etag.encode()),
        (b"last-modified", body.last_modified.encode()),
        *cached,
    ]
    if _not_modified(headers, body.etag, body.last_modified):
        await send({"type": "http.response.start", "status": 304, "headers": response})
        await send({"type": "http.response.body", "body": b""})
        return
    response.append((b"content-type", content_type.encode()))
    response.append((b"content-length", str(len(body.data)).encode()))
    response += extra
    await send({"type": "http.response.start", "status": 200, "headers": response})
    await send(
        {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body.data}
    )


async def _plain(
    send: Send,
    status: int,
    body: bytes,
    method: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _json(send: Send, status: int, document: object, method: str) -> None:
    body = json.dumps(document).encode() + b"\n"
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
