"""The nginx and Caddy configs (``selmirror serve --print-config``), run by the real servers on
loopback over a mirror the fake index filled: exact statuses and headers for what the
contract of ``selmirror serve`` asks, the differences ``selmirror.serve.configs`` documents,
and real pip and uv installing through each. A server that is not installed is skipped.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakeindex import FakeIndex
from oracles import pip_install_dry_run, uv_compile
from servers import IMMUTABLE, JSON, PIP_ACCEPT, TEXT_HTML, V1_HTML, WHEEL, stop_process

from selmirror.cli import main
from selmirror.errors import InputError
from selmirror.serve import configs, negotiate

VARY = "Accept, Accept-Encoding"
PAGE_CACHE = "max-age=60, must-revalidate"
SECRET = b"not for clients"
KINDS: tuple[configs.Kind, ...] = ("nginx", "caddy")


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # by lower-case name; a repeated header joined with ", "
    body: bytes


@dataclass
class Running:
    kind: str
    process: subprocess.Popen[bytes]
    port: int
    root: Path
    log: Path

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> Response:
        """One request, the path sent exactly as given (no normalization on our side)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
            for key, value in (headers or {}).items():
                conn.putheader(key, value)
            conn.endheaders(b"x" if method in ("POST", "PUT") else None)
            response = conn.getresponse()
            joined: dict[str, str] = {}
            for key, value in response.getheaders():
                key = key.lower()
                joined[key] = f"{joined[key]}, {value}" if key in joined else value
            return Response(response.status, joined, response.read())
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> Response:
        return self.request("GET", path, {k.replace("_", "-"): v for k, v in headers.items()})


