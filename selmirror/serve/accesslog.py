"""The access log: one line per request on stderr, plain or JSON.

Plain lines read ``TIME REMOTE "METHOD TARGET HTTP/V" STATUS BYTES MSms "USER-AGENT"``
(without ``TIME`` under systemd, whose journal stamps each line itself). Client-sent text
is quoted as JSON strings, so a quote or a control character in it cannot forge a line.

Lines written in one turn of the event loop go out in one ``write`` (a busy server answers
many requests per turn), so the log costs little more than formatting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import MutableMapping
from typing import Any, Literal

LogFormat = Literal["plain", "json", "off"]
_PLAIN_SAFE = frozenset(map(chr, range(0x20, 0x7F))) - {'"', "\\"}


class AccessLog:
    def __init__(self, log_format: LogFormat, *, journal: bool = False) -> None:
        self.format = log_format
        self.journal = journal  # under systemd: no timestamp of our own
        self._pending: list[str] = []
        self._second = -1
        self._stamp = ""

    def request(
        self, scope: MutableMapping[str, Any], status: int, size: int, seconds: float
    ) -> None:
        client = scope.get("client")
        remote = client[0] if client else "-"
        raw = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = (raw + b"?" + query if query else raw).decode("ascii", "backslashreplace")
        agent = ""
        for key, value in scope.get("headers", ()):
            if key == b"user-agent":
                agent = value[:300].decode("latin-1")
        if self.format == "json":
            line = json.dumps(
                {
                    "time": self._now(),
                    "remote": remote,
                    "method": scope["method"],
                    "path": target,
                    "status": status,
                    "bytes": size,
                    "ms": round(seconds * 1000, 2),
                    "user_agent": agent,
                }
            )
        else:
            request = f"{scope['method']} {target} HTTP/{scope.get('http_version', '1.1')}"
            took = f"{seconds * 1000:.1f}ms"
            line = f"{remote} {_quoted(request)} {status} {size} {took} {_quoted(agent)}"
            if not self.journal:
                line = f"{self._now()} {line}"
        self._pending.append(line)
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop (a test calling it directly)
                self.flush()

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            with contextlib.suppress(OSError, ValueError):  # a closed stderr fails no request
                os.write(sys.stderr.fileno(), ("\n".join(lines) + "\n").encode())

    def _now(self) -> str:
        """UTC, to the millisecond (the seconds formatted once per second)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"


def _quoted(text: str) -> str:
    if _PLAIN_SAFE.issuperset(text):
        return f'"{text}"'
    return json.dumps(text)
