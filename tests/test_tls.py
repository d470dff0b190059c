"""TLS stays verified with the shared context: a self-signed server is refused unless its
certificate is trusted: by the system's trust store, --cert, or REQUESTS_CA_BUNDLE; a
server that wants a client certificate gets --client-cert; a certificate error is said
once, not retried."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from selmirror import upstream
from selmirror.errors import UpstreamError
from selmirror.upstream import Upstream, configure_tls, make_session


@pytest.fixture(autouse=True)
def fresh_trust(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test decides whom TLS trusts; none inherits the machine's settings."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(upstream, "_trust", None)
    upstream._tls_context.cache_clear()
    yield
    upstream._tls_context.cache_clear()


def _openssl_pair(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Counting(ThreadingHTTPServer):
    accepted = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        self.accepted += 1
        return super().get_request()


def _serve(tmp_path: Path, client_ca: Path | None = None) -> Iterator[tuple[str, Path, _Counting]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = _openssl_pair(tmp_path, "server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server = _Counting(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_port}/", cert, server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    for url, cert, _ in _serve(tmp_path):
        yield url, cert


def test_self_signed_server_is_refused(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = https_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with make_session(2) as session, pytest.raises(requests.exceptions.SSLError):
        session.get(url, timeout=5)


def test_server_trusted_through_requests_ca_bundle(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = https_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    with make_session(2) as session:
        for _ in range(3):  # a kept-alive connection and new ones alike
            with session.get(url, timeout=5) as response:
                assert response.text == "ok"


def test_the_system_trust_store_is_used(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CA installed on the machine (OpenSSL's default paths) works with no option."""
    url, cert = https_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with make_session(2) as session, session.get(url, timeout=5) as response:
        assert response.text == "ok"


def test_cert_option_wins_over_the_environment(
    https_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = https_server
    other, _ = _openssl_pair(tmp_path, "other")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    configure_tls(str(cert))
    with make_session(2) as session, session.get(url, timeout=5) as response:
        assert response.text == "ok"


def test_a_client_certificate_for_a_server_that_wants_one(tmp_path: Path) -> None:
    client_cert, client_key = _openssl_pair(tmp_path, "client")
    pem = tmp_path / "client.pem"
    pem.write_bytes(client_cert.read_bytes() + client_key.read_bytes())
    for url, cert, _ in _serve(tmp_path, client_ca=client_cert):
        configure_tls(str(cert))
        with make_session(1) as session, pytest.raises(requests.exceptions.ConnectionError):
            session.get(url, timeout=5)
        upstream._tls_context.cache_clear()
        configure_tls(str(cert), str(pem))
        with make_session(1) as session, session.get(url, timeout=5) as response:
            assert response.text == "ok"


def test_a_certificate_error_is_said_once_with_a_hint(tmp_path: Path) -> None:
    for url, _, server in _serve(tmp_path):
        client = Upstream(make_session(1), [url], timeout=5)
        with pytest.raises(UpstreamError) as info:
            client.document(url + "req.txt")
        assert info.value.message.startswith("TLS verification failed for https://127.0.0.1:")
        assert info.value.hint is not None
        assert "--cert" in info.value.hint
        assert server.accepted == 1  # not retried


def test_an_unreadable_certificate_is_one_line(tmp_path: Path) -> None:
    configure_tls(str(tmp_path / "missing.pem"))
    with pytest.raises(Exception, match=r"^cannot load the CA certificates .*missing.pem"):
        upstream.tls_context()
