"""End to end: ``main([...])`` against the fake index, then real pip and uv on the result."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn

import pytest
from fakeindex import FakeIndex, build_wheel
from oracles import assert_installable, clean_env, pip_install_dry_run
from packaging.utils import NormalizedName

from selmirror import cli, hashes, report, upstream, workers
from selmirror.cli import main
from selmirror.folder import TMP_PREFIX, MirrorFolder
from selmirror.pages import parse_html_page, parse_json_page
from selmirror.progress import Progress


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without sleeping (the back-off itself is unit-tested)."""
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


def selmirror(
    capsys: pytest.CaptureFixture[str], index: FakeIndex, folder: Path, *args: str
) -> tuple[int, str, str]:
    code = main([*args, "--index", index.url, "--local-folder", str(folder)])
    out, err = capsys.readouterr()
    return code, out, err


def on_disk(folder: Path) -> set[str]:
    """Every file under ``folder``, except the mirror's memory between runs (.selmirror/)."""
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and ".selmirror" not in p.relative_to(folder).parts
    }


def our_pages(folder: Path, name: str) -> tuple[dict[str, object], dict[str, object]]:
    """Our own parser over our own pages: ``{filename: DistFile}`` from JSON and from HTML."""
    base = (folder / name).resolve().as_uri() + "/"
    project = NormalizedName(name)
    json_page = parse_json_page(
        (folder / name / "index.v1_json").read_bytes(), url=base, project=project, schemes=("file",)
    )
    html_page = parse_html_page(
        (folder / name / "index.html").read_bytes(), url=base, project=project, schemes=("file",)
    )
    assert json_page.rejected == html_page.rejected == ()
    return {f.filename: f for f in json_page.files}, {f.filename: f for f in html_page.files}


