"""The network edge towards the upstream index: sessions, retries, project pages.

Asks for PEP 691 JSON with pip's Accept header and accepts PEP 503 HTML. Never fetches the
index root. Every message names URLs through :func:`~selmirror.urls.redact`.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import requests.utils
import urllib3
from packaging.utils import NormalizedName
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from urllib3.exceptions import NameResolutionError

from selmirror import __version__
from selmirror.errors import InputError, ProjectNotFound, UpstreamError
from selmirror.pages import ProjectPage, parse_page
from selmirror.urls import project_url, redact

log = logging.getLogger(__name__)
TRACE = 5  # below DEBUG: every request (-vv)
logging.addLevelName(TRACE, "TRACE")

ACCEPT = (
    "application/vnd.pypi.simple.v1+json, "
    "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
)
USER_AGENT = f"selmirror/{__version__} (+https://github.com/selmirror/selmirror)"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504, 520, 522, 524, 527})
MAX_PAGE_BYTES = 128 << 20
MAX_RETRY_AFTER = 60.0
T = TypeVar("T")


class RetryableStatus(Exception):
    """A response whose status is worth another try (408, 429, 5xx)."""

    def __init__(self, url: str, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status} from {redact(url)}")
        self.status = status
        self.retry_after = retry_after


class ConnectionBroken(requests.ConnectionError):
    """The connection broke in the middle of a body (a short read, a reset)."""


WATCH_INTERVAL = 0.25  # seconds between a watchdog's looks at its transfer
MIN_RATE = 50_000  # bytes/s: a transfer slower than this on average, past its grace, ends
GRACE_TIMEOUTS = 4  # the grace: this many --timeout periods
DEFAULT_MAX_FILE = 10 << 30  # a file whose size the page does not give: at most 10 GiB


class Pace:
    """A wall-clock bound on one transfer, which ``--timeout`` (per socket read) is not.

    An upstream that sends a byte a second answers every read in time and kept a request
    alive for ever, holding the mirror's lock against every later nightly run. A transfer
    may take ``4 x --timeout`` plus one second per 50 kB; :meth:`check` raises past that.
    """

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.grace = GRACE_TIMEOUTS * timeout
        self.started = time.monotonic()

    def overdue(self, received: int) -> bool:
        return time.monotonic() - self.started > self.grace + received / MIN_RATE

    def check(self, received: int) -> None:
        if self.overdue(received):
            raise self.error(received)

    def error(self, received: int) -> UpstreamError:
        elapsed = time.monotonic() - self.started
        return UpstreamError(
            f"too slow: {received} bytes in {elapsed:.0f}s from {redact(self.url)} "
            f"(at least {MIN_RATE // 1000} kB/s after {self.grace:g}s)"
        )

    @property
    def block(self) -> int:
        """The largest read worth waiting for: what half the grace moves at the least rate
        (a read's bytes count only when it returns), at most a MiB."""
        return max(1 << 14, min(1 << 20, int(self.grace * MIN_RATE / 2)))


class _Watchdog:
    """Shuts a streamed answer's socket when its :class:`Pace` runs out, so that a large
    blocking read (a trickle answers each socket read in time) ends on time too."""

    def __init__(self, response: requests.Response, pace: Pace) -> None:
        self.response = response
        self.pace = pace
        self.received = 0  # as of the last read that returned
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="selmirror-pace", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            if self.pace.overdue(self.received):
                self.fired = True
                connection = getattr(self.response.raw, "connection", None)
                sock = getattr(connection, "sock", None)
                if isinstance(sock, socket.socket):
                    with suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
                return


def blocks(response: requests.Response, pace: Pace) -> Generator[bytes, None, None]:
    """The body as it came over the wire (no Content-Encoding undone), in large reads.

    A distribution file moves in reads of :attr:`Pace.block`: reading each 16 KiB TLS
    record as it arrives costs half as much CPU again per byte, through urllib3. A read
    that waits past the pace (a trickle) is cut off by a watchdog, and the transfer ends
    with the pace's error.
    """
    received = 0
    with _Watchdog(response, pace) as watchdog:
        try:
            for block in response.raw.stream(pace.block, decode_content=False):
                received += len(block)
                watchdog.received = received
                pace.check(received)
                yield block
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if watchdog.fired:
                raise pace.error(received) from None
            raise ConnectionBroken(type(exc).__name__) from exc


def read_body(response: requests.Response, url: str, timeout: float, limit: int) -> bytes:
    """The body of a streamed ``response``: at most ``limit`` bytes, at a bounded pace.

    Read a chunk at a time: a 1 GiB answer to a 10 MiB question is refused at 10 MiB, not
    held whole in memory first.
    """
    pace = Pace(url, timeout)
    body = bytearray()
    for chunk in chunks(response, 1 << 16):
        body += chunk
        if len(body) > limit:
            raise UpstreamError(f"larger than {_size(limit)}: {redact(url)}")
        pace.check(len(body))
    return bytes(body)


def chunks(response: requests.Response, size: int) -> Iterator[bytes]:
    """The body as it arrives, its Content-Encoding undone, up to ``size`` bytes at a time,
    never waiting for ``size``: a trickle shows at once, so that :class:`Pace` can see it.
    (Distribution files come through :func:`blocks`, as they came over the wire.)"""
    raw = response.raw
    try:
        while chunk := raw.read1(size, decode_content=True):
            yield chunk
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError) as exc:
        raise ConnectionBroken(type(exc).__name__) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise UpstreamError(f"cannot decode the body of {redact(response.url)}: {exc}") from None


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB"


TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    RetryableStatus,
)


@dataclass(frozen=True, slots=True)
class Trust:
    """Whom TLS trusts: ``cafile`` (``--cert``, or ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE``), else the system's trust store, as pip does (through truststore:
    a TLS-inspecting proxy's CA installed on the machine works under cron too); and the
    client certificate to present (``--client-cert``, a PEM with its key)."""

    cafile: str | None = None
    client_cert: str | None = None


_trust: Trust | None = None  # set by configure_tls; the environment's until then


def configure_tls(cafile: str | None = None, client_cert: str | None = None) -> None:
    """Set whom every session of this run trusts (before any session, before the fork)."""
    global _trust
    env = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    _trust = Trust(cafile=cafile or env or None, client_cert=client_cert)


def _current() -> Trust:
    if _trust is None:
        configure_tls()
    assert _trust is not None
    return _trust


def tls_context() -> ssl.SSLContext:
    """The TLS context every session of this process shares, built once."""
    return _tls_context(_current())


@functools.lru_cache(maxsize=4)
def _tls_context(trust: Trust) -> ssl.SSLContext:
    try:
        if trust.cafile is not None:
            context = ssl.create_default_context(cafile=trust.cafile)
        else:
            context = _system_context()
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot load the CA certificates {trust.cafile}: {exc}") from None
    if trust.client_cert is not None:
        try:
            context.load_cert_chain(trust.client_cert)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(
                f"cannot load the client certificate {trust.client_cert}: {exc}"
            ) from None
    return context


def _system_context() -> ssl.SSLContext:
    try:
        import truststore
    except ImportError:  # pragma: no cover - a dependency; certifi's bundle then
        return ssl.create_default_context(cafile=requests.utils.DEFAULT_CA_BUNDLE_PATH)
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class _SharedTLSAdapter(HTTPAdapter):
    """An adapter whose connections share the process's TLS context, its CA bundle loaded
    once.

    requests hands the CA bundle's path to every new connection, which parses the whole
    bundle again: about 40 ms of CPU each, most of a second for a run's connections.
    The trust is the run's (:func:`configure_tls`); a request that names another bundle
    is left to requests.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.cafile = _current().cafile or requests.utils.DEFAULT_CA_BUNDLE_PATH
        self.context = tls_context()
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self.context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if verify is True or verify == self.cafile:
            conn.ca_certs = None  # already in self.context
            conn.ca_cert_dir = None


def make_session(workers: int) -> requests.Session:
    """One pooled session for every thread: never mutated after this function returns."""
    session = requests.Session()
    adapter = _SharedTLSAdapter(pool_connections=4, pool_maxsize=max(workers, 1), pool_block=True)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.verify = _current().cafile or True  # else requests puts REQUESTS_CA_BUNDLE first
    session.hooks["response"].append(_no_downgrade)
    return session


def _no_downgrade(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Refuse a redirect from https to plain http: the hashes that come over it would be
    anyone's on the path (pip and uv follow it; a mirror should not)."""
    if not response.is_redirect or not response.request.url:
        return
    target = requests.compat.urljoin(response.url, response.headers.get("Location", ""))
    if response.request.url.startswith("https://") and target.lower().startswith("http://"):
        response.close()
        raise UpstreamError(
            f"{redact(response.request.url)} redirects to plain http ({redact(target)}): refused"
        )


