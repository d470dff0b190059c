"""``selmirror serve`` as users run it: a real server process on loopback over a mirror the
fake index filled, then HTTP requests with exact statuses and headers, and real pip and uv.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeindex import FakeIndex
from oracles import clean_env, pip_install_dry_run, uv_compile
from servers import (
    IMMUTABLE,
    JSON,
    PIP_ACCEPT,
    TEXT_HTML,
    V1_HTML,
    WHEEL,
    Server,
    build_mirror,
    children,
    start_server,
    stop,
)
from uv import find_uv_bin

from selmirror import index_writer
from selmirror.cli import main


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    root = tmp / "simple"
    with FakeIndex(page_format="json") as index:
        build_mirror(index, root)
    (root / "alpha" / ".selmirror-tmp-abc").write_bytes(b"half a file")
    outside = tmp / "secret-1.0.tar.gz"
    outside.write_bytes(b"not for clients")
    (root / "alpha" / "secret-1.0.tar.gz").symlink_to(outside)
    (root / "alpha" / "inside-1.0.tar.gz").symlink_to(root / "alpha" / "alpha-2.0.tar.gz")
    server = start_server(root, tmp / "server.log")
    yield server
    assert stop(server) == 0


# --- negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "content_type", "page"),
    [
        (None, TEXT_HTML, "index.html"),
        ("*/*", TEXT_HTML, "index.html"),
        (PIP_ACCEPT, JSON, "index.v1_json"),
        (JSON, JSON, "index.v1_json"),
        ("application/vnd.pypi.simple.latest+json", JSON, "index.v1_json"),
        (V1_HTML, V1_HTML, "index.html"),
        ("application/vnd.pypi.simple.latest+html", V1_HTML, "index.html"),
        ("text/html", TEXT_HTML, "index.html"),
        (f"{JSON}; q=0, */*", TEXT_HTML, "index.html"),
        (f"text/html; q=0.5, {JSON}; q=0.9", JSON, "index.v1_json"),
        (f"{JSON}; q=0.2, text/html", TEXT_HTML, "index.html"),
        ("text/html; q=0, */*; q=0.1", JSON, "index.v1_json"),
        ("application/*", JSON, "index.v1_json"),
    ],
)
def test_pages_are_negotiated_by_accept_with_q_values(
    served: Server, accept: str | None, content_type: str, page: str
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    for path, folder in (("/simple/alpha/", served.root / "alpha"), ("/simple/", served.root)):
        status, got, body = served.request("GET", path, headers)
        assert status == 200
        assert got["content-type"] == content_type
        assert got["vary"] == "Accept, Accept-Encoding"
        assert body == (folder / page).read_bytes()


@pytest.mark.parametrize(
    "accept",
    [
        "application/vnd.pypi.simple.v2+json",
        f"{JSON}; q=0",
        f"{JSON}; q=0, {V1_HTML}; q=0, text/html; q=0",
        "image/png, application/json",
    ],
)
def test_an_acceptable_set_it_cannot_meet_is_406_with_vary(served: Server, accept: str) -> None:
    status, got, body = served.get("/simple/alpha/", Accept=accept)
    assert status == 406
    assert got["vary"] == "Accept, Accept-Encoding"
    assert JSON.encode() in body


@pytest.mark.parametrize(
    ("query", "status", "content_type"),
    [
        (f"?format={JSON}", 200, JSON),
        ("?format=application/vnd.pypi.simple.v1%2Bjson", 200, JSON),
        (f"?format={V1_HTML}", 200, V1_HTML),
        ("?format=text/html", 200, TEXT_HTML),
        ("?format=application/json", 406, "text/plain; charset=utf-8"),
    ],
)
def test_the_format_parameter_overrides_accept(
    served: Server, query: str, status: int, content_type: str
) -> None:
    got_status, got, _ = served.get("/simple/alpha/" + query, Accept="text/html")
    assert (got_status, got["content-type"]) == (status, content_type)
    assert got["vary"] == "Accept, Accept-Encoding"


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/simple/Typing_Extras/", "/simple/typing-extras/"),
        ("/simple/typing.extras/", "/simple/typing-extras/"),
        ("/simple/alpha", "/simple/alpha/"),
        ("/simple/ALPHA", "/simple/alpha/"),
        ("/simple", "/simple/"),
        (f"/simple/Alpha/{WHEEL}", f"/simple/alpha/{WHEEL}"),
        ("/simple/Alpha/?format=text/html", "/simple/alpha/?format=text/html"),
    ],
)
def test_names_redirect_to_the_normalized_url(served: Server, path: str, location: str) -> None:
    status, got, _ = served.get(path)
    assert (status, got["location"]) == (301, location)


def test_filenames_are_served_literally(served: Server) -> None:
    [wheel] = (served.root / "gamma").glob("*.whl")
    assert "+" in wheel.name
    encoded = wheel.name.replace("+", "%2B")
    for path in (f"/simple/gamma/{encoded}", f"/simple/gamma/{wheel.name}"):
        status, _, body = served.get(path)
        assert status == 200
        assert body == wheel.read_bytes()
    upper = f"/simple/typing-extras/{next((served.root / 'typing-extras').glob('*.whl')).name}"
    assert "Typing_Extras" in upper
    assert served.get(upper)[0] == 200
    assert served.get(upper.replace("Typing_Extras", "typing_extras"))[0] == 404


# --- caching -------------------------------------------------------------------------------


def test_pages_carry_validators_and_answer_304(served: Server) -> None:
    status, got, _ = served.get("/simple/alpha/", Accept=JSON)
    assert status == 200
    assert got["cache-control"] == "max-age=60, must-revalidate"
    etag, modified = got["etag"], got["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    _, html, _ = served.get("/simple/alpha/", Accept="text/html")
    assert html["etag"] != etag  # per representation
    status, got, body = served.get("/simple/alpha/", Accept=JSON, If_None_Match=etag)
    assert (status, body) == (304, b"")
    assert got["etag"] == etag
    assert got["vary"] == "Accept, Accept-Encoding"
    assert got["cache-control"] == "max-age=60, must-revalidate"
    assert served.get("/simple/alpha/", Accept=JSON, If_None_Match=f'W/{etag}, "x"')[0] == 304
    assert served.get("/simple/alpha/", Accept=JSON, If_None_Match='"other"')[0] == 200
    assert served.get("/simple/alpha/", Accept=JSON, If_Modified_Since=modified)[0] == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert served.get("/simple/alpha/", Accept=JSON, If_Modified_Since=old)[0] == 200
    # a changed page is a new page at once: the cache follows the file
    page = served.root / "alpha" / "index.v1_json"
    saved = page.read_bytes()
    try:
        page.write_bytes(saved.replace(b'"alpha"', b'"alpha" '))
        status, got, body = served.get("/simple/alpha/", Accept=JSON, If_None_Match=etag)
        assert status == 200
        assert body == page.read_bytes()
        assert got["etag"] != etag
    finally:
        page.write_bytes(saved)


def test_pages_are_gzipped_when_asked(served: Server) -> None:
    status, got, body = served.get("/simple/alpha/", Accept=JSON, Accept_Encoding="gzip, br")
    assert status == 200
    assert len((served.root / "alpha" / "index.v1_json").read_bytes()) > 256
    assert got["content-encoding"] == "gzip"
    assert gzip.decompress(body) == (served.root / "alpha" / "index.v1_json").read_bytes()
    plain = served.get("/simple/alpha/", Accept=JSON)[1]
    assert "content-encoding" not in plain
    assert got["etag"] != plain["etag"]
    refused = served.get("/simple/alpha/", Accept=JSON, Accept_Encoding="gzip;q=0, *")[1]
    assert "content-encoding" not in refused
    tiny = served.get("/simple/", Accept=JSON, Accept_Encoding="gzip")[1]  # would grow
    assert "content-encoding" not in tiny
    again = served.get(
        "/simple/alpha/", Accept=JSON, Accept_Encoding="gzip", If_None_Match=got["etag"]
    )
    assert again[0] == 304


def test_files_have_long_caching_ranges_and_304(served: Server) -> None:
    wheel = (served.root / "alpha" / WHEEL).read_bytes()
    status, got, body = served.get(f"/simple/alpha/{WHEEL}")
    assert (status, body) == (200, wheel)
    assert got["cache-control"] == IMMUTABLE
    assert got["content-type"] == "application/octet-stream"
    assert got["accept-ranges"] == "bytes"
    assert got["content-length"] == str(len(wheel))
    status, head, body = served.request("HEAD", f"/simple/alpha/{WHEEL}")
    assert (status, body) == (200, b"")
    assert head["content-length"] == str(len(wheel))
    assert head["etag"] == got["etag"]
    status, part, body = served.get(f"/simple/alpha/{WHEEL}", Range="bytes=10-19")
    assert (status, body) == (206, wheel[10:20])
    assert part["content-range"] == f"bytes 10-19/{len(wheel)}"
    status, part, body = served.get(f"/simple/alpha/{WHEEL}", Range="bytes=-8")
    assert (status, body) == (206, wheel[-8:])  # uv reads a wheel's tail first
    status, bad, _ = served.get(f"/simple/alpha/{WHEEL}", Range=f"bytes={len(wheel) + 5}-")
    assert status == 416
    assert bad["content-range"] == f"bytes */{len(wheel)}"
    status, cached, body = served.get(f"/simple/alpha/{WHEEL}", If_None_Match=got["etag"])
    assert (status, body) == (304, b"")
    assert cached["cache-control"] == IMMUTABLE
    modified = got["last-modified"]
    assert served.get(f"/simple/alpha/{WHEEL}", If_Modified_Since=modified)[0] == 304
    status, meta, body = served.get(f"/simple/alpha/{WHEEL}.metadata")
    assert (status, body) == (200, (served.root / "alpha" / f"{WHEEL}.metadata").read_bytes())
    assert meta["cache-control"] == IMMUTABLE


def test_a_provenance_is_json_and_revalidated(served: Server) -> None:
    """PEP 740: beside a wheel or an sdist; it may change, so it is cached like a page."""
    copy = served.root / "alpha" / "alpha-2.0.tar.gz.provenance"
    copy.write_bytes(b'{"version": 1, "attestation_bundles": []}')
    try:
        status, got, body = served.get("/simple/alpha/alpha-2.0.tar.gz.provenance")
        assert (status, body) == (200, copy.read_bytes())
        assert got["content-type"] == "application/json"
        assert "must-revalidate" in got["cache-control"]
        status, again, _ = served.get(
            "/simple/alpha/alpha-2.0.tar.gz.provenance", If_None_Match=got["etag"]
        )
        assert status == 304
        assert "must-revalidate" in again["cache-control"]
        assert served.get("/simple/alpha/index.html.provenance")[0] == 404
        assert served.get(f"/simple/alpha/{WHEEL}.provenance")[0] == 404  # none there
    finally:
        copy.unlink()


# --- what is never served ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/simple/.selmirror/last-run.json",
        "/simple/.selmirror/",
        "/simple/.selmirror.lock",
        "/simple/alpha/.selmirror-tmp-abc",
        "/simple/alpha/index.html",
        "/simple/alpha/index.v1_json",
        "/simple/alpha/alpha-2.0.tar.gz.metadata",
        "/simple/alpha/secret-1.0.tar.gz",  # a symlink out of the tree
        "/simple/../secret-1.0.tar.gz",
        "/simple/alpha/../../secret-1.0.tar.gz",
        "/simple/%2e%2e/secret-1.0.tar.gz",
        "/simple/alpha/%2e%2e%2f%2e%2e%2fsecret-1.0.tar.gz",
        "/simple/alpha/..%2F..%2Fsecret-1.0.tar.gz",
        "/simple/alpha%2F..%2F..%2Fsecret-1.0.tar.gz",
        "/simple/alpha/%00alpha-2.0.tar.gz",
        "/simple/nothere/",
        "/simple/nothere/nothere-1.0.tar.gz",
        "/simple/alpha/sub/alpha-2.0.tar.gz",
        "/etc/passwd",
        "/",
    ],
)
def test_internal_state_and_anything_outside_the_tree_is_404(served: Server, path: str) -> None:
    status, _, body = served.get(path)
    assert status == 404, path
    assert b"not for clients" not in body


def test_a_symlink_inside_the_tree_is_followed(served: Server) -> None:
    status, _, body = served.get("/simple/alpha/inside-1.0.tar.gz")
    assert (status, body) == (200, (served.root / "alpha" / "alpha-2.0.tar.gz").read_bytes())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/simple/alpha/"),
        ("DELETE", f"/simple/alpha/{WHEEL}"),
        ("POST", "/"),
        ("POST", "/simple/"),
    ],
)
def test_writes_are_405_without_uploads(served: Server, method: str, path: str) -> None:
    status, got, _ = served.request(method, path, body=b"x")
    assert status == 405
    assert got["allow"] == "GET, HEAD"


# --- operations -------------------------------------------------------------------------------


def test_health_ready_and_the_access_log(served: Server) -> None:
    status, _, body = served.get("/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = served.get("/ready")
    ready = json.loads(body)
    assert status == 200
    assert ready["status"] == "ready"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ready["last_sync"])
    assert 0 <= ready["age_seconds"] < 600
    served.get("/simple/alpha/?x=1", User_Agent='pip/26.0 "quoted"')
    time.sleep(0.2)
    size = len((served.root / "alpha" / "index.html").read_bytes())
    assert re.search(
        r'^\S+Z 127\.0\.0\.1 "GET /simple/alpha/\?x=1 HTTP/1\.1" 200 '
        + str(size)
        + r' [\d.]+ms "pip/26\.0 \\"quoted\\""$',
        served.log(),
        re.MULTILINE,
    ), served.log()


def test_ready_is_503_without_a_root_page_and_json_logs(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    server = start_server(
        root, tmp_path / "log", "--log-format", "json", "--prefix", "/pypi/simple"
    )
    try:
        status, _, body = server.get("/ready")
        assert status == 503
        assert "no root page" in json.loads(body)["reason"]
        (root / "index.html").write_text("<html></html>")
        status, _, body = server.get("/ready")
        assert (status, json.loads(body)["last_sync"]) == (200, None)
        assert server.get("/pypi/simple/")[0] == 200
        assert server.get("/simple/")[0] == 404
        assert server.get("/pypi/simple")[1]["location"] == "/pypi/simple/"
    finally:
        assert stop(server) == 0
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert {"method": "GET", "path": "/ready", "status": 503}.items() <= lines[1].items()
    assert lines[-1]["path"] == "/pypi/simple"


def test_sigterm_stops_the_server_and_its_workers(tmp_path: Path) -> None:
    root = tmp_path / "simple"
    root.mkdir()
    server = start_server(root, tmp_path / "log")
    assert children(server.process.pid), "granian runs its workers as child processes"
    assert stop(server) == 0  # and none of them is left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "error: argument --port: '99999' is not a port number"),
        (["--prefix", "simple"], "error: argument --prefix: 'simple' is not a URL path"),
        (["--workers", "0"], "error: argument --workers: '0' is not a number from 1 to 64"),
        (["--local-folder", "/nonexistent/x"], "error: no mirror at /nonexistent/x"),
        (["--max-upload-size", "lots"], "error: argument --max-upload-size: 'lots' is not a size"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message), err
    assert "Traceback" not in err


def test_a_port_in_use_is_a_clear_error(served: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--local-folder", str(served.root), "--port", str(served.port)])
    assert code == 2
    assert capsys.readouterr().err.startswith(f"error: cannot listen on 127.0.0.1:{served.port}: ")


# --- pip and uv through the server ---------------------------------------------------------------


def test_pip_and_uv_install_through_serve_with_json_and_metadata(
    served: Server, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{served.port}/simple/"
    env = clean_env(tmp_path)
    start = len(served.log().splitlines())
    wanted = ["alpha==2.0", "typing-extras", "gamma"]
    for tool, command in (("pip", [sys.executable, "-m", "pip"]), ("uv", [find_uv_bin(), "pip"])):
        target = tmp_path / tool
        args = ["install", "--no-deps", "--index-url", url, "--target", str(target), *wanted]
        done = subprocess.run(
            [*command, *args], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert list(target.glob("alpha-2.0.dist-info")), tool
        if tool == "pip":  # uv installs without reading .metadata: ask it to resolve too
            compiled = uv_compile(url, wanted, tmp_path)
            assert compiled.returncode == 0, compiled.stderr
            assert "alpha==2.0" in compiled.stdout
    time.sleep(0.2)
    requests = served.log().splitlines()[start:]
    sizes = {  # the JSON page, plain or gzipped (as the server compresses it)
        len(data) for data in _encodings((served.root / "alpha" / "index.v1_json").read_bytes())
    }
    assert not sizes & {
        len(d) for d in _encodings((served.root / "alpha" / "index.html").read_bytes())
    }
    for agent in ("pip/", "uv/"):
        mine = [line for line in requests if f'"{agent}' in line]
        page = [line for line in mine if '"GET /simple/alpha/ HTTP/1.1" 200 ' in line]
        assert page, mine
        assert all(int(line.split('" 200 ')[1].split()[0]) in sizes for line in page), page
        assert any(f'/simple/alpha/{WHEEL}.metadata HTTP/1.1" 200' in line for line in mine), mine


def _encodings(data: bytes) -> tuple[bytes, bytes]:
    return data, gzip.compress(data, compresslevel=6, mtime=0)


# --- a sync and a prune while serving ------------------------------------------------------------


def test_pages_served_during_syncs_and_prunes_list_only_files_that_are_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sync moves alpha to a newer version and prunes the older one. A client reads
    the JSON page, asks for every file it lists, then reads the page again: when both reads
    gave the same page, every file must have been there (versions never come back, so the
    same ETag means the same moment of the mirror)."""
    root = tmp_path / "simple"
    versions = [f"{n}.0" for n in range(1, 9)]
    with FakeIndex(page_format="json") as index:
        for version in versions:
            index.add_wheel("alpha", version)
            index.add_sdist("alpha", version)
        sync = ["--index", index.url, "--local-folder", str(root), "--prune"]
        assert main([f"alpha=={versions[0]}", *sync]) == 0
        server = start_server(root, tmp_path / "log", "--log-format", "off")
        write_page = index_writer._write_if_changed

        def slow_write(path: Path, data: bytes) -> bool:
            time.sleep(0.05)  # each moment between two steps of a sync lasts long enough to see
            return write_page(path, data)

        monkeypatch.setattr(index_writer, "_write_if_changed", slow_write)
        seen: list[tuple[str, int]] = []
        failures: list[str] = []
        stop_reading = threading.Event()

        def read() -> None:
            while not stop_reading.is_set():
                status, got, body = server.get("/simple/alpha/", Accept=JSON)
                if status != 200:
                    failures.append(f"page: {status}")
                    continue
                files = [f["filename"] for f in json.loads(body)["files"]]
                answers = {f: server.request("HEAD", f"/simple/alpha/{f}")[0] for f in files}
                if server.get("/simple/alpha/", Accept=JSON)[1]["etag"] == got["etag"]:
                    seen.append((got["etag"], len(files)))
                    failures.extend(f"{f}: {s}" for f, s in answers.items() if s != 200)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for version in versions[1:]:
                assert main([f"alpha=={version}", *sync]) == 0, capsys.readouterr().err
        finally:
            stop_reading.set()
            reader.join()
            assert stop(server) == 0
    assert failures == []
    assert len({etag for etag, _ in seen}) >= 3, "the reader saw too few states to tell"
    assert sorted(p.name for p in (root / "alpha").glob("alpha-*")) == [
        f"alpha-{versions[-1]}-py3-none-any.whl",
        f"alpha-{versions[-1]}-py3-none-any.whl.metadata",
        f"alpha-{versions[-1]}.tar.gz",
    ]


