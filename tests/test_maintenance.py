"""verify, index, prune, export/import and --diff-file, end to end on the fake index, with pip
and uv installing offline from the results."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from fakeindex import FakeIndex, build_sdist, build_wheel
from oracles import assert_installable

from selmirror import upstream
from selmirror.cli import main
from selmirror.folder import TMP_PREFIX
from selmirror.state import STATE_DIR

TARGET = ["--platform", "linux", "--python-version", "3.12"]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


def sync(index: FakeIndex, mirror: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["sync", *args, *TARGET, "--index", index.url, "--local-folder", str(mirror)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def cmd(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def tree(root: Path) -> dict[str, str]:
    """Every file of a mirror (pages included, memory and lock excluded) -> its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and STATE_DIR not in p.relative_to(root).parts
        and p.name != ".selmirror.lock"
    }


@pytest.fixture
def mirrored(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[FakeIndex, Path]:
    fake_index.add_wheel("app", "1.0", requires_dist=["lib"])
    fake_index.add_wheel("lib", "1.0")
    fake_index.add_sdist("lib", "1.0")
    mirror = tmp_path / "m"
    sync(fake_index, mirror, capsys, "app")
    return fake_index, mirror


# -- verify ---------------------------------------------------------------------------------


def test_verify_a_sound_mirror(
    mirrored: tuple[FakeIndex, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, mirror = mirrored
    code, out, _ = cmd(capsys, "verify", "--local-folder", str(mirror))
    assert code == 0
    assert out.strip().endswith("no problems")


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        ("flip", "lib/lib-1.0-py3-none-any.whl: sha256 "),
        ("delete", "lib/lib-1.0.tar.gz: missing"),
        ("temp", f"lib/{TMP_PREFIX}x: temporary file of an interrupted run"),
        ("metadata", "lib/lib-1.0-py3-none-any.whl.metadata: sha256 "),
        ("twin", "lib/index.html: lib-1.0.tar.gz is only on the JSON page"),
        ("orphan", "lib/stray.txt: not on the page"),
    ],
)
def test_verify_finds_each_problem_and_repair_mends_it(
    mirrored: tuple[FakeIndex, Path],
    capsys: pytest.CaptureFixture[str],
    damage: str,
    expected: str,
) -> None:
    index, mirror = mirrored
    lib = mirror / "lib"
    if damage == "flip":
        data = bytearray((lib / "lib-1.0-py3-none-any.whl").read_bytes())
        data[100] ^= 0xFF
        (lib / "lib-1.0-py3-none-any.whl").write_bytes(bytes(data))
    elif damage == "delete":
        (lib / "lib-1.0.tar.gz").unlink()
    elif damage == "temp":
        (lib / f"{TMP_PREFIX}x").write_bytes(b"partial")
    elif damage == "metadata":
        (lib / "lib-1.0-py3-none-any.whl.metadata").write_bytes(b"Name: lib\n")
    elif damage == "twin":
        html = (lib / "index.html").read_text()
        kept = [line for line in html.splitlines() if "lib-1.0.tar.gz" not in line]
        (lib / "index.html").write_text("\n".join(kept))
    else:
        (lib / "stray.txt").write_text("x")
    code, out, err = cmd(capsys, "verify", "--local-folder", str(mirror))
    assert code == 4
    assert expected in out
    assert "error: " in err
    if damage == "orphan":
        return  # not broken, only unexplained: repair leaves it
    code, out, err = cmd(
        capsys, "verify", "--repair", "--index", index.url, "--local-folder", str(mirror)
    )
    assert code == 0, out + err
    assert_installable(mirror, ["app"], mirror.parent)


# -- index ----------------------------------------------------------------------------------


def test_index_lists_hand_placed_files_and_they_survive_syncs_and_prunes(
    mirrored: tuple[FakeIndex, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, mirror = mirrored
    filename, wheel, metadata = build_wheel("inhouse", "0.1", requires_python=">=3.9")
    (mirror / "inhouse").mkdir()
    (mirror / "inhouse" / filename).write_bytes(wheel)
    sdist_name, sdist, _ = build_sdist("lib", "0.9", requires_python=">=3.8")
    (mirror / "lib" / sdist_name).write_bytes(sdist)  # an older one, by hand

    code, out, _ = cmd(capsys, "index", "--local-folder", str(mirror))
    assert code == 0
    assert "2 page(s) rewritten" in out
    page = json.loads((mirror / "inhouse" / "index.v1_json").read_text())
    (entry,) = page["files"]
    assert entry["hashes"]["sha256"] == hashlib.sha256(wheel).hexdigest()
    assert entry["requires-python"] == ">=3.9"
    assert entry["_origin"] == "local"
    assert (mirror / "inhouse" / (filename + ".metadata")).read_bytes() == metadata
    assert "inhouse" in (mirror / "index.html").read_text()
    assert_installable(mirror, ["inhouse", "lib==0.9"], mirror.parent)

    code, out, _ = cmd(capsys, "index", "--local-folder", str(mirror))
    assert "0 project folder(s) read" in out  # nothing changed since

    sync(index, mirror, capsys, "app", "--prune")
    assert (mirror / "lib" / sdist_name).exists()
    assert (mirror / "inhouse" / filename).exists()
    assert sdist_name in (mirror / "lib" / "index.html").read_text()


# -- prune ----------------------------------------------------------------------------------


def test_prune_dry_run_lists_and_real_prune_removes_pages_first(
    mirrored: tuple[FakeIndex, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, mirror = mirrored
    index.add_wheel("lib", "2.0")
    sync(index, mirror, capsys, "app")  # lib 2.0 joins lib 1.0
    assert (mirror / "lib" / "lib-1.0-py3-none-any.whl").exists()
    before = tree(mirror)

    code, out, _ = cmd(
        capsys,
        "prune",
        "app",
        *TARGET,
        "--index",
        index.url,
        "--local-folder",
        str(mirror),
        "--dry-run",
    )
    assert code == 0
    assert "would prune 2 file(s)" in out
    assert tree(mirror) == before

    code, out, _ = cmd(
        capsys, "prune", "app", *TARGET, "--index", index.url, "--local-folder", str(mirror)
    )
    assert code == 0
    assert "pruned 2 file(s)" in out
    assert not (mirror / "lib" / "lib-1.0-py3-none-any.whl").exists()
    assert not (mirror / "lib" / "lib-1.0-py3-none-any.whl.metadata").exists()
    assert not (mirror / "lib" / "lib-1.0.tar.gz").exists()
    assert "lib-1.0" not in (mirror / "lib" / "index.html").read_text()
    assert cmd(capsys, "verify", "--local-folder", str(mirror))[0] == 0
    assert_installable(mirror, ["app"], tmp_path)


def test_prune_drops_projects_no_longer_required_and_keeps_latest(
    mirrored: tuple[FakeIndex, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, mirror = mirrored
    index.add_wheel("other", "1.0")
    index.add_wheel("other", "2.0")
    sync(index, mirror, capsys, "app", "other", "--all-versions")
    code, out, _ = cmd(
        capsys,
        "prune",
        "other",
        *TARGET,
        "--index",
        index.url,
        "--local-folder",
        str(mirror),
        "--keep-latest",
        "2",
    )
    assert code == 0, out
    assert not (mirror / "app").exists()
    assert not (mirror / "lib").exists()
    assert "app" not in (mirror / "index.html").read_text()
    assert len(list((mirror / "other").glob("*.whl"))) == 2  # --keep-latest 2
    assert cmd(capsys, "verify", "--local-folder", str(mirror))[0] == 0


# -- diff-file ------------------------------------------------------------------------------


def test_diff_file_lists_what_a_sync_added_or_changed(
    mirrored: tuple[FakeIndex, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, mirror = mirrored
    index.add_wheel("lib", "1.1")
    diff = tmp_path / "changed.txt"
    sync(index, mirror, capsys, "app", "--diff-file", str(diff))
    assert diff.read_text().splitlines() == [
        "lib/index.html",
        "lib/index.v1_json",
        "lib/lib-1.1-py3-none-any.whl",
        "lib/lib-1.1-py3-none-any.whl.metadata",
    ]
    sync(index, mirror, capsys, "app", "--diff-file", str(diff))
    assert diff.read_text() == ""


# -- export / import ------------------------------------------------------------------------


def test_export_import_across_the_gap_night_after_night(
    mirrored: tuple[FakeIndex, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, mirror = mirrored
    offline = tmp_path / "offline"
    night1 = tmp_path / "night1.tar"
    assert cmd(capsys, "export", "--local-folder", str(mirror), "--output", str(night1))[0] == 0
    code, _, err = cmd(capsys, "import", str(night1), "--local-folder", str(offline))
    assert code == 0, err
    assert tree(offline) == tree(mirror)
    assert_installable(offline, ["app"], tmp_path)

    # night 2: a new release, and a prune
    index.add_wheel("lib", "2.0")
    sync(index, mirror, capsys, "app", "--prune")
    night2 = tmp_path / "night2.tar"
    assert cmd(capsys, "export", "--local-folder", str(mirror), "--output", str(night2))[0] == 0
    with tarfile.open(night2) as tar:
        names = tar.getnames()
    assert "files/lib/lib-2.0-py3-none-any.whl" in names
    assert "files/app/app-1.0-py3-none-any.whl" not in names  # only what changed
    assert cmd(capsys, "import", str(night2), "--local-folder", str(offline))[0] == 0
    assert tree(offline) == tree(mirror)

    # importing twice changes nothing
    before = {p: q.stat().st_mtime_ns for p, q in ((p, offline / p) for p in tree(offline))}
    assert cmd(capsys, "import", str(night2), "--local-folder", str(offline))[0] == 0
    assert {p: (offline / p).stat().st_mtime_ns for p in tree(offline)} == before


def _rewrite(bundle: Path, out: Path, change: str) -> None:
    with tarfile.open(bundle) as src, tarfile.open(out, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if change == "flip" and member.name.endswith(".whl"):
                data = bytes([data[0] ^ 1]) + data[1:]
            if change == "traversal" and member.name.endswith(".whl"):
                member.name = "files/../../evil.whl"
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize("change", ["flip", "truncate", "traversal", "extra"])
def test_a_tampered_or_truncated_bundle_changes_nothing(
    mirrored: tuple[FakeIndex, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: str,
) -> None:
    _, mirror = mirrored
    good = tmp_path / "good.tar"
    assert cmd(capsys, "export", "--local-folder", str(mirror), "--output", str(good))[0] == 0
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "keep.txt").write_text("untouched")
    bad = tmp_path / "bad.tar"
    if change == "truncate":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif change == "extra":
        shutil.copy(good, bad)
        with tarfile.open(bad, "a") as tar:
            info = tarfile.TarInfo("files/lib/sneaky-1.0.tar.gz")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    else:
        _rewrite(good, bad, change)
    code, _, err = cmd(capsys, "import", str(bad), "--local-folder", str(offline))
    assert code == 4, err
    assert "bundle rejected" in err
    assert sorted(p.name for p in offline.iterdir()) == [".selmirror.lock", "keep.txt"]
    assert not (tmp_path / "evil.whl").exists()