# --- the mirror and the servers -------------------------------------------------------------


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror as the project writes it, with the traps a server must not fall into."""
    tmp = tmp_path_factory.mktemp("configs")
    root = tmp / "simple"
    with FakeIndex(page_format="json") as index:
        for version in ("1.0", "2.0"):
            index.add_wheel("alpha", version)
            index.add_sdist("alpha", version)
        index.add_wheel("Typing_Extras", "1.0")  # a non-normalized name
        index.add_wheel("gamma", "1.0+local")  # a "+" in a file name
        code = main(
            ["alpha", "typing-extras", "gamma", "--index", index.url, "--local-folder", str(root)]
        )
    assert code == 0
    assert (root / ".selmirror").is_dir()
    assert (root / ".selmirror.lock").exists()
    (root / ".selmirror-tmp-x").write_bytes(SECRET)
    (root / "alpha" / ".selmirror-tmp-abc").write_bytes(SECRET)
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret-1.0.tar.gz").write_bytes(SECRET)
    (outside / "index.html").write_bytes(SECRET)
    (root / "alpha" / "secret-1.0.tar.gz").symlink_to(outside / "secret-1.0.tar.gz")
    (root / "alpha" / "inside-1.0.tar.gz").symlink_to(root / "alpha" / "alpha-2.0.tar.gz")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(
    kind: configs.Kind, root: Path, tmp: Path, *, prefix: str = "/simple/", page_max_age: int = 60
) -> Running:
    """``kind`` on a free loopback port with the rendered config; returns once it answers."""
    binary = shutil.which(kind)
    if binary is None:
        pytest.skip(
            f"{kind} is not installed: apt-get install nginx-light caddy to test its config"
        )
    for _ in range(3):  # another process may take the free port before the server does
        port = _free_port()
        runtime = tmp / f"{kind}-{port}"
        runtime.mkdir()
        text = configs.render(
            kind,
            root=root,
            prefix=prefix,
            port=port,
            page_max_age=page_max_age,
            runtime_dir=runtime,
        )
        env = dict(os.environ)
        if kind == "nginx":
            conf = runtime / "nginx.conf"
            # as root, nginx's workers would run as nobody, who cannot read pytest's 0700 temp
            directives = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
            command = [binary, "-e", "stderr", "-c", str(conf), "-g", directives]
        else:
            conf = runtime / "Caddyfile"
            command = [binary, "run", "--config", str(conf), "--adapter", "caddyfile"]
            env |= {
                "HOME": str(runtime),
                "XDG_CONFIG_HOME": str(runtime / "config"),
                "XDG_DATA_HOME": str(runtime / "data"),
            }
        conf.write_text(text)
        log = runtime / "server.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        server = Running(kind, process, port, root, log)
        deadline = time.monotonic() + 20
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if server.get("/health").status == 200:
                    return server
            except OSError:
                pass
            time.sleep(0.05)
        stop(server)
        if "address already in use" not in log.read_text().lower():
            raise AssertionError(f"{kind} did not start:\n{log.read_text()}")
    raise AssertionError(f"{kind}: no free port in three tries")


def stop(server: Running) -> int:
    """SIGTERM, then wait; no worker process may outlive the server."""
    return stop_process(server.process, server.kind)


@pytest.fixture(scope="module", params=KINDS)
def server(
    request: pytest.FixtureRequest, mirror: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    running = start(request.param, mirror, tmp_path_factory.mktemp(request.param))
    yield running
    assert stop(running) == 0, running.log.read_text()


# --- negotiation ------------------------------------------------------------------------------

ACCEPTS = [
    None,
    "",
    "*/*",
    PIP_ACCEPT,
    JSON,
    "application/vnd.pypi.simple.latest+json",
    V1_HTML,
    "application/vnd.pypi.simple.latest+html",
    "text/html",
    "text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8",  # a browser
    f"{JSON}; q=0, */*",
    f"text/html; q=0.5, {JSON}; q=0.9",
    f"{JSON}; q=0.2, text/html",
    f"{JSON};q=0.3, text/html;q=0.300",  # a tie: a name beats a name by rank, JSON first
    f"{JSON};q=0.3, text/html;q=0.301",
    f"{JSON};q=0.3, text/*;q=0.3",  # a tie: a name beats a wildcard
    f"{V1_HTML};q=0.3, text/*;q=0.3",
    "*/*;q=0.3, text/*;q=0.2",
    "text/html; q=0, */*; q=0.1",
    "application/*",
    "application/*;q=0.5, text/html;q=0.4",
    f"{JSON};q=0.25, application/vnd.pypi.simple.latest+json;q=0.5, text/html;q=0.3",
    f"application/vnd.pypi.simple.latest+json;q=0.25, {JSON};q=0.5, text/html;q=0.3",
    f"{V1_HTML};q=0.1, application/vnd.pypi.simple.latest+html;q=0.9, {JSON};q=0.5",
    f"{JSON};q=abc, text/html;q=0.1",  # a malformed q drops its range
    f"{JSON};q=1.5, text/html;q=0.1",
    f"{JSON};Q=0.9, text/html;q=0.8",
    f"{JSON} ; q=0.9 , text/html",
    f"text/html;level=1;q=0.5, {JSON};q=0.4",
    "APPLICATION/VND.PYPI.SIMPLE.V1+JSON",
    "application/vnd.pypi.simple.v2+json",  # nothing acceptable: 406
    f"{JSON}; q=0",
    f"{JSON}; q=0, {V1_HTML}; q=0, text/html; q=0",
    "image/png, application/json",
    "text/*;q=0, application/*;q=0",
]


def _expected(choice: negotiate.Choice | None) -> tuple[int, str | None, str | None]:
    """(status, Content-Type, page file) that ``selmirror serve`` answers for ``choice``."""
    if choice is None:
        return 406, None, None
    page = "index.v1_json" if choice.representation == "json" else "index.html"
    content_type = TEXT_HTML if choice.content_type == "text/html" else choice.content_type
    return 200, content_type, page


def test_pages_are_negotiated_as_selmirror_serve_does(server: Running) -> None:
    wrong = []
    for accept in ACCEPTS:
        status, content_type, page = _expected(negotiate.choose(accept))
        for path, folder in (("/simple/alpha/", server.root / "alpha"), ("/simple/", server.root)):
            got = server.request("GET", path, {} if accept is None else {"Accept": accept})
            seen = (got.status, got.headers.get("content-type"), got.headers.get("vary"))
            if seen != (status, content_type or seen[1], VARY):
                wrong.append(f"{path} Accept: {accept!r}: {seen}, expected {status} {content_type}")
            elif page is not None and got.body != (folder / page).read_bytes():
                wrong.append(f"{path} Accept: {accept!r}: not the body of {page}")
    assert not wrong, "\n".join(wrong)


def test_pip_and_uv_accept_header_gets_json(server: Running) -> None:
    got = server.get("/simple/alpha/", Accept=PIP_ACCEPT)
    assert (got.status, got.headers["content-type"]) == (200, JSON)
    assert json.loads(got.body)["name"] == "alpha"


@pytest.mark.parametrize(
    ("query", "status", "content_type"),
    [
        (f"?format={JSON}", 200, JSON),
        ("?format=application/vnd.pypi.simple.v1%2Bjson", 200, JSON),
        ("?format=application/vnd.pypi.simple.latest+json", 200, JSON),
        (f"?format={V1_HTML}", 200, V1_HTML),
        ("?format=text/html", 200, TEXT_HTML),
        ("?x=1&format=text/html", 200, TEXT_HTML),
        ("?format=application/json", 406, "text/plain; charset=utf-8"),
        ("?format=", 406, "text/plain; charset=utf-8"),
        ("?xformat=text/html", 200, JSON),  # not the parameter: Accept decides
    ],
)
def test_the_format_parameter_overrides_accept(
    server: Running, query: str, status: int, content_type: str
) -> None:
    got = server.get("/simple/alpha/" + query, Accept=JSON)
    assert (got.status, got.headers["content-type"]) == (status, content_type)
    assert got.headers["vary"] == VARY


def test_nothing_acceptable_is_406_with_vary(server: Running) -> None:
    for path in ("/simple/", "/simple/alpha/"):
        got = server.get(path, Accept="application/vnd.pypi.simple.v2+json")
        assert got.status == 406
        assert got.headers["vary"] == VARY
        assert "cache-control" not in got.headers
        assert JSON.encode() in got.body
    head = server.request("HEAD", "/simple/alpha/", {"Accept": f"{JSON}; q=0"})
    assert (head.status, head.headers["vary"], head.body) == (406, VARY, b"")
    missing = server.get("/simple/nothere/", Accept=JSON)
    assert (missing.status, missing.headers["vary"]) == (404, VARY)
    assert "cache-control" not in missing.headers


@pytest.mark.parametrize(
    ("accept", "serve", "ours"),
    [
        # a range named twice: serve takes its higher q, the configs its first
        (f"{JSON};q=0.1, text/html;q=0.5, {JSON};q=0.9", JSON, TEXT_HTML),
        # only malformed ranges: serve ignores the header, the configs find nothing in it
        ("a/b/c", TEXT_HTML, None),
    ],
)
def test_documented_negotiation_differences(
    server: Running, accept: str, serve: str, ours: str | None
) -> None:
    assert _expected(negotiate.choose(accept))[1] == serve
    got = server.get("/simple/alpha/", Accept=accept)
    assert got.status == (406 if ours is None else 200)
    if ours is not None:
        assert got.headers["content-type"] == ours


# --- caching and encoding ---------------------------------------------------------------------


def test_pages_carry_validators_and_answer_304(server: Running) -> None:
    got = server.get("/simple/alpha/", Accept=JSON)
    assert got.status == 200
    assert got.headers["cache-control"] == PAGE_CACHE
    assert got.headers["vary"] == VARY
    etag, modified = got.headers["etag"], got.headers["last-modified"]
    assert etag.startswith('"')
    assert server.get("/simple/alpha/", Accept="text/html").headers["etag"] != etag
    cached = server.get("/simple/alpha/", Accept=JSON, If_None_Match=etag)
    assert (cached.status, cached.body) == (304, b"")
    assert cached.headers["etag"] == etag
    assert cached.headers["vary"] == VARY
    assert cached.headers["cache-control"] == PAGE_CACHE
    assert server.get("/simple/alpha/", Accept=JSON, If_None_Match=f'W/{etag}, "x"').status == 304
    assert server.get("/simple/alpha/", Accept=JSON, If_None_Match='"other"').status == 200
    assert server.get("/simple/alpha/", Accept=JSON, If_Modified_Since=modified).status == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert server.get("/simple/alpha/", Accept=JSON, If_Modified_Since=old).status == 200
    head = server.request("HEAD", "/simple/alpha/", {"Accept": JSON})
    assert (head.status, head.body, head.headers["etag"]) == (200, b"", etag)
    assert head.headers["content-type"] == JSON


def test_pages_are_gzipped_when_asked(server: Running) -> None:
    page = (server.root / "alpha" / "index.v1_json").read_bytes()
    assert len(page) > 256
    got = server.get("/simple/alpha/", Accept=JSON, Accept_Encoding="gzip, br")
    assert got.status == 200
    assert got.headers["content-encoding"] == "gzip"
    assert got.headers["vary"] == VARY  # one Vary header, not the server's own added to ours
    assert gzip.decompress(got.body) == page
    plain = server.get("/simple/alpha/", Accept=JSON)
    assert "content-encoding" not in plain.headers
    if server.kind == "nginx":
        assert got.headers["etag"] == "W/" + plain.headers["etag"]
    else:  # documented: Caddy 2.6 keeps the file's ETag for both encodings
        assert got.headers["etag"] == plain.headers["etag"]
    refused = server.get("/simple/alpha/", Accept=JSON, Accept_Encoding="gzip;q=0")
    assert "content-encoding" not in refused.headers
    anything = server.get("/simple/alpha/", Accept=JSON, Accept_Encoding="*")
    assert "content-encoding" not in anything.headers  # documented: serve would gzip
    tiny = server.get("/simple/", Accept=JSON, Accept_Encoding="gzip")  # would grow
    assert "content-encoding" not in tiny.headers
    again = server.get(
        "/simple/alpha/", Accept=JSON, Accept_Encoding="gzip", If_None_Match=got.headers["etag"]
    )
    assert (again.status, again.headers["vary"]) == (304, VARY)


def test_files_have_long_caching_ranges_and_304(server: Running) -> None:
    wheel = (server.root / "alpha" / WHEEL).read_bytes()
    got = server.get(f"/simple/alpha/{WHEEL}")
    assert (got.status, got.body) == (200, wheel)
    assert got.headers["cache-control"] == IMMUTABLE
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-length"] == str(len(wheel))
    assert "vary" not in got.headers
    assert "last-modified" in got.headers
    head = server.request("HEAD", f"/simple/alpha/{WHEEL}")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["content-length"] == str(len(wheel))
    assert head.headers["etag"] == got.headers["etag"]
    part = server.get(f"/simple/alpha/{WHEEL}", Range="bytes=10-19")
    assert (part.status, part.body) == (206, wheel[10:20])
    assert part.headers["content-range"] == f"bytes 10-19/{len(wheel)}"
    tail = server.get(f"/simple/alpha/{WHEEL}", Range="bytes=-8")
    assert (tail.status, tail.body) == (206, wheel[-8:])  # uv reads a wheel's tail first
    bad = server.get(f"/simple/alpha/{WHEEL}", Range=f"bytes={len(wheel) + 5}-")
    assert bad.status == 416
    assert bad.headers["content-range"] == f"bytes */{len(wheel)}"
    cached = server.get(f"/simple/alpha/{WHEEL}", If_None_Match=got.headers["etag"])
    assert (cached.status, cached.body) == (304, b"")
    assert cached.headers["cache-control"] == IMMUTABLE
    since = got.headers["last-modified"]
    assert server.get(f"/simple/alpha/{WHEEL}", If_Modified_Since=since).status == 304
    meta = server.get(f"/simple/alpha/{WHEEL}.metadata")
    assert (meta.status, meta.body) == (
        200,
        (server.root / "alpha" / f"{WHEEL}.metadata").read_bytes(),
    )
    assert meta.headers["cache-control"] == IMMUTABLE
    assert meta.headers["content-type"] == "application/octet-stream"


def test_filenames_are_served_literally(server: Running) -> None:
    [wheel] = (server.root / "gamma").glob("*.whl")
    assert "+" in wheel.name
    for name in (wheel.name, wheel.name.replace("+", "%2B")):
        got = server.get(f"/simple/gamma/{name}")
        assert (got.status, got.body) == (200, wheel.read_bytes()), name
    [upper] = (server.root / "typing-extras").glob("*.whl")
    assert upper.name.startswith("Typing_Extras-")
    assert server.get(f"/simple/typing-extras/{upper.name}").status == 200
    assert server.get(f"/simple/typing-extras/{upper.name.lower()}").status == 404


# --- names, methods, health -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/simple/alpha", "/simple/alpha/"),
        ("/simple/typing-extras", "/simple/typing-extras/"),
        ("/simple/alpha?format=text/html&x=%2B", "/simple/alpha/?format=text/html&x=%2B"),
        ("/simple", "/simple/"),
        ("/simple?x=1", "/simple/?x=1"),
    ],
)
def test_a_url_without_its_slash_redirects(server: Running, path: str, location: str) -> None:
    got = server.get(path)
    assert (got.status, got.headers["location"]) == (301, location)


@pytest.mark.parametrize(
    "path",
    [
        "/simple/.selmirror/",
        "/simple/.selmirror",
        "/simple/.selmirror/last-run.json",
        "/simple/.selmirror.lock",
        "/simple/.selmirror-tmp-x",
        "/simple/alpha/.selmirror-tmp-abc",
        "/simple/index.html",
        "/simple/index.v1_json",
        "/simple/alpha/index.html",
        "/simple/alpha/index.v1_json",
        "/simple/alpha/alpha-2.0.tar.gz.metadata",
        "/simple/nothere/",
        "/simple/nothere/nothere-1.0.tar.gz",
        "/simple/alpha/sub/alpha-2.0.tar.gz",
        "/simple/alpha/alpha-2.0.tar.gz/",
        "/etc/passwd",
        "/",
        "/ready",
        "/simple/../etc/passwd",
        "/simple/../outside/secret-1.0.tar.gz",
        "/simple/alpha/../../outside/secret-1.0.tar.gz",
        "/simple/%2e%2e/",
        "/simple/%2e%2e/outside/secret-1.0.tar.gz",
        "/simple/alpha/%2e%2e%2f..",
        "/simple/alpha/%2e%2e%2f%2e%2e%2foutside/secret-1.0.tar.gz",
        "/simple/alpha/..%2F..%2Foutside%2Fsecret-1.0.tar.gz",
        "/simple/alpha%2F..%2F..%2Foutside%2Fsecret-1.0.tar.gz",
    ],
)
def test_internal_state_and_anything_outside_the_tree_is_404(server: Running, path: str) -> None:
    got = server.get(path)
    assert got.status == 404, path
    assert SECRET not in got.body
    assert b"root:" not in got.body


@pytest.mark.parametrize(
    ("path", "nginx", "caddy"),
    [
        # paths that climb above / and encoded NULs: nginx refuses them as bad requests
        ("/simple/../../etc/passwd", 400, 404),
        ("/simple/alpha/%00alpha-2.0.tar.gz", 400, 404),
        # non-normalized project names: no lower-casing in either config language (serve: 301)
        ("/simple/Typing_Extras/", 404, 404),
        ("/simple/typing.extras/", 404, 404),
        ("/simple/ALPHA", 404, 404),
        ("/simple/Alpha/" + WHEEL, 404, 404),
        # both servers resolve dot segments and %2F before routing (serve: 404)
        ("/simple/nothere/../alpha/", 200, 200),
        ("/simple/alpha/.", 200, 301),  # Caddy cleans it to /simple/alpha
        ("/simple/alpha%2F" + WHEEL, 200, 200),
        # Caddy also merges doubled slashes (serve and nginx: 404)
        ("/simple//alpha/", 404, 200),
        # symlinks: nginx follows none below the mirror, Caddy 2.6 follows all, even out of
        # the tree (serve: only those that stay inside): keep the tree free of symlinks
        ("/simple/alpha/inside-1.0.tar.gz", 404, 200),
        ("/simple/alpha/secret-1.0.tar.gz", 404, 200),
        ("/simple/linked/", 404, 200),
    ],
)
def test_documented_differences_from_serve(
    server: Running, path: str, nginx: int, caddy: int
) -> None:
    got = server.get(path)
    assert got.status == {"nginx": nginx, "caddy": caddy}[server.kind], path
    if got.status != 200:
        assert SECRET not in got.body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/"),
        ("POST", "/simple/"),
        ("POST", "/simple"),
        ("PUT", "/simple/alpha/"),
        ("DELETE", f"/simple/alpha/{WHEEL}"),
        ("OPTIONS", "/simple/alpha/"),
    ],
)
def test_writes_are_405(server: Running, method: str, path: str) -> None:
    got = server.request(method, path)
    assert got.status == 405
    assert got.headers["allow"] == "GET, HEAD"


def test_health(server: Running) -> None:
    got = server.get("/health")
    assert got.status == 200
    assert got.headers["content-type"] == "application/json"
    assert json.loads(got.body) == {"status": "ok"}


# --- pip and uv through the servers -----------------------------------------------------------


def test_pip_and_uv_resolve_through_the_server(server: Running, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{server.port}/simple/"
    requirements = ["alpha==2.0", "typing-extras", "gamma"]
    with ThreadPoolExecutor(2) as pool:
        pip_run = pool.submit(pip_install_dry_run, url, requirements, tmp_path / "pip")
        uv_run = pool.submit(uv_compile, url, requirements, tmp_path / "uv")
        pip, uv = pip_run.result(timeout=120), uv_run.result(timeout=120)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert "alpha-2.0" in pip.stdout
    assert "gamma-1.0+local" in pip.stdout
    assert uv.returncode == 0, uv.stdout + uv.stderr
    for pin in ("alpha==2.0", "gamma==1.0+local", "typing-extras==1.0"):
        assert pin in uv.stdout, uv.stdout


# --- another prefix ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_another_prefix_and_page_max_age(kind: configs.Kind, mirror: Path, tmp_path: Path) -> None:
    server = start(kind, mirror, tmp_path, prefix="/pypi/simple/", page_max_age=5)
    try:
        got = server.get("/pypi/simple/alpha/", Accept=PIP_ACCEPT)
        assert (got.status, got.headers["content-type"]) == (200, JSON)
        assert got.headers["cache-control"] == "max-age=5, must-revalidate"
        assert server.get(f"/pypi/simple/alpha/{WHEEL}").status == 200
        assert server.get("/pypi/simple").headers["location"] == "/pypi/simple/"
        assert server.get("/pypi/simple/alpha").headers["location"] == "/pypi/simple/alpha/"
        assert server.get("/simple/").status == 404
        assert server.get(f"/simple/alpha/{WHEEL}").status == 404
    finally:
        assert stop(server) == 0


# --- rendering --------------------------------------------------------------------------------


def test_render_fills_every_placeholder(tmp_path: Path) -> None:
    for kind in KINDS:
        for prefix in ("/simple/", "/", "/a.b/c-d/"):
            text = configs.render(kind, root=tmp_path, prefix=prefix, port=8081)
            assert "@@" not in text
            assert str(tmp_path.resolve()) in text
            assert "8081" in text
    nginx = configs.render("nginx", root=tmp_path)
    assert "pid /run/nginx.pid;" in nginx  # Debian's defaults without a runtime_dir
    assert "listen 127.0.0.1:8080;" in nginx
    assert "listen [::1]:8080;" in configs.render("nginx", root=tmp_path, host="::1")
    caddy = configs.render("caddy", root=tmp_path, runtime_dir=tmp_path)
    assert "admin off" in caddy
    assert "admin off" not in configs.render("caddy", root=tmp_path)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
@pytest.mark.parametrize("prefix", ["/", "/a.b/c-d~/"])
def test_nginx_takes_the_config_for_any_prefix(prefix: str, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(configs.render("nginx", root=tmp_path, prefix=prefix, runtime_dir=tmp_path))
    nginx = shutil.which("nginx")
    assert nginx is not None
    proc = subprocess.run(
        [nginx, "-t", "-e", "stderr", "-c", str(conf)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
@pytest.mark.parametrize("prefix", ["/", "/a.b/c-d~/"])
def test_caddy_takes_the_config_for_any_prefix(prefix: str, tmp_path: Path) -> None:
    conf = tmp_path / "Caddyfile"
    conf.write_text(configs.render("caddy", root=tmp_path, prefix=prefix, runtime_dir=tmp_path))
    caddy = shutil.which("caddy")
    assert caddy is not None
    env = dict(
        os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path)
    )
    proc = subprocess.run(
        [caddy, "validate", "--config", str(conf), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "apache"}, "no config for 'apache'"),
        ({"prefix": "simple/"}, "must start and end with '/'"),
        ({"prefix": "/simple"}, "must start and end with '/'"),
        ({"prefix": "/sim ple/"}, "is not a plain URL path"),
        ({"prefix": '/a"b/'}, "is not a plain URL path"),
        ({"prefix": "/a;b/"}, "is not a plain URL path"),
        ({"prefix": "/a{b}/"}, "is not a plain URL path"),
        ({"prefix": "/$uri/"}, "is not a plain URL path"),
        ({"prefix": "/../"}, "is not a plain URL path"),
        ({"prefix": "//"}, "is not a plain URL path"),
        ({"root": Path("/srv/my mirror")}, "a config cannot take unquoted"),
        ({"root": Path("/srv/a;b")}, "a config cannot take unquoted"),
        ({"root": Path("/")}, "not an absolute path below /"),
        ({"port": 0}, "is not a port number"),
        ({"port": 65536}, "is not a port number"),
        ({"host": "localhost; evil"}, "is not a host name"),
        ({"page_max_age": -1}, "is not a number of seconds"),
    ],
)
def test_render_refuses_what_a_config_cannot_take(
    arguments: dict[str, Any], message: str, tmp_path: Path
) -> None:
    values: dict[str, Any] = {"kind": "nginx", "root": tmp_path} | arguments
    kind = values.pop("kind")
    with pytest.raises(InputError) as raised:
        configs.render(kind, **values)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