def _wait(state: RetryCallState) -> float:
    """Honour ``Retry-After`` (seconds form) on 429/503, else exponential backoff with jitter."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryableStatus) and exc.retry_after and exc.retry_after.isdigit():
        return min(float(exc.retry_after), MAX_RETRY_AFTER)
    backoff = wait_exponential(multiplier=0.5, max=30) + wait_random(0, 1)
    return float(backoff(state))


def default_retrying(attempts: int = 5) -> Retrying:
    return Retrying(
        stop=stop_after_attempt(attempts),
        wait=_wait,
        # a certificate error will not mend itself: fail at once, with a hint
        retry=retry_if_exception_type(TRANSIENT)
        & retry_if_not_exception_type(requests.exceptions.SSLError),
        reraise=True,
    )


def _reason(exc: BaseException | None) -> str:
    """A few words on why a request failed, found along the exception's causes."""
    if isinstance(exc, RetryableStatus):
        return f"HTTP {exc.status}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, (ConnectionBroken, requests.exceptions.ChunkedEncodingError)):
        return "connection broken"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    seen = exc
    while seen is not None:
        if isinstance(seen, NameResolutionError):
            return "cannot resolve host"
        if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
            return "connection refused"
        seen = seen.__cause__ or seen.__context__ or _first_arg_exception(seen)
    return "connection failed"


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    # requests wraps urllib3's MaxRetryError as an argument, not as a cause
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return reason if isinstance(reason, BaseException) else None


def check_status(response: requests.Response, url: str) -> None:
    """Raise :class:`RetryableStatus` or :class:`UpstreamError` for a non-2xx response."""
    code = response.status_code
    if code < 400:
        return
    response.close()
    if code in RETRY_STATUS:
        raise RetryableStatus(url, code, response.headers.get("Retry-After"))
    if code in (401, 403):
        raise UpstreamError(
            f"HTTP {code} from {redact(url)}: credentials missing or refused",
            hint="put credentials in ~/.netrc or in the index URL",
        )
    raise UpstreamError(f"HTTP {code} from {redact(url)}")


@contextmanager
def translated(url: str, timeout: float) -> Iterator[None]:
    """Turn what requests raises (after the retries ran out) into one-line upstream errors."""
    try:
        yield
    except RetryableStatus as exc:
        raise UpstreamError(f"{exc} (gave up after retries)") from None
    except requests.Timeout:
        raise UpstreamError(f"timed out after {timeout:g}s: {redact(url)}") from None
    except (ConnectionBroken, requests.exceptions.ChunkedEncodingError):
        raise UpstreamError(f"connection broken while reading {redact(url)}") from None
    except requests.exceptions.SSLError:
        raise UpstreamError(
            f"TLS verification failed for {redact(url)}",
            hint="for a private CA, install it in the system trust store or pass --cert "
            "CA.pem; a server that wants a client certificate: --client-cert",
        ) from None
    except requests.ConnectionError as exc:
        raise UpstreamError(f"{_reason(exc)}: {redact(url)}") from None
    except requests.RequestException as exc:
        raise UpstreamError(f"{type(exc).__name__} fetching {redact(url)}") from None


def _log_retry(url: str) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        # -v: the one error line after the retries is what a person needs to read
        log.debug(
            "%s: %s; retrying (attempt %d)", redact(url), _reason(exc), state.attempt_number + 1
        )

    return log_it


@dataclass(frozen=True, slots=True, kw_only=True)
class RawPage:
    """A project page as it came over the wire, and what revalidates it (RFC 9110)."""

    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    serial: str | None = None  # X-PyPI-Last-Serial: PyPI's change counter for the project


