"""selmirror publish against moto's in-process S3: objects, order, increments, the lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from selmirror.cli import main  # noqa: E402
from tests.fakeindex import FakeIndex  # noqa: E402
from tests.test_e2e import selmirror  # noqa: E402

LOCAL = "alpha-1.0+cpu-py3-none-any.whl"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="mirror")
        yield client


@pytest.fixture
def mirror(fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    fake_index.add_wheel("alpha", "1.0+cpu")
    fake_index.add_sdist("beta", "1.0")
    root = tmp_path / "simple"
    assert selmirror(capsys, fake_index, root, "alpha", "beta")[0] == 0
    return root


def publish(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["publish", "--local-folder", str(root), "s3://mirror/simple", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _objects(s3: Any) -> dict[str, dict[str, Any]]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mirror").get("Contents", [])]
    return {k: s3.head_object(Bucket="mirror", Key=k) for k in keys}


def test_a_publish_puts_every_object_with_its_type_then_nothing_the_second_time(
    s3: Any, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = publish(mirror, capsys)
    assert code == 0, err
    objects = _objects(s3)
    assert not [k for k in objects if ".selmirror" in k]  # no state, no lock left behind
    assert objects[f"simple/alpha/{LOCAL}"]["ContentType"] == "application/octet-stream"
    assert "immutable" in objects[f"simple/alpha/{LOCAL}"]["CacheControl"]
    page = s3.get_object(Bucket="mirror", Key="simple/alpha/")
    assert page["ContentType"] == "application/vnd.pypi.simple.v1+json"
    assert page["Body"].read() == (mirror / "alpha" / "index.v1_json").read_bytes()
    assert objects["simple/alpha/index.html"]["ContentType"] == "text/html; charset=utf-8"
    assert objects["simple/"]["ContentType"] == "application/vnd.pypi.simple.v1+json"
    sha = json.loads((mirror / "beta" / "index.v1_json").read_text())["files"][0]["hashes"]
    assert objects["simple/beta/beta-1.0.tar.gz"]["Metadata"] == {"sha256": sha["sha256"]}
    assert out.startswith(f"put {len(objects)} object(s)")
    code, out, _ = publish(mirror, capsys)
    assert out.startswith(f"put 0 object(s) (0.0 MB), {len(objects)} unchanged, 0 deleted")
    # --full compares with the bucket's own record of each object: still nothing to put
    code, out, _ = publish(mirror, capsys, "--full")
    assert out.startswith(f"put 0 object(s) (0.0 MB), {len(objects)} unchanged")


def test_a_change_puts_only_what_changed_and_deletes_after_the_delay(
    s3: Any, fake_index: FakeIndex, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(mirror, capsys)[0] == 0
    fake_index.add_sdist("beta", "2.0")
    assert selmirror(capsys, fake_index, mirror, "alpha", "beta", "--prune")[0] == 0
    code, out, _ = publish(mirror, capsys)
    assert code == 0
    # the new file, and beta's three page objects
    assert out.startswith("put 4 object(s)")
    assert "0 deleted, 1 unlisted" in out
    assert "simple/beta/beta-1.0.tar.gz" in _objects(s3)  # a cached page may still list it
    code, out, _ = publish(mirror, capsys, "--delete-after", "PT0S")
    assert "1 deleted" in out
    assert "simple/beta/beta-1.0.tar.gz" not in _objects(s3)
    assert "simple/beta/beta-2.0.tar.gz" in _objects(s3)


def test_a_first_publish_to_a_bucket_that_has_the_objects_uploads_nothing(
    s3: Any, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert publish(mirror, capsys)[0] == 0
    for record in (mirror / ".selmirror" / "published").iterdir():
        record.unlink()  # another machine, or a lost record
    s3.put_object(Bucket="mirror", Key="simple/other-thing.txt", Body=b"not ours")
    code, out, _ = publish(mirror, capsys, "--delete-after", "PT0S")
    assert code == 0
    assert out.startswith("put 0 object(s)")
    assert "simple/other-thing.txt" in _objects(s3)  # no sha256 of ours: never deleted


def test_a_held_lock_stops_a_second_publisher_clearly(
    s3: Any, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = ".selmirror-publish/simple/.selmirror-publish.lock"
    body = json.dumps({"host": "elsewhere", "pid": 7, "at": 4e9}).encode()  # the future: fresh
    s3.put_object(Bucket="mirror", Key=lock, Body=body)
    code, _, err = publish(mirror, capsys)
    assert code != 0
    assert "is held by elsewhere (pid 7)" in err
    assert "simple/alpha/" not in _objects(s3)
    s3.put_object(Bucket="mirror", Key=lock, Body=json.dumps({"at": 0}).encode())  # stale
    assert publish(mirror, capsys)[0] == 0
    assert lock not in _objects(s3)


def test_bad_targets_and_a_dry_run(
    s3: Any, mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = main_err(["publish", "--local-folder", str(mirror), "http://x/"], capsys)
    assert code == 2
    assert "is not s3://BUCKET[/PREFIX]" in err
    code, out, _ = publish(mirror, capsys, "--dry-run")
    assert code == 0
    assert out.startswith("would put ")
    assert _objects(s3) == {}


def main_err(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_files_are_put_before_project_pages_and_those_before_the_root(
    s3: Any, mirror: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from selmirror.publish import bucket

    order: list[str] = []
    put = bucket.Bucket.put

    def recording(self: bucket.Bucket, p: Any, root: Path) -> None:
        order.append(p.key)
        put(self, p, root)

    monkeypatch.setattr(bucket.Bucket, "put", recording)
    assert publish(mirror, capsys, "--workers", "1")[0] == 0
    rank = [
        2 if k.count("/") == 1 else 1 if k.endswith(("/", ".html", ".v1_json")) else 0
        for k in order
    ]
    assert rank == sorted(rank)
    assert set(rank) == {0, 1, 2}