def test_mirror_is_installable_by_pip_and_uv(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for version in ("1.0", "2.0"):
        any_index.add_wheel("alpha", version, requires_python=">=3.8")
        any_index.add_sdist("alpha", version, requires_python=">=3.8")
    any_index.add_wheel("Typing_Extras", "1.0")  # a name that needs normalizing
    any_index.add_wheel("beta", "1.0")
    mirror = tmp_path / "simple"

    code, out, err = selmirror(capsys, any_index, mirror, "alpha", "typing-extras", "beta=1.0")

    assert code == 0, err
    assert "3 project(s), 4 file(s): 4 downloaded" in out
    assert on_disk(mirror) == {
        ".selmirror.lock",
        "index.html",
        "index.v1_json",
        *(f"{p}/index.html" for p in ("alpha", "beta", "typing-extras")),
        *(f"{p}/index.v1_json" for p in ("alpha", "beta", "typing-extras")),
        "alpha/alpha-2.0-py3-none-any.whl",
        "alpha/alpha-2.0-py3-none-any.whl.metadata",
        "alpha/alpha-2.0.tar.gz",
        "beta/beta-1.0-py3-none-any.whl",
        "beta/beta-1.0-py3-none-any.whl.metadata",
        "typing-extras/Typing_Extras-1.0-py3-none-any.whl",
        "typing-extras/Typing_Extras-1.0-py3-none-any.whl.metadata",
    }
    # the sidecar is the exact METADATA upstream serves
    served = {f.filename: f for f in any_index.files()}
    wheel = served["alpha-2.0-py3-none-any.whl"]
    assert (mirror / "alpha" / (wheel.filename + ".metadata")).read_bytes() == wheel.metadata
    # round trip: our pages list exactly the files on disk, with their real hashes
    from_json, from_html = our_pages(mirror, "alpha")
    assert set(from_json) == set(from_html) == {"alpha-2.0-py3-none-any.whl", "alpha-2.0.tar.gz"}
    for name, f in from_json.items():
        assert f.sha256 == served[name].sha256  # type: ignore[attr-defined]
        assert f.size == len(served[name].content)  # type: ignore[attr-defined]
        assert f.requires_python == ">=3.8"  # type: ignore[attr-defined]
    root = json.loads((mirror / "index.v1_json").read_text())
    assert [p["name"] for p in root["projects"]] == ["alpha", "beta", "typing-extras"]
    assert_installable(mirror, ["alpha==2.0", "typing-extras", "beta"], tmp_path)
    # never the list of all projects; always our User-Agent
    assert not [r for r in any_index.requests if r.kind == "root"]
    assert all(r.headers["user-agent"].startswith("selmirror/") for r in any_index.requests)


def test_second_run_downloads_nothing_and_hashes_nothing(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    fake_index.add_sdist("alpha", "1.0")
    mirror = tmp_path / "m"
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    fake_index.reset_log()
    hashed: list[object] = []
    real_digest = hashes.file_digest
    monkeypatch.setattr(hashes, "file_digest", lambda *a: hashed.append(a) or real_digest(*a))
    code, out, _ = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0
    assert hashed == []  # the mirror's own pages are trusted: no re-hash on every run
    assert fake_index.downloads() == []
    assert not [r for r in fake_index.requests if r.kind == "metadata"]
    assert "1 project(s), 2 file(s) in place, 0 downloaded, 0 page(s) rewritten" in out


def test_lying_hash_never_reaches_the_mirror(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = fake_index.add_wheel("alpha", "1.0", advertised_sha256="0" * 64)
    mirror = tmp_path / "m"
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 4
    assert (
        f"error: hash mismatch for {bad.filename}: expected sha256 {'0' * 64}, got {bad.sha256}"
        in err
    )
    assert len(fake_index.downloads(bad.filename)) == 2  # retried once, then failed
    assert bad.filename not in {p.name for p in mirror.rglob("*")}
    assert not list(mirror.rglob(TMP_PREFIX + "*"))
    assert "Traceback" not in err


def test_truncated_body_is_retried_then_succeeds(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0", truncate_to=100, truncate_first=1)
    mirror = tmp_path / "m"
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0, err
    assert (mirror / "alpha" / f.filename).read_bytes() == f.content
    assert len(fake_index.downloads(f.filename)) == 2


def test_truncated_body_every_time_fails_cleanly(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0", truncate_to=100)
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha")
    assert code == 3
    assert f"error: connection broken while reading {fake_index.origin}/files/{f.filename}" in err
    assert not (tmp_path / "m" / "alpha" / f.filename).exists()


def test_503_then_200_for_pages_and_files(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0", fail_first=2, retry_after="1")
    fake_index.page_fail_first["alpha"] = 2
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha", "-v")
    assert code == 0, err
    assert [r.status for r in fake_index.downloads(f.filename)] == [503, 503, 200]
    assert [r.status for r in fake_index.page_requests("alpha")] == [503, 503, 200]
    assert "retrying" in err


def test_hostile_and_odd_entries_are_skipped(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = any_index.add_wheel("alpha", "1.0")
    any_index.add_file("alpha", "../../../evil-1.0.tar.gz", b"evil", url_override="../x.tar.gz")
    any_index.add_file(
        "alpha", "alpha-1.0.tar.gz", b"x", url_override="file:///tmp/alpha-1.0.tar.gz"
    )
    any_index.add_file("alpha", "beta-1.0-py3-none-any.whl", b"foreign")
    any_index.add_file("alpha", "alpha-1.0.post-weird.tar.gz", b"weird")
    any_index.add_file("alpha", "alpha-1.0-py3.8.egg", b"egg")
    any_index.add_file(
        "alpha", "alpha-0.9.tar.gz", b"x", url_override="../../files/..%2F..%2Fescape-0.9.tar.gz"
    )
    mirror = tmp_path / "out" / "m"
    report = tmp_path / "report.json"
    code, _, err = selmirror(
        capsys, any_index, mirror, "alpha", "--all-versions", "--report", str(report)
    )
    assert code == 0, err
    assert on_disk(tmp_path / "out") == {
        "m/.selmirror.lock",
        "m/index.html",
        "m/index.v1_json",
        "m/alpha/index.html",
        "m/alpha/index.v1_json",
        f"m/alpha/{good.filename}",
        f"m/alpha/{good.filename}.metadata",
    }
    rejected = {
        r["category"] for r in json.loads(report.read_text())["projects"]["alpha"]["rejected"]
    }
    assert {"bad-filename", "bad-url", "foreign-file", "bad-version", "file-type"} <= rejected
    assert "alpha-1.0.post-weird.tar.gz" in err  # the non-PEP 440 version is warned about


def test_yanked_files_kept_only_when_pinned_and_keep_their_mark(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    any_index.add_wheel("alpha", "1.0")
    yanked = any_index.add_wheel("alpha", "2.0", yanked="broken <build>")
    mirror = tmp_path / "m"
    assert selmirror(capsys, any_index, mirror, "alpha")[0] == 0
    assert not (mirror / "alpha" / yanked.filename).exists()
    assert selmirror(capsys, any_index, mirror, "alpha==2.0")[0] == 0
    html = (mirror / "alpha" / "index.html").read_text()
    assert 'data-yanked="broken &lt;build&gt;"' in html
    from_json, from_html = our_pages(mirror, "alpha")
    assert from_json[yanked.filename].yanked == "broken <build>"  # type: ignore[attr-defined]
    assert from_html[yanked.filename].yanked == "broken <build>"  # type: ignore[attr-defined]
    assert from_json["alpha-1.0-py3-none-any.whl"].yanked is None  # type: ignore[attr-defined]
    # installers skip the yanked file unless pinned
    pip = pip_install_dry_run(mirror, ["alpha"], tmp_path)
    assert "Would install alpha-1.0" in pip.stdout, pip.stderr
    pinned = pip_install_dry_run(mirror, ["alpha==2.0"], tmp_path)
    assert "Would install alpha-2.0" in pinned.stdout, pinned.stderr


def test_targets_filter_wheels_and_binary_only(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for tag in (
        "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp311-cp311-win_amd64",
        "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "py3-none-any",
    ):
        fake_index.add_wheel("alpha", "1.0", tag=tag, requires_python=">=3.9")
    fake_index.add_sdist("alpha", "1.0")
    mirror = tmp_path / "m"
    code, _, err = selmirror(
        capsys,
        fake_index,
        mirror,
        "alpha==1.0",
        "--binary-only",
        "--platform",
        "manylinux_2_28_x86_64",
        "--python-version",
        "3.11",
    )
    assert code == 0, err
    assert sorted(p.name for p in (mirror / "alpha").glob("*.whl")) == [
        "alpha-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "alpha-1.0-py3-none-any.whl",
    ]
    assert not list((mirror / "alpha").glob("*.tar.gz"))


def test_source_only(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    sdist = fake_index.add_sdist("alpha", "1.0")
    mirror = tmp_path / "m"
    assert selmirror(capsys, fake_index, mirror, "alpha", "--source-only")[0] == 0
    assert sorted(p.name for p in (mirror / "alpha").iterdir()) == [
        sdist.filename,
        "index.html",
        "index.v1_json",
    ]


def test_dry_run_writes_nothing_and_reports(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "m"
    code, out, _ = selmirror(capsys, fake_index, mirror, "alpha", "--dry-run", "--report", "-")
    assert code == 0
    assert not mirror.exists()
    assert fake_index.downloads() == []
    document = json.loads(out)
    (entry,) = document["projects"]["alpha"]["files"]
    assert entry["filename"] == f.filename
    assert entry["status"] == "planned"
    assert entry["sha256"] == f.sha256
    assert entry["size"] == len(f.content)
    assert document["dry_run"] is True


def test_report_has_inputs_files_rejections_and_errors(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "2.0")
    fake_index.add_wheel("alpha", "1.0")
    report = tmp_path / "r.json"
    code, _, _ = selmirror(
        capsys,
        fake_index,
        tmp_path / "m",
        "alpha",
        "nope",
        "--ignore-errors",
        "--report",
        str(report),
        "--report-detail",
        "full",
    )
    assert code == 6
    document = json.loads(report.read_text())
    assert document["inputs"]["requirements"] == [
        {"requirement": "alpha", "source": "command line"},
        {"requirement": "nope", "source": "command line"},
    ]
    assert document["inputs"]["indexes"] == [fake_index.url]
    project = document["projects"]["alpha"]
    assert len(project["versions"]) == 30  # no target named: the whole matrix
    assert set(map(tuple, project["versions"].values())) == {("2.0",)}
    assert [(e["filename"], e["status"], e["sha256"]) for e in project["files"]] == [
        (f.filename, "downloaded", f.sha256)
    ]
    assert project["rejected"] == [
        {
            "filename": "alpha-1.0-py3-none-any.whl",
            "category": "version",
            "reason": "alpha-1.0-py3-none-any.whl: version 1.0 not chosen",
        }
    ]
    assert document["errors"][0]["exit_code"] == 3
    assert "project nope not found" in document["errors"][0]["message"]
    assert document["summary"]["downloaded"] == 1
    # by default, versions not chosen are counted, not listed
    selmirror(capsys, fake_index, tmp_path / "m", "alpha", "--report", str(report))
    project = json.loads(report.read_text())["projects"]["alpha"]
    assert project["rejected"] == []
    assert project["skipped"] == {"version": 1}


def test_ignore_errors_goes_on_and_exits_non_zero(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = fake_index.add_wheel("alpha", "1.0")
    bad = fake_index.add_wheel("beta", "1.0", advertised_sha256="1" * 64)
    mirror = tmp_path / "m"
    code, out, err = selmirror(
        capsys, fake_index, mirror, "beta", "alpha", "nope", "--ignore-errors", "--workers", "1"
    )
    assert code == 6
    assert (mirror / "alpha" / good.filename).exists()
    assert not (mirror / "beta" / bad.filename).exists()
    assert "project nope not found" in err
    assert "hash mismatch for beta-1.0" in err
    assert "error: 2 error(s); what succeeded was written" in err
    assert "1 failed" in out
    assert_installable(mirror, ["alpha"], tmp_path)


def test_without_ignore_errors_the_first_failure_stops_the_run(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha", "nope")
    assert code == 3
    assert err.strip().splitlines()[-1] == f"error: project nope not found on {fake_index.url}"
    assert not (tmp_path / "m").exists()  # nothing resolved: not even a folder left
    # a folder that was there stays, lock and all
    (tmp_path / "m").mkdir()
    assert selmirror(capsys, fake_index, tmp_path / "m", "nope")[0] == 3
    assert on_disk(tmp_path / "m") == {".selmirror.lock"}


def test_no_matching_version(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha>=5")
    assert code == 7
    assert (
        "error: cannot resolve for 30 targets (cp310-manylinux_2_28_x86_64, ...): no version "
        "of alpha matches alpha>=5 (from command line): the index has 1.0"
    ) in err


def test_redirected_page_resolves_links_against_the_final_url(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0")
    fake_index.page_redirect.add("alpha")
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha")
    assert code == 0, err
    assert (tmp_path / "m" / "alpha" / f.filename).read_bytes() == f.content


def test_credentials_in_the_index_url_and_netrc_never_leak(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    fake_index.auth = ("alice", "s3cret-pw")
    report = tmp_path / "r.json"
    with_creds = fake_index.url.replace("http://", "http://alice:s3cret-pw@")
    code = main(
        [
            "alpha",
            "nope",
            "--ignore-errors",
            "--index",
            with_creds,
            "-v",
            "--local-folder",
            str(tmp_path / "m"),
            "--report",
            str(report),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 6  # alpha mirrored, nope missing
    assert (tmp_path / "m" / "alpha" / "index.html").exists()
    everything = out + err + report.read_text()
    everything += "".join(p.read_text() for p in (tmp_path / "m").rglob("index*"))
    assert "s3cret-pw" not in everything
    assert "****@127.0.0.1" in err

    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password s3cret-pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    code, out, err = selmirror(capsys, fake_index, tmp_path / "n", "alpha")
    assert code == 0, err
    assert "s3cret-pw" not in out + err


def test_a_second_run_waits_for_the_lock_then_fails_clearly(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "m"
    with MirrorFolder(mirror).lock():
        code, _, err = selmirror(capsys, fake_index, mirror, "alpha", "--lock-timeout", "0.3")
    assert code == 5
    assert "waiting" in err
    assert f"error: another selmirror run is writing {mirror}; gave up after 0.3s" in err
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0


def test_stale_temp_files_are_removed_and_leftover_files_listed(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = fake_index.add_wheel("alpha", "1.0")
    new = fake_index.add_wheel("alpha", "2.0")
    mirror = tmp_path / "m"
    (mirror / "alpha").mkdir(parents=True)
    (mirror / "alpha" / (TMP_PREFIX + "abc")).write_bytes(b"partial")
    # a killed run moved a verified file in but never wrote its page
    (mirror / "alpha" / new.filename).write_bytes(new.content)
    (mirror / "alpha" / old.filename).write_bytes(old.content)
    code, out, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0, err
    assert fake_index.downloads() == []  # adopted after its hash was checked
    assert "1 already present" in out
    assert not list(mirror.rglob(TMP_PREFIX + "*"))
    from_json, _ = our_pages(mirror, "alpha")
    assert set(from_json) == {old.filename, new.filename}  # every file in the folder is listed
    assert (mirror / "alpha" / (old.filename + ".metadata")).read_bytes() == old.metadata


def test_a_corrupt_copy_in_the_mirror_is_replaced(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "m"
    (mirror / "alpha").mkdir(parents=True)
    (mirror / "alpha" / f.filename).write_bytes(b"not the wheel")
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    assert (mirror / "alpha" / f.filename).read_bytes() == f.content


def test_requirements_file_with_hashes(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = fake_index.add_wheel("alpha", "1.0")
    fake_index.add_sdist("alpha", "1.0")
    req = tmp_path / "req.txt"
    req.write_text(f"alpha==1.0 \\\n    --hash=sha256:{wheel.sha256}\n")
    mirror = tmp_path / "m"
    code, _, err = selmirror(capsys, fake_index, mirror, str(req))
    assert code == 0, err
    assert sorted(p.name for p in (mirror / "alpha").iterdir() if "index" not in p.name) == [
        wheel.filename,
        wheel.filename + ".metadata",
    ]
    req.write_text(f"alpha==1.0 --hash=sha256:{'e' * 64}\n")
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m2", "-r", str(req))
    assert code == 7
    assert (
        f"no version of alpha matches alpha==1.0 (from {req}:1): "
        "alpha 1.0 has no file that matches the --hash list"
    ) in err


def test_the_sidecar_is_the_wheels_own_metadata_whatever_upstream_serves(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip 26.2 refuses a .metadata that disagrees with its wheel: serve the wheel's."""
    f = fake_index.add_wheel("alpha", "1.0")
    assert f.metadata is not None
    own = f.metadata
    f.metadata = f.metadata + b"X-Extra: upstream rewrote me\n"  # served and advertised
    mirror = tmp_path / "m"
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0, err
    assert (mirror / "alpha" / (f.filename + ".metadata")).read_bytes() == own
    assert "upstream's .metadata is not the wheel's own METADATA" in err
    assert pip_install_dry_run(mirror, ["alpha"], tmp_path).returncode == 0


def test_lying_metadata_hash_falls_back_to_the_wheel(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0", advertised_metadata_sha256="2" * 64)
    mirror = tmp_path / "m"
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0, err
    assert (mirror / "alpha" / (f.filename + ".metadata")).read_bytes() == f.metadata
    assert "not the wheel's own METADATA" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-e", "."], "error: "),
        (["--platform", "Bad Tag", "alpha"], "error: --platform 'Bad Tag'"),
        (["serve", "--port", "70000"], "error: argument --port: '70000' is not a port"),
        (["bad.txt"], "error: bad.txt:2: editable requirements (-e) are not supported"),
        (["alpha @ https://x.example/a.whl"], "error: command line: direct URL"),
        ([], "error: nothing to mirror"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "bad.txt").write_text("alpha\n-e ./src\n")
    proc = subprocess.run(
        [sys.executable, "-m", "selmirror", *args, "--index", "http://127.0.0.1:9/simple/"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(tmp_path),
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("hint:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(message)
    assert "Traceback" not in proc.stderr


def test_mirror_subcommand_and_version(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("verify", "1.0")
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "mirror", "verify")
    assert code == 0, err
    assert (tmp_path / "m" / "verify" / "index.html").exists()
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip().startswith("selmirror ")


def test_killed_run_leaves_a_usable_mirror_and_the_next_run_completes(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "m"
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    big = fake_index.add_file("beta", "beta-1.0.tar.gz", os.urandom(400_000), throttle=100_000.0)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selmirror",
            "alpha",
            "beta",
            "--no-deps",
            "--index",
            fake_index.url,
            "--local-folder",
            str(mirror),
        ],
        env=clean_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not list(mirror.glob(f"beta/{TMP_PREFIX}*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the 4 s the throttled download takes
        assert list(mirror.glob(f"beta/{TMP_PREFIX}*")), "the download never started"
    finally:
        proc.kill()
        proc.wait()
    assert not (mirror / "beta" / big.filename).exists()  # nothing partial under a final name
    assert not (mirror / "beta" / "index.html").exists()
    assert_installable(mirror, ["alpha"], tmp_path)  # the previous mirror still works

    big.throttle = None
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha", "beta", "--no-deps")
    assert code == 0, err
    assert (mirror / "beta" / big.filename).read_bytes() == big.content
    assert not list(mirror.rglob(TMP_PREFIX + "*"))


def test_the_mirror_served_over_http_by_a_plain_static_server(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m http.server`` in the folder is enough for pip and uv (relative links)."""
    any_index.add_wheel("alpha", "1.0")
    any_index.add_sdist("alpha", "1.0")
    mirror = tmp_path / "m"
    assert selmirror(capsys, any_index, mirror, "alpha")[0] == 0
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/"
            assert_installable(url, ["alpha==1.0"], tmp_path)
        finally:
            server.shutdown()
            thread.join()


def test_mirror_files_are_readable_by_a_web_server_user(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Temp files start 0600; what lands in the mirror gets the umask's usual mode."""
    fake_index.add_wheel("alpha", "1.0")
    mirror = tmp_path / "m"
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    mask = os.umask(0)
    os.umask(mask)
    for path in mirror.rglob("*"):
        if path.is_file() and path.name != ".selmirror.lock":
            assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


def test_unreachable_index_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        [
            "alpha",
            "--index",
            f"http://127.0.0.1:{port}/simple/",
            "--local-folder",
            str(tmp_path / "m"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 3
    # one line, after the retries (each one is a line at -v)
    assert err.splitlines() == [f"error: connection refused: http://127.0.0.1:{port}/simple/alpha/"]
    assert not (tmp_path / "m").exists()


def test_progress_bars_on_a_terminal(fake_index: FakeIndex, tmp_path: Path) -> None:
    fake_index.add_wheel("alpha", "1.0")
    controller, terminal = os.openpty()
    env = clean_env(tmp_path) | {"TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "selmirror",
            "alpha",
            "--index",
            fake_index.url,
            "--local-folder",
            str(tmp_path / "m"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert proc.wait() == 0, output
    text = output.decode(errors="replace")
    assert "1/1 pages" in text
    assert "1/1 files" in text
    assert "1 project(s), 1 file(s): 1 downloaded" in text
    assert "Traceback" not in text


def test_index_urls_from_a_requirements_file_first_index_wins(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    with FakeIndex() as extra:
        extra.add_wheel("beta", "1.0")
        shadow = extra.add_wheel("alpha", "9.0")  # must never be taken over the main index
        req = tmp_path / "req.txt"
        req.write_text(
            f"--index-url {fake_index.url}\n--extra-index-url {extra.url}\nalpha\nbeta\n"
        )
        code = main([str(req), "--local-folder", str(tmp_path / "m")])
        assert code == 0, capsys.readouterr().err
        assert not (tmp_path / "m" / "alpha" / shadow.filename).exists()
        assert (tmp_path / "m" / "alpha" / "alpha-1.0-py3-none-any.whl").exists()
        assert (tmp_path / "m" / "beta" / "beta-1.0-py3-none-any.whl").exists()
        assert extra.page_requests("alpha") == []


@pytest.mark.parametrize(
    ("algorithm", "warning"),
    [(None, "upstream gives no hash"), ("md5", "only a weak md5 hash")],
)
def test_files_without_a_strong_upstream_hash(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    algorithm: str | None,
    warning: str,
) -> None:
    f = fake_index.add_wheel("alpha", "1.0")
    f.hashes = {algorithm: hashlib.new(algorithm, f.content).hexdigest()} if algorithm else {}
    mirror = tmp_path / "m"
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0, err
    assert warning in err
    from_json, _ = our_pages(mirror, "alpha")
    assert from_json[f.filename].sha256 == f.sha256  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/vnd.pypi.simple.v1+json", b"{oops", "malformed JSON page at"),
        (
            "application/vnd.pypi.simple.v1+json",
            b'{"meta": {"api-version": "2.0"}, "files": []}',
            "speaks simple API 2.0",
        ),
        ("application/octet-stream", b"", "unexpected Content-Type 'application/octet-stream'"),
    ],
)
def test_unusable_upstream_page_names_the_url(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content_type: str,
    body: bytes,
    message: str,
) -> None:
    fake_index.raw_page["alpha"] = (content_type, body)
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha")
    assert code == 3
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert message in line
    assert f"{fake_index.url}alpha/" in line


@pytest.mark.parametrize("lie", [-1, +1])
def test_a_file_that_is_not_the_announced_size_is_refused(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str], lie: int
) -> None:
    """Without a hash to check, the size is what upstream vouches for; a longer body is cut off."""
    f = fake_index.add_wheel("alpha", "1.0", hashes={})
    f.advertised_size = len(f.content) + lie
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha")
    assert code == 4
    assert f"error: size mismatch for {f.filename}" in err
    assert not (tmp_path / "m" / "alpha" / f.filename).exists()


def _recording_pids(
    monkeypatch: pytest.MonkeyPatch, log: Path, *, die_in_children: bool = False
) -> None:
    """Make every whole-file download and page fetch note ``<kind> <pid>`` (forked workers
    inherit these patches), or kill the worker processes that try one."""
    from selmirror import download
    from selmirror.upstream import Upstream

    parent = os.getpid()

    def recording(kind: str, real: Callable[..., object]) -> Callable[..., object]:
        def record(*args: object, **kwargs: object) -> object:
            if die_in_children and os.getpid() != parent:
                os._exit(9)
            with log.open("a") as f:
                f.write(f"{kind} {os.getpid()}\n")
            return real(*args, **kwargs)

        return record

    monkeypatch.setattr(download, "_download_here", recording("file", download._download_here))
    monkeypatch.setattr(Upstream, "project_page", recording("page", Upstream.project_page))


def _pids(log: Path) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {"file": set(), "page": set()}
    for line in log.read_text().splitlines():
        kind, pid = line.split()
        found[kind].add(int(pid))
    return found


@pytest.mark.skipif(not workers.can_fork(), reason="worker processes need fork")
def test_pages_and_files_are_fetched_by_worker_processes_unless_told_not_to(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("alpha", "beta", "gamma"):
        fake_index.add_wheel(name, "1.0")
    pids = tmp_path / "pids"
    _recording_pids(monkeypatch, pids)
    results = {}
    for processes in ("2", "0"):
        pids.unlink(missing_ok=True)
        mirror = tmp_path / f"p{processes}"
        code, out, err = selmirror(
            capsys, fake_index, mirror, "alpha", "beta", "gamma", "--processes", processes
        )
        assert code == 0, err
        assert "3 downloaded" in out
        results[processes] = _pids(pids)
        assert {p for p in on_disk(mirror) if p.endswith(".whl")} == {
            f"{n}/{n}-1.0-py3-none-any.whl" for n in ("alpha", "beta", "gamma")
        }
    for kind in ("file", "page"):
        assert results["2"][kind]
        assert os.getpid() not in results["2"][kind]
    assert results["0"] == {"file": {os.getpid()}, "page": {os.getpid()}}


@pytest.mark.skipif(not workers.can_fork(), reason="worker processes need fork")
def test_work_of_a_worker_process_that_dies_is_done_by_a_thread(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    fake_index.add_wheel("beta", "1.0", requires_dist=["alpha"])
    _recording_pids(monkeypatch, tmp_path / "pids", die_in_children=True)

    code, out, err = selmirror(capsys, fake_index, tmp_path / "m", "beta", "--processes", "2")

    assert code == 0, err
    assert "2 downloaded" in out
    assert "a worker process died; fetching the page of beta here" in err
    assert "a worker process died; downloading" in err
    assert _pids(tmp_path / "pids") == {"file": {os.getpid()}, "page": {os.getpid()}}


def test_a_wheel_without_a_readable_metadata_is_mirrored_without_a_sidecar(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Resolution reads the PEP 658 file; the wheel itself lacks METADATA (read where it
    was downloaded, and once more here to say why)."""
    filename, _, metadata = build_wheel("alpha", "1.0")
    hollow = io.BytesIO()
    with zipfile.ZipFile(hollow, "w") as archive:
        archive.writestr("alpha/__init__.py", "")
    fake_index.add_file("alpha", filename, hollow.getvalue(), metadata=metadata)

    code, out, err = selmirror(capsys, fake_index, tmp_path / "m", "alpha")

    assert code == 0, err
    assert "1 downloaded" in out
    assert f"{filename}: no alpha-1.0.dist-info/METADATA; no .metadata file for it" in err
    assert {p for p in on_disk(tmp_path / "m") if p.startswith("alpha/")} == {
        "alpha/index.html",
        "alpha/index.v1_json",
        f"alpha/{filename}",
    }


def test_a_failed_run_still_writes_its_report_and_never_leaves_the_last_one(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    report = tmp_path / "report.json"
    mirror = tmp_path / "m"
    assert selmirror(capsys, fake_index, mirror, "alpha", "--report", str(report))[0] == 0
    assert json.loads(report.read_text())["errors"] == []
    # fails in resolution: the report says what was decided, and the error
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha>=5", "--report", str(report))
    assert code == 7
    written = json.loads(report.read_text())
    (error,) = written["errors"]
    assert error["exit_code"] == 7
    assert error["message"] in err
    assert written["inputs"]["requirements"][0]["requirement"] == "alpha>=5"
    # fails before it began: still no stale report
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha==", "--report", str(report))
    assert code == 2
    written = json.loads(report.read_text())
    assert [e["message"] for e in written["errors"]] == [
        err.splitlines()[0].removeprefix("error: ")
    ]
    assert "targets" not in written


def test_no_report_document_is_built_unless_asked_for(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It lists every file of a big run: building it for nobody cost 0.4 s of CPU on W3
    for 8 targets, and a failed run built it twice."""
    fake_index.add_wheel("alpha", "1.0")

    def build(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("built a report nobody asked for")

    monkeypatch.setattr(report, "build", build)
    monkeypatch.setattr(report, "failed", build)
    assert selmirror(capsys, fake_index, tmp_path / "m", "alpha")[0] == 0
    assert selmirror(capsys, fake_index, tmp_path / "m", "alpha>=5")[0] == 7


def test_a_failed_download_on_a_fresh_mirror_is_one_line_and_pages_only_what_is_there(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    bad = fake_index.add_file("beta", "beta-1.0.tar.gz", os.urandom(50_000))
    bad.advertised_sha256 = "0" * 64
    for n in range(6):  # more than the workers: some jobs never start
        fake_index.add_wheel(f"gamma{n}", "1.0")
    mirror = tmp_path / "m"
    names = ["alpha", "beta", *(f"gamma{n}" for n in range(6))]
    code, _, err = selmirror(capsys, fake_index, mirror, *names, "--no-deps", "--workers", "1")
    assert code == 4, err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("error: hash mismatch for beta-1.0.tar.gz")
    paged = {p.parent.name for p in mirror.glob("*/index.html")}
    assert "beta" not in paged
    assert paged == {p.name for p in mirror.iterdir() if p.is_dir() and p.name != ".selmirror"}
    assert main(["verify", "--local-folder", str(mirror)]) == 0  # every page lists files in place


class _Recorder(Progress):
    def __init__(self) -> None:
        self.total = -1
        self.before = 0
        self.after = 0

    def downloads_start(self, files: int, total_bytes: int) -> None:
        self.total = total_bytes

    def bytes_done(self, count: int) -> None:
        if self.total < 0:
            self.before += count
        else:
            self.after += count


def test_the_byte_total_is_every_byte_the_run_fetches(
    fake_index: FakeIndex,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Files fetched ahead during resolution count in the total: the bar ends at 100%."""
    for n in range(6):
        fake_index.add_wheel(f"p{n}", "1.0", requires_dist=[f"p{n + 1}"] if n < 5 else [])
    recorder = _Recorder()
    monkeypatch.setattr(cli, "_progress", lambda args: recorder)
    code, out, _ = selmirror(capsys, fake_index, tmp_path / "m", "p0", "--processes", "0")
    assert code == 0
    size = sum(len(f.content) for f in fake_index.files())
    assert recorder.total == size
    assert recorder.before + recorder.after == size
    assert f"6 downloaded ({size / 1000:.1f} kB)" in out


def test_project_status_is_carried_kept_and_dropped_with_upstream(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    any_index.add_wheel("alpha", "1.0")
    any_index.add_wheel("beta", "1.0")
    any_index.project_status["alpha"] = {"state": "deprecated", "reason": "use beta"}
    mirror = tmp_path / "simple"

    assert selmirror(capsys, any_index, mirror, "alpha", "beta")[0] == 0

    def status(name: str) -> tuple[object, list[tuple[str, str | None]]]:
        page = json.loads((mirror / name / "index.v1_json").read_text())
        html = (mirror / name / "index.html").read_text()
        metas = re.findall(r'<meta name="(pypi:project-status[^"]*)" content="([^"]*)">', html)
        return page.get("project-status"), metas

    deprecated = (
        {"status": "deprecated", "reason": "use beta"},
        [("pypi:project-status", "deprecated"), ("pypi:project-status-reason", "use beta")],
    )
    assert status("alpha") == deprecated
    assert status("beta") == (None, [])
    # a prune rewrites alpha's pages without reading upstream: the status stays
    any_index.add_wheel("alpha", "2.0")
    assert selmirror(capsys, any_index, mirror, "alpha==2.0", "beta")[0] == 0
    assert selmirror(capsys, any_index, mirror, "prune", "alpha==2.0", "beta")[0] == 0
    assert not (mirror / "alpha" / "alpha-1.0-py3-none-any.whl").exists()
    assert status("alpha") == deprecated
    # carried across the air gap
    bundle, offline = tmp_path / "b.tar", tmp_path / "offline"
    assert main(["export", "--local-folder", str(mirror), "--output", str(bundle)]) == 0
    assert main(["import", str(bundle), "--local-folder", str(offline)]) == 0
    assert json.loads((offline / "alpha" / "index.v1_json").read_text())["project-status"] == {
        "status": "deprecated",
        "reason": "use beta",
    }
    # upstream lifts it: so does the mirror
    del any_index.project_status["alpha"]
    any_index.add_wheel("alpha", "3.0")
    assert selmirror(capsys, any_index, mirror, "alpha", "beta")[0] == 0
    assert status("alpha") == (None, [])


def test_a_project_quarantined_upstream_fails_the_run_and_says_so(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_index.add_wheel("alpha", "1.0")
    fake_index.project_status["alpha"] = {"status": "quarantined", "reason": "malware"}
    code, _, err = selmirror(capsys, fake_index, tmp_path / "simple", "alpha")
    assert code == 7
    assert "alpha is quarantined on the index (wanted: alpha (from command line))" in err
    assert fake_index.downloads() == []