class Upstream:
    """Project pages from one or more indexes, first index that has the project wins.

    First-index semantics (uv's default) keep an extra index from shadowing a project of
    the main one: the guard against dependency confusion.
    """

    def __init__(
        self,
        session: requests.Session,
        indexes: Sequence[str],
        *,
        timeout: float = 30.0,
        retrying: Callable[[], Retrying] = default_retrying,
        max_file_size: int = DEFAULT_MAX_FILE,
    ) -> None:
        self.session = session
        self.indexes = tuple(indexes)
        self.timeout = timeout
        self.retrying = retrying
        self.max_file_size = max_file_size  # for files whose size the page does not give

    def call(self, url: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` under the retry policy with errors translated for ``url``; every
        request is a log line at ``-vv`` (:data:`TRACE`)."""
        started = time.monotonic()
        with translated(url, self.timeout):
            answer = self.retrying().copy(before_sleep=_log_retry(url))(fn)
        log.log(TRACE, "GET %s (%.2fs)", redact(url), time.monotonic() - started)
        return answer

    def document(self, url: str, *, limit: int = 50 << 20) -> bytes:
        """The body of ``url`` (a requirements or constraints file), at most ``limit`` bytes."""

        def attempt() -> bytes:
            with self.session.get(url, timeout=self.timeout, stream=True) as response:
                check_status(response, url)
                return read_body(response, url, self.timeout, limit)

        return self.call(url, attempt)

    def project_page(
        self,
        name: NormalizedName,
        stored: RawPage | None = None,
        fetched: tuple[RawPage, str] | None = None,
    ) -> tuple[ProjectPage, RawPage]:
        """The page of ``name`` and its raw form. With a ``stored`` copy the request is
        conditional, and a 304 answer reuses it (the raw form returned is then ``stored``);
        ``fetched`` (from :meth:`fetch_raw`) skips the request."""
        raw, final_url = fetched or self.fetch_raw(name, stored)
        return parse_page(raw.body, raw.content_type, url=final_url, project=name), raw

    def fetch_raw(self, name: NormalizedName, stored: RawPage | None = None) -> tuple[RawPage, str]:
        """The page of ``name`` as bytes, and its final URL, from the first index with it."""
        for index in self.indexes:
            try:
                return self._fetch_raw(project_url(index, name), name, stored)
            except ProjectNotFound:
                continue
        where = ", ".join(redact(i) for i in self.indexes)
        odd = [i for i in self.indexes if "simple" not in urlsplit(i).path.lower()]
        hint = (
            f"is {redact(odd[0])} a simple index? they end in /simple/ (PyPI's: "
            "https://pypi.org/simple/)"
            if odd
            else None
        )
        raise ProjectNotFound(f"project {name} not found on {where}", hint=hint)

    def _fetch_raw(
        self, url: str, name: NormalizedName, stored: RawPage | None
    ) -> tuple[RawPage, str]:
        headers = {"Accept": ACCEPT}
        if stored is not None and stored.etag:
            headers["If-None-Match"] = stored.etag
        if stored is not None and stored.last_modified:
            headers["If-Modified-Since"] = stored.last_modified

        def attempt() -> tuple[RawPage, str]:
            with self.session.get(
                url, headers=headers, timeout=self.timeout, stream=True
            ) as response:
                if response.status_code == 404:
                    raise ProjectNotFound(f"project {name} not found on {redact(url)}")
                if response.status_code == 304 and stored is not None:
                    return stored, response.url
                check_status(response, url)
                body = read_body(response, url, self.timeout, MAX_PAGE_BYTES)
                raw = RawPage(
                    body=body,
                    content_type=response.headers.get("Content-Type", ""),
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                    serial=response.headers.get("X-PyPI-Last-Serial"),
                )
                return raw, response.url

        raw, final_url = self.call(url, attempt)
        how = "not modified" if raw is stored else f"{len(raw.body)} bytes"
        log.log(TRACE, "page %s: %s, %s", redact(final_url), how, raw.content_type)
        return raw, final_url
