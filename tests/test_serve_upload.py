"""Uploads to ``selmirror serve``: uv publish and raw forms, htpasswd auth, every refusal."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from fakeindex import FakeIndex, build_wheel
from oracles import clean_env
from servers import Server, build_mirror, start_server, stop
from uv import find_uv_bin

from selmirror.cli import main
from selmirror.folder import MirrorFolder

CAP = 64 * 1024


def htpasswd_line(user: str, password: str, kind: str) -> str:
    """An entry as ``htpasswd -B`` (bcrypt, ``$2y$``) or ``htpasswd -s`` (SHA-1) writes it."""
    if kind == "bcrypt":
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        return f"{user}:$2y${hashed[4:]}"
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f"{user}:{{SHA}}{digest}"


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, FakeIndex]]:
    tmp = tmp_path_factory.mktemp("upload")
    root = tmp / "simple"
    passwords = tmp / "htpasswd"
    passwords.write_text(
        "# team\n"
        + htpasswd_line("alice", "s3cret", "bcrypt")
        + "\n"
        + htpasswd_line("bob", "hunter2", "sha")
        + "\n"
    )
    with FakeIndex(page_format="json") as index:
        build_mirror(index, root)
        server = start_server(
            root,
            tmp / "server.log",
            "--upload-htpasswd",
            str(passwords),
            "--max-upload-size",
            str(CAP),
            "--lock-timeout",
            "0.5",
        )
        server.extra["htpasswd"] = str(passwords)
        yield server, index
        assert stop(server) == 0


def form(fields: dict[str, str], filename: str, content: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="content"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def post(
    server: Server,
    filename: str,
    content: bytes,
    *,
    user: str | None = "alice:s3cret",
    path: str = "/",
    **fields: str,
) -> tuple[int, dict[str, str], str]:
    name, version = filename.removesuffix(".exe").split("-")[:2]
    values = {":action": "file_upload", "protocol_version": "1", "name": name, "version": version}
    values |= {k.replace("__", ":"): v for k, v in fields.items()}
    content_type, body = form(values, filename, content)
    headers = {"Content-Type": content_type}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    status, got, data = server.request("POST", path, headers, body)
    return status, got, data.decode()


def publish(
    server: Server, wheel: Path, password: str, tmp: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            find_uv_bin(),
            "publish",
            "--publish-url",
            f"http://127.0.0.1:{server.port}/",
            "--username",
            "alice",
            "--password",
            password,
            "--trusted-publishing",
            "never",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        env=clean_env(tmp),
        check=False,
    )


def test_uv_publish_uploads_and_pip_installs_it(
    uploads: tuple[Server, FakeIndex], tmp_path: Path
) -> None:
    server, _ = uploads
    filename, content, metadata = build_wheel("private_pkg", "1.0")
    wheel = tmp_path / filename
    wheel.write_bytes(content)

    refused = publish(server, wheel, "wrong", tmp_path)
    assert refused.returncode != 0
    assert "403" in refused.stderr, refused.stderr
    assert not (server.root / "private-pkg").exists()

    done = publish(server, wheel, "s3cret", tmp_path)
    assert done.returncode == 0, done.stderr
    folder = server.root / "private-pkg"
    assert (folder / filename).read_bytes() == content
    assert (folder / (filename + ".metadata")).read_bytes() == metadata
    page = json.loads((folder / "index.v1_json").read_text())
    [entry] = page["files"]
    assert entry["hashes"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert entry["_origin"] == "upload"
    roots = json.loads((server.root / "index.v1_json").read_text())["projects"]
    assert {"name": "private-pkg"} in roots

    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--index-url",
            f"http://127.0.0.1:{server.port}/simple/",
            "--target",
            str(tmp_path / "t"),
            "private-pkg==1.0",
        ],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        check=False,
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert list((tmp_path / "t").glob("private_pkg-1.0.dist-info"))

    again = publish(server, wheel, "s3cret", tmp_path)
    assert again.returncode != 0  # uv publish reads 409 as "already exists" only for PyPI
    status, _, text = post(server, filename, content)
    assert status == 409
    assert "already exists" in text


def test_credentials_are_checked_before_the_body_is_read(uploads: tuple[Server, FakeIndex]) -> None:
    server, _ = uploads
    filename, content, _ = build_wheel("noauth", "1.0")
    status, got, _ = post(server, filename, content, user=None)
    assert status == 401
    assert got["www-authenticate"].startswith('Basic realm="selmirror uploads"')
    assert post(server, filename, content, user="alice:nope")[0] == 403
    assert post(server, filename, content, user="mallory:s3cret")[0] == 403
    assert not (server.root / "noauth").exists()


def test_a_sha1_htpasswd_user_uploads_at_the_prefix_too(uploads: tuple[Server, FakeIndex]) -> None:
    server, _ = uploads
    filename, content, _ = build_wheel("shauser", "2.0")
    status, _, text = post(server, filename, content, user="bob:hunter2", path="/simple/")
    assert status == 200, text
    assert (server.root / "shauser" / filename).is_file()


@pytest.mark.parametrize(
    ("filename", "content", "fields", "message"),
    [
        (None, None, {"sha256_digest": "0" * 64}, "is not the form's"),
        ("other-1.0-py3-none-any.whl", None, {"name": "mine"}, "belongs to project 'other'"),
        (None, None, {"version": "9.9"}, "is version 1.0, not 9.9"),
        ("broken-1.0-py3-none-any.whl", b"not a zip", {}, "broken-1.0-py3-none-any.whl"),
        ("../evil-1.0-py3-none-any.whl", None, {"name": "evil"}, "unsafe filename"),
        (".hidden-1.0-py3-none-any.whl", None, {"name": "hidden"}, "unsafe filename"),
        ("thing-1.0.exe", b"MZ", {"name": "thing"}, "unsupported file type"),
        (None, None, {"__action": "remove_pkg"}, "unsupported action"),
        (None, None, {"name": "not a name!"}, "is not a project name"),
    ],
)
def test_a_bad_upload_is_400_and_leaves_nothing(
    uploads: tuple[Server, FakeIndex],
    filename: str | None,
    content: bytes | None,
    fields: dict[str, str],
    message: str,
) -> None:
    server, _ = uploads
    built, wheel, _ = build_wheel("checked", "1.0")
    filename = filename or built
    status, _, text = post(server, filename, content or wheel, **fields)
    assert status == 400, text
    assert message in text
    assert not (server.root / "checked").exists()
    assert not list(server.root.rglob(".selmirror-tmp-*"))
    assert not (server.root.parent / "evil-1.0-py3-none-any.whl").exists()


def test_an_upload_over_the_cap_is_413(uploads: tuple[Server, FakeIndex]) -> None:
    server, _ = uploads
    filename, _, _ = build_wheel("huge", "1.0")
    status, _, text = post(server, filename, b"x" * (CAP + 1))
    assert status == 413, text
    assert not (server.root / "huge").exists()


def test_a_held_lock_is_503_with_retry_after(uploads: tuple[Server, FakeIndex]) -> None:
    server, _ = uploads
    filename, content, _ = build_wheel("later", "1.0")
    with MirrorFolder(server.root).lock():
        status, got, text = post(server, filename, content)
    assert status == 503, text
    assert got["retry-after"] == "60"
    assert not (server.root / "later" / filename).exists()
    assert post(server, filename, content)[0] == 200


def test_an_uploaded_file_survives_sync_and_prune(
    uploads: tuple[Server, FakeIndex], capsys: pytest.CaptureFixture[str]
) -> None:
    server, index = uploads
    filename, content, _ = build_wheel("kept", "1.0")
    assert post(server, filename, content)[0] == 200
    args = ["alpha", "--index", index.url, "--local-folder", str(server.root), "--prune"]
    assert main(args) == 0, capsys.readouterr().err
    assert (server.root / "kept" / filename).is_file()
    page = json.loads((server.root / "kept" / "index.v1_json").read_text())
    assert [f["filename"] for f in page["files"]] == [filename]
    assert not (server.root / "typing-extras").exists()  # pruned: the sync's own file


def test_overwrite_only_when_allowed(tmp_path: Path) -> None:
    root = tmp_path / "simple"
    root.mkdir()
    (tmp_path / "htpasswd").write_text(htpasswd_line("alice", "s3cret", "bcrypt") + "\n")
    server = start_server(
        root, tmp_path / "log", "--upload-htpasswd", str(tmp_path / "htpasswd"), "--allow-overwrite"
    )
    try:
        filename, first, _ = build_wheel("same", "1.0")
        _, second, _ = build_wheel("same", "1.0", requires_dist=["alpha"])
        assert len(first) != len(second) or first != second
        assert post(server, filename, first)[0] == 200
        assert post(server, filename, second)[0] == 200
        page = json.loads((root / "same" / "index.v1_json").read_text())
        assert page["files"][0]["hashes"]["sha256"] == hashlib.sha256(second).hexdigest()
        meta = (root / "same" / (filename + ".metadata")).read_bytes()
        assert b"Requires-Dist: alpha" in meta
        for path in (f"/simple/same/{filename}", f"/simple/same/{filename}.metadata"):
            status, got, body = server.get(path)  # a file may change: never "immutable"
            assert (status, got["cache-control"]) == (200, "max-age=60, must-revalidate")
        assert body == meta
        case = filename.replace("same", "SAME", 1)
        status, _, text = post(server, case, first, name="same")
        assert status == 409, text  # another spelling of a name there is never an overwrite
    finally:
        assert stop(server) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("alice:$apr1$abc$def\n", "htpasswd:1: user 'alice' has a hash selmirror does not take"),
        ("# nobody\n", "htpasswd: no users"),
        ("justtext\n", "htpasswd:1: not a 'user:hash' line"),
    ],
)
def test_an_unusable_htpasswd_is_a_one_line_error(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "simple").mkdir()
    (tmp_path / "htpasswd").write_text(content)
    args = ["serve", "--local-folder", str(tmp_path / "simple"), "--port", "0"]
    assert main([*args, "--upload-htpasswd", str(tmp_path / "htpasswd")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / message}"), err


def test_a_sync_never_mirrors_a_public_project_named_like_an_uploaded_one(
    uploads: tuple[Server, FakeIndex], capsys: pytest.CaptureFixture[str]
) -> None:
    server, index = uploads
    index.add_wheel("delta", "9.9")  # the public project, with a higher version
    filename, content, _ = build_wheel("delta", "0.5")
    assert post(server, filename, content)[0] == 200
    sync = ["--index", index.url, "--local-folder", str(server.root)]

    assert main(["delta", "alpha", *sync]) == 2
    err = capsys.readouterr().err
    assert (
        "\nerror: delta has files uploaded to this mirror: upstream's delta is not mirrored"
        " beside them\n" in err
    ), err
    assert main(["delta", "alpha", "--ignore-errors", *sync]) == 6  # the rest goes on
    assert sorted(p.name for p in (server.root / "delta").glob("delta-*")) == [
        filename,
        filename + ".metadata",
    ]
    assert main(["alpha", "--prune", "--include-local", *sync]) == 0  # uploads always stay
    assert (server.root / "delta" / filename).is_file()