@pytest.mark.parametrize("module", ["granian", "starlette", "python_multipart", "bcrypt"])
def test_without_the_serve_extra_it_says_what_to_install(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # "import module" raises ImportError
    (tmp_path / "htpasswd").write_text("alice:{SHA}x\n")
    args = ["--local-folder", str(tmp_path), "--upload-htpasswd", str(tmp_path / "htpasswd")]
    assert main(["serve", "--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: selmirror serve needs its extra ({module} is missing): "
        "pip install 'selmirror[serve]'\n"
    )


def test_cooldown_clients_read_upload_times_over_file_and_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip's --uploaded-prior-to and uv's --exclude-newer refuse any file without an upload
    time: over file:// (uv reads data-upload-time in the HTML) and through serve (JSON)."""
    root = tmp_path / "simple"
    with FakeIndex(page_format="json") as index:
        index.add_wheel("alpha", "1.0", upload_time="2024-03-01T00:00:00Z")
        index.add_wheel("alpha", "2.0", upload_time="2025-03-01T00:00:00Z")
        for pin in ("alpha==1.0", "alpha==2.0"):  # both versions in the mirror
            assert main([pin, "--index", index.url, "--local-folder", str(root)]) == 0
    first = json.loads((root / "alpha" / "index.v1_json").read_text())["files"]
    arrived = {f["filename"]: f["_arrival-time"] for f in first}
    cutoff = "2025-01-01T00:00:00Z"
    uv = uv_compile(root, ["alpha"], tmp_path, "--exclude-newer", cutoff)
    assert uv.returncode == 0, uv.stderr
    assert "alpha==1.0" in uv.stdout
    server = start_server(root, tmp_path / "log")
    try:
        url = f"http://127.0.0.1:{server.port}/simple/"
        pip = pip_install_dry_run(url, ["alpha"], tmp_path, "--uploaded-prior-to", cutoff)
        assert pip.returncode == 0, pip.stderr
        assert "Would install alpha-1.0" in pip.stdout
        uv = uv_compile(url, ["alpha"], tmp_path, "--exclude-newer", cutoff)
        assert (uv.returncode, "alpha==1.0" in uv.stdout) == (0, True), uv.stderr
    finally:
        assert stop(server) == 0
    with FakeIndex(page_format="json") as index:  # a later run keeps when the files came
        index.add_wheel("alpha", "1.0", upload_time="2024-03-01T00:00:00Z")
        index.add_wheel("alpha", "2.0", upload_time="2025-03-01T00:00:00Z")
        index.add_wheel("alpha", "3.0", upload_time="2025-09-01T00:00:00Z")
        for pin in ("alpha==2.0", "alpha"):  # 2.0 found in place, then 3.0 new
            assert main([pin, "--index", index.url, "--local-folder", str(root)]) == 0
    later = json.loads((root / "alpha" / "index.v1_json").read_text())["files"]
    assert {f["filename"]: f["_arrival-time"] for f in later if f["filename"] in arrived} == arrived
    assert [f["upload-time"] for f in later] == [
        "2024-03-01T00:00:00Z",
        "2025-03-01T00:00:00Z",
        "2025-09-01T00:00:00Z",
    ]
    assert capsys.readouterr().err.count("error") == 0
