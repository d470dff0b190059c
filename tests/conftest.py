"""Shared fixtures: the fake index, and a guard that keeps the default run off the network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fakeindex import FakeIndex

_LOCAL_NAMES = {"localhost", "localhost.", "ip6-localhost", "ip6-loopback"}


class NetworkGuardError(RuntimeError):
    """A test tried to leave the machine. Not an OSError, so no retry loop can swallow it."""


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 scope id
    except ValueError:
        return False  # a name other than localhost would need DNS
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class NetworkGuard:
    """Refuses non-loopback connects and DNS lookups; remembers every refusal."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def check_address(self, family: int, address: Any) -> None:
        if family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if not _is_loopback(host):
            self._refuse(f"connect to {address!r}")

    def check_lookup(self, host: Any) -> None:
        if host not in (None, "", b"") and not _is_loopback(host):
            self._refuse(f"getaddrinfo({host!r})")

    def _refuse(self, what: str) -> None:
        self.blocked.append(what)
        raise NetworkGuardError(
            f"network access refused in tests: {what} (mark the test with @pytest.mark.live)"
        )


@pytest.fixture(autouse=True)
def network_guard(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[NetworkGuard]:
    """Fail any test (not marked `live`) that tries to reach beyond 127.0.0.0/8, ::1 or unix
    sockets. The attempt raises at once, and the test also fails at teardown in case the
    error was caught and swallowed on the way up."""
    guard = NetworkGuard()
    if request.node.get_closest_marker("live") is not None:
        yield guard
        return

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        guard.check_address(self.family, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard.check_address(self.family, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check_lookup(host)
        return real_getaddrinfo(host, *args, **kwargs)

    # socket.create_connection and urllib3 go through getaddrinfo and socket.connect.
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    if guard.blocked:
        pytest.fail(f"test attempted network access: {guard.blocked}")


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    """A started fake index serving JSON (PEP 691) pages."""
    with FakeIndex(page_format="json") as index:
        yield index
    assert index.errors == [], "the fake index itself raised"


@pytest.fixture(params=["json", "html"])
def any_index(request: pytest.FixtureRequest) -> Iterator[FakeIndex]:
    """A started fake index, once serving JSON pages and once HTML (PEP 503) pages."""
    with FakeIndex(page_format=request.param) as index:
        yield index
    assert index.errors == [], "the fake index itself raised"
