"""The mirror stays consistent through prune, replaced files and imports (issue 10).

Kills are simulated: every filesystem mutation (replace, rename, unlink, rmdir) is counted,
and from the N-th on each one raises :class:`Killed`, a BaseException nothing catches, so
the run stops there and no clean-up of its own runs after it: what SIGKILL does, at a
chosen step instead of a chosen moment.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import random
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeindex import FakeIndex, build_sdist, build_wheel
from hypothesis import given, settings
from hypothesis import strategies as st

from selmirror import bundle, hashes, upstream
from selmirror.cli import main
from selmirror.errors import IntegrityError
from selmirror.folder import HTML_PAGE, JSON_PAGE, TMP_PREFIX
from selmirror.pages import parse_html_page, parse_json_page
from selmirror.state import STATE_DIR

TARGET = ["--platform", "linux", "--python-version", "3.12", "--processes", "0", "--workers", "1"]
MUTATIONS = ("replace", "rename", "unlink", "remove", "rmdir")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_wait", lambda state: 0.0)


class Killed(BaseException):
    """The process died at this step."""


Kill = Callable[[int, str], bool]  # (step number, "replace SRC DST") -> die here?


def at_step(n: int | None) -> Kill:
    return lambda step, what: n is not None and step >= n


@contextlib.contextmanager
def killed(kill: Kill) -> Iterator[list[str]]:
    """Count filesystem mutations; from the first one ``kill`` picks on, each raises
    :class:`Killed`. Yields the mutations done, as ``"replace SRC DST"``."""
    done: list[str] = []
    dead = False
    real = {name: getattr(os, name) for name in MUTATIONS}

    def wrap(name: str) -> Callable[..., Any]:
        def mutation(*args: Any, **kwargs: Any) -> Any:
            nonlocal dead
            what = " ".join([name, *(str(a) for a in args)])
            dead = dead or kill(len(done), what)
            if dead:
                raise Killed(what)
            done.append(what)
            return real[name](*args, **kwargs)

        return mutation

    for name in MUTATIONS:
        setattr(os, name, wrap(name))
    try:
        yield done
    finally:
        for name, function in real.items():
            setattr(os, name, function)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_killed(capsys: pytest.CaptureFixture[str], kill: Kill, *args: str) -> bool:
    """Run ``args`` until ``kill`` says die; whether it died (else it must succeed)."""
    with killed(kill):
        try:
            code, _, err = run(capsys, *args)
        except Killed:
            capsys.readouterr()
            return True
    assert code == 0, err
    return False


def tree(root: Path) -> dict[str, str]:
    """Every file of a mirror (pages included, memory and lock excluded) -> its sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and STATE_DIR not in p.relative_to(root).parts
        and p.name != ".selmirror.lock"
        and not p.name.startswith(TMP_PREFIX)
    }


def assert_no_page_lists_a_missing_file(root: Path) -> None:
    """What pip and uv may read at any moment: every page they reach lists only files that
    are there, with their sidecars; the root lists only projects that have pages."""
    for page in (JSON_PAGE, HTML_PAGE):
        if not (root / page).exists():
            continue
        if page == JSON_PAGE:
            names = {p["name"] for p in json.loads((root / page).read_bytes())["projects"]}
        else:
            text = (root / page).read_text()
            names = {d.name for d in root.iterdir() if f'href="{d.name}/"' in text}
        for name in names:
            assert (root / name / JSON_PAGE).is_file(), f"{page} lists {name}: no JSON page"
            assert (root / name / HTML_PAGE).is_file(), f"{page} lists {name}: no HTML page"
    for directory in root.iterdir():
        if not directory.is_dir() or directory.name.startswith("."):
            continue
        base = directory.resolve().as_uri() + "/"
        for page, parse in ((JSON_PAGE, parse_json_page), (HTML_PAGE, parse_html_page)):
            if not (directory / page).exists():
                continue
            parsed = parse(
                (directory / page).read_bytes(),
                url=base,
                project=directory.name,  # type: ignore[arg-type]
                schemes=("file",),
            )
            for f in parsed.files:
                where = f"{directory.name}/{page} lists {f.filename}"
                assert (directory / f.filename).is_file(), f"{where}, which is missing"
                if f.core_metadata:
                    assert (directory / (f.filename + ".metadata")).is_file(), where


# -- the scene: a mirror where a prune removes files of a kept project and a whole project --


@pytest.fixture
def scene(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[FakeIndex, Path, dict[str, str]]:
    """A mirror (``base``) of app -> lib 1.0 and 2.0, and old; and the tree an uninterrupted
    ``prune app`` leaves (lib 1.0 and all of old gone)."""
    fake_index.add_wheel("app", "1.0", requires_dist=["lib"])
    fake_index.add_wheel("lib", "1.0")
    fake_index.add_sdist("lib", "1.0")
    fake_index.add_wheel("old", "1.0")
    fake_index.add_sdist("old", "1.0")
    base = tmp_path / "base"
    sync = ["sync", *TARGET, "--index", fake_index.url, "--local-folder", str(base)]
    assert run(capsys, *sync, "app", "old")[0] == 0
    fake_index.add_wheel("lib", "2.0")
    assert run(capsys, *sync, "app", "old")[0] == 0  # lib 2.0 joins lib 1.0
    reference = tmp_path / "reference"
    shutil.copytree(base, reference)
    code, out, err = run(capsys, *prune_args(fake_index, reference))
    assert code == 0, err
    assert "pruned 4 file(s)" in out
    return fake_index, base, tree(reference)


def prune_args(index: FakeIndex, mirror: Path) -> list[str]:
    return ["prune", "app", *TARGET, "--index", index.url, "--local-folder", str(mirror)]


def next_run(index: FakeIndex, mirror: Path, which: int) -> list[str]:
    """The run after a killed one: another prune, a sync, or an index."""
    if which == 0:
        return prune_args(index, mirror)
    if which == 1:
        return ["sync", "app", *TARGET, "--index", index.url, "--local-folder", str(mirror)]
    return ["index", "--local-folder", str(mirror)]


# -- 1. pages before files, for every project ---------------------------------------------


def test_prune_rewrites_every_page_before_it_unlinks_a_file(
    scene: tuple[FakeIndex, Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index, mirror, reference = scene
    real_unlink = os.unlink
    checked = []

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        path = Path(path)
        if path.parent.parent == mirror and path.name.endswith((".whl", ".tar.gz")):
            project = path.parent
            for page in (project / JSON_PAGE, project / HTML_PAGE):
                assert not page.exists() or path.name not in page.read_text(), page
            if project.name == "old":  # emptied: its pages gone, and off the root page
                assert not (project / HTML_PAGE).exists()
                assert not (project / JSON_PAGE).exists()
                assert '"old"' not in (mirror / JSON_PAGE).read_text()
                assert 'href="old/"' not in (mirror / HTML_PAGE).read_text()
            assert_no_page_lists_a_missing_file(mirror)
            checked.append(path.name)
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    assert run(capsys, *prune_args(index, mirror))[0] == 0
    monkeypatch.undo()
    assert sorted(checked) == [
        "lib-1.0-py3-none-any.whl",
        "lib-1.0.tar.gz",
        "old-1.0-py3-none-any.whl",
        "old-1.0.tar.gz",
    ]
    assert tree(mirror) == reference


# -- 2. a killed prune converges ----------------------------------------------------------


def test_prune_killed_between_the_json_and_the_html_page_is_finished_by_the_next_sync(
    scene: tuple[FakeIndex, Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    index, mirror, reference = scene
    html = f" {mirror / 'lib' / HTML_PAGE}"
    assert run_killed(capsys, lambda _, what: what.endswith(html), *prune_args(index, mirror))
    assert_no_page_lists_a_missing_file(mirror)
    code, out, _ = run(capsys, "verify", "--local-folder", str(mirror))
    assert code == 4
    assert "lib/index.html: lib-1.0.tar.gz is only on the HTML page" in out
    assert f"{STATE_DIR}/pending-removal.json: an interrupted prune or import" in out

    assert run(capsys, *next_run(index, mirror, 1))[0] == 0  # a sync
    assert tree(mirror) == reference
    lib = json.loads((mirror / "lib" / JSON_PAGE).read_text())
    assert {f["_origin"] for f in lib["files"]} == {"upstream"}
    assert run(capsys, "verify", "--local-folder", str(mirror))[0] == 0


@pytest.mark.parametrize("then", ["prune", "sync", "index"])
def test_prune_killed_at_every_step_never_lists_a_missing_file_and_the_next_run_converges(
    scene: tuple[FakeIndex, Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    then: str,
) -> None:
    """Each step of the prune in turn is its last; then the next run is killed at a random
    step too (or not at all), and completed. Then (after a prune, if that run was not one)
    the tree must be the one an uninterrupted prune leaves: no pruned file turned into one
    placed by hand, which no prune would remove."""
    index, base, reference = scene
    with killed(at_step(None)) as steps:
        assert run(capsys, *prune_args(index, shutil.copytree(base, tmp_path / "count")))[0] == 0
    chance = random.Random(f"prune-{then}")
    for step in range(len(steps)):
        mirror = tmp_path / f"kill-{step}"
        shutil.copytree(base, mirror)
        assert run_killed(capsys, at_step(step), *prune_args(index, mirror))
        assert_no_page_lists_a_missing_file(mirror)
        after = next_run(index, mirror, ["prune", "sync", "index"].index(then))
        if run_killed(capsys, at_step(chance.randrange(12) if step % 2 else None), *after):
            assert_no_page_lists_a_missing_file(mirror)
            assert run(capsys, *after)[0] == 0
        if then != "prune":  # what the killed prune had not recorded yet is still to do
            assert run(capsys, *prune_args(index, mirror))[0] == 0
        assert tree(mirror) == reference, f"killed at step {step}: {steps[step]}"
        assert run(capsys, "verify", "--local-folder", str(mirror))[0] == 0, step
        shutil.rmtree(mirror)


# -- 3. a stale .metadata sidecar ----------------------------------------------------------


def test_a_sidecar_left_stale_by_a_replaced_wheel_is_mended_by_the_next_sync(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Upstream replaces a wheel's bytes under the same name; a sync is killed after the new
    wheel took its place and before its sidecar was rewritten. The next sync sees the sidecar
    was recorded for other bytes and extracts it again."""
    served = fake_index.add_wheel("lib", "1.0")
    mirror = tmp_path / "m"
    sync = ["sync", "lib", *TARGET, "--index", fake_index.url, "--local-folder", str(mirror)]
    assert run(capsys, *sync)[0] == 0
    wheel = mirror / "lib" / served.filename
    sidecar = wheel.with_name(wheel.name + ".metadata")
    old_metadata = sidecar.read_bytes()

    filename, content, metadata = build_wheel("lib", "1.0", requires_python=">=3.8")
    assert filename == served.filename
    assert metadata != old_metadata
    served.content, served.metadata = content, metadata  # upstream replaced it
    wheel.write_bytes(content)  # what the killed sync left: the new wheel, the old sidecar
    assert run(capsys, *sync)[0] == 0
    page = json.loads((mirror / "lib" / JSON_PAGE).read_text())
    assert page["files"][0]["hashes"]["sha256"] == hashlib.sha256(content).hexdigest()
    assert sidecar.read_bytes() == metadata
    assert page["files"][0]["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert run(capsys, "verify", "--local-folder", str(mirror))[0] == 0


def test_verify_finds_a_sidecar_that_is_not_its_wheels_metadata_and_repair_mends_it(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sidecar whose page hash matches it, but which is not the METADATA inside the wheel
    (an older selmirror copied upstream's PEP 658 file): only a look inside the wheel shows
    it."""
    served = fake_index.add_wheel("lib", "1.0", requires_python=">=3.8")
    filename = served.filename
    metadata = served.metadata
    assert metadata is not None
    mirror = tmp_path / "m"
    sync = ["sync", "lib", *TARGET, "--index", fake_index.url, "--local-folder", str(mirror)]
    assert run(capsys, *sync)[0] == 0
    sidecar = mirror / "lib" / (filename + ".metadata")
    stale = b"Metadata-Version: 2.1\nName: lib\nVersion: 1.0\n"
    sidecar.write_bytes(stale)
    for name in (JSON_PAGE, HTML_PAGE):
        page_path = mirror / "lib" / name
        page_path.write_text(
            page_path.read_text().replace(
                hashlib.sha256(metadata).hexdigest(), hashlib.sha256(stale).hexdigest()
            )
        )

    code, out, _ = run(capsys, "verify", "--local-folder", str(mirror))
    assert code == 4
    assert f"lib/{filename}.metadata: not the METADATA of the wheel beside it" in out

    code, out, err = run(
        capsys, "verify", "--repair", "--index", fake_index.url, "--local-folder", str(mirror)
    )
    assert code == 0, out + err
    assert sidecar.read_bytes() == metadata
    sha = hashlib.sha256(metadata).hexdigest()
    page = json.loads((mirror / "lib" / JSON_PAGE).read_text())
    assert page["files"][0]["core-metadata"] == {"sha256": sha}
    assert page["files"][0]["_origin"] == "upstream"
    assert page["files"][0]["requires-python"] == ">=3.8"
    assert f'data-core-metadata="sha256={sha}"' in (mirror / "lib" / HTML_PAGE).read_text()


# -- 4. import cross-checks a bundle's pages with its files ------------------------------


@pytest.fixture
def gap(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[FakeIndex, Path, Path, Path]:
    """A connected mirror (app -> lib), its first bundle, and an offline side that imported
    it."""
    fake_index.add_wheel("app", "1.0", requires_dist=["lib"])
    fake_index.add_wheel("lib", "1.0")
    fake_index.add_sdist("lib", "1.0")
    online, offline, night1 = tmp_path / "online", tmp_path / "offline", tmp_path / "night1.tar"
    sync = ["sync", "app", *TARGET, "--index", fake_index.url, "--local-folder", str(online)]
    assert run(capsys, *sync)[0] == 0
    assert run(capsys, "export", "--local-folder", str(online), "--output", str(night1))[0] == 0
    assert run(capsys, "import", str(night1), "--local-folder", str(offline))[0] == 0
    assert (offline / ".selmirror" / "completed").is_file()  # serve's /ready: its age
    return fake_index, online, offline, night1


def unpack(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A bundle's manifest, and its files by path."""
    files = {}
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for member in tar.getmembers()[1:]:
            files[member.name.removeprefix("files/")] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return manifest, files


def pack(path: Path, files: dict[str, bytes], **manifest: Any) -> Path:
    """A bundle of ``files`` whose manifest agrees with them: only the pages may lie."""
    entries = [
        {"path": p, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for p, data in sorted(files.items())
    ]
    raw_manifest = manifest.pop("raw", None)
    document = {"format": bundle.FORMAT, "full": False, "files": entries, **manifest}
    raw_manifest = raw_manifest or json.dumps(document).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [("manifest.json", raw_manifest)] + [
            (f"files/{p}", d) for p, d in sorted(files.items())
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def refused(capsys: pytest.CaptureFixture[str], offline: Path, bundle_path: Path) -> str:
    """Import ``bundle_path``: it must be refused, in one line, with ``offline`` unchanged."""
    before = tree(offline)
    code, _, err = run(capsys, "import", str(bundle_path), "--local-folder", str(offline))
    assert code == 4, err
    lines = [line for line in err.splitlines() if not line.startswith("hint: ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: bundle rejected: "), err
    assert tree(offline) == before
    return lines[0]


def test_import_refuses_a_page_that_lies_about_a_files_hash(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, _, night1 = gap
    _, files = unpack(night1)
    page = json.loads(files["lib/index.v1_json"])
    for entry in page["files"]:
        entry["hashes"]["sha256"] = "0" * 64
    files["lib/index.v1_json"] = json.dumps(page).encode()
    fresh = tmp_path / "fresh"
    line = refused(capsys, fresh, pack(tmp_path / "lying.tar", files))
    assert "lib/index.v1_json says lib-1.0-py3-none-any.whl has sha256 0000" in line
    assert not (fresh / "lib").exists()


def test_import_refuses_a_page_that_lies_about_a_sidecar(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, _, night1 = gap
    _, files = unpack(night1)
    files["lib/lib-1.0-py3-none-any.whl.metadata"] = b"Metadata-Version: 2.1\nName: lib\n"
    line = refused(capsys, tmp_path / "fresh", pack(tmp_path / "lying.tar", files))
    assert "lib-1.0-py3-none-any.whl.metadata has sha256" in line


def test_import_refuses_a_file_no_page_lists(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, offline, night1 = gap
    _, files = unpack(night1)
    files["lib/sneaky-1.0.tar.gz"] = build_sdist("sneaky", "1.0")[1]
    line = refused(capsys, offline, pack(tmp_path / "sneaky.tar", files))
    assert "lib/sneaky-1.0.tar.gz is on none of its pages" in line


def test_import_refuses_a_page_listing_a_file_it_neither_carries_nor_finds_here(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, _, night1 = gap
    _, files = unpack(night1)
    del files["lib/lib-1.0.tar.gz"]
    line = refused(capsys, tmp_path / "fresh", pack(tmp_path / "short.tar", files))
    assert "lists lib-1.0.tar.gz (sha256 " in line
    assert "which is neither in the bundle nor here" in line


def test_a_bundle_whose_root_page_lists_nothing_removes_nothing(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, offline, _ = gap
    empty_root = json.dumps({"meta": {"api-version": "1.1"}, "projects": []}).encode()
    line = refused(capsys, offline, pack(tmp_path / "one.tar", {JSON_PAGE: empty_root}))
    assert "it would remove project app, which the exporting side did not record" in line
    assert (offline / "app" / "app-1.0-py3-none-any.whl").is_file()


def test_import_removes_only_what_the_exporting_side_recorded_as_removed(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, online, offline, _ = gap
    index.add_wheel("lib", "2.0")
    sync = ["sync", "app", *TARGET, "--index", index.url, "--local-folder", str(online)]
    assert run(capsys, *sync, "--prune")[0] == 0
    night2 = tmp_path / "night2.tar"
    assert run(capsys, "export", "--local-folder", str(online), "--output", str(night2))[0] == 0
    manifest, files = unpack(night2)
    assert manifest["removed"] == [
        "lib/lib-1.0-py3-none-any.whl",
        "lib/lib-1.0-py3-none-any.whl.metadata",
        "lib/lib-1.0.tar.gz",
    ]
    line = refused(capsys, offline, pack(tmp_path / "quiet.tar", files, removed=[]))
    assert "it would remove lib/lib-1.0-py3-none-any.whl, which the exporting side" in line

    code, out, err = run(capsys, "import", str(night2), "--local-folder", str(offline))
    assert code == 0, err
    assert "3 file(s) removed" in out
    assert tree(offline) == tree(online)
    # an older bundle, imported again, would undo the prune: refused
    refused(capsys, offline, tmp_path / "night1.tar")


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "the manifest is not JSON"),
        (b"\xff\xfe not utf-8", "the manifest is not JSON"),
        (b"[]", "not a selmirror-bundle/1 bundle"),
        (b'{"format": "selmirror-bundle/1", "files": {}}', "files is not a list"),
        (b'{"format": "selmirror-bundle/1", "files": [1]}', "files[0] is not an object"),
        (
            b'{"format": "selmirror-bundle/1", "files": [{"path": "a/b", "sha256": "x"}]}',
            "files[0].sha256 is not a sha256",
        ),
        (
            b'{"format": "selmirror-bundle/1", "files": [{"path": "a/b", "sha256": "'
            + b"0" * 64
            + b'", "size": true}]}',
            "files[0].size is not a size",
        ),
        (
            b'{"format": "selmirror-bundle/1", "files": [{"path": "a/b", "sha256": "'
            + b"0" * 64
            + b'", "size": 1e999}]}',
            "files[0].size is not a size",
        ),
        (b'{"format": "selmirror-bundle/1", "files": [{"path": ["a"]}]}', "path is not a string"),
        (
            b'{"format": "selmirror-bundle/1", "files": [{"path": "../../etc/passwd"}]}',
            "unsafe path",
        ),
        (b'{"format": "selmirror-bundle/1", "files": [], "removed": {}}', "removed is not a list"),
        (b'{"format": "selmirror-bundle/1", "files": [], "removed": ["a/../b"]}', "unsafe path"),
        (b'{"format": "selmirror-bundle/1", "files": [], "removed": [3]}', "is not a string"),
    ],
)
def test_a_hostile_manifest_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: bytes, expected: str
) -> None:
    offline = tmp_path / "offline"
    line = refused(capsys, offline, pack(tmp_path / "hostile.tar", {}, raw=manifest))
    assert expected in line


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["format", "files", "removed", "path", "sha256", "size", "x"]),
                inner,
                max_size=5,
            )
        ),
        max_leaves=30,
    )
)
def test_read_manifest_raises_only_integrity_errors(document: Any) -> None:
    if isinstance(document, dict) and "format" in document and len(document) % 2:
        document["format"] = bundle.FORMAT  # often past the first check
    with contextlib.suppress(IntegrityError):
        bundle.read_manifest(json.dumps(document).encode())  # anything else fails the test


# -- 5. exports leave nothing behind; modes, symlinks, names that differ only in case -----


def partials(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(TMP_PREFIX))


def test_a_killed_export_leaves_a_partial_bundle_that_the_next_export_removes(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, online, _, _ = gap
    usb, other = tmp_path / "usb", tmp_path / "other"
    export = ["export", "--full", "--local-folder", str(online), "--output"]
    for where in (usb, other):
        output = where / "night.tar"
        kill = lambda _, what, output=output: what.endswith(f" {output}")  # noqa: E731
        assert run_killed(capsys, kill, *export, str(output))
        assert len(partials(where)) == 1  # what SIGKILL leaves
        assert not output.exists()
    # the next export, elsewhere: removes the one beside it, and the one the mirror remembers
    assert run(capsys, *export, str(usb / "next.tar"))[0] == 0
    assert partials(usb) == []
    assert partials(other) == []
    assert (usb / "next.tar").is_file()


def test_an_export_still_being_written_is_not_removed(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path
) -> None:
    """A partial bundle is removed only when no export holds its lock (another mirror's
    export may be writing beside ours)."""
    fcntl = pytest.importorskip("fcntl")
    _, online, _, _ = gap
    live = tmp_path / f"{bundle.PARTIAL_PREFIX}live"
    with open(live, "wb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        assert main(["export", "--local-folder", str(online), "-o", str(tmp_path / "b.tar")]) == 0
        assert live.exists()


def test_a_bundle_has_the_mode_of_every_other_file_of_the_mirror(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path
) -> None:
    _, online, _, _ = gap
    output = tmp_path / "b.tar"
    assert main(["export", "--local-folder", str(online), "--output", str(output)]) == 0
    page_mode = stat.S_IMODE((online / "index.html").stat().st_mode)
    assert stat.S_IMODE(output.stat().st_mode) == page_mode
    assert page_mode != 0o600  # the umask of the test run: not mkstemp's


def test_a_symlinked_project_folder_is_refused_out_loud(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, online, _, _ = gap
    elsewhere = tmp_path / "elsewhere" / "inhouse"
    elsewhere.mkdir(parents=True)
    filename, wheel, _ = build_wheel("inhouse", "0.1")
    (elsewhere / filename).write_bytes(wheel)
    (online / "inhouse").symlink_to(elsewhere, target_is_directory=True)

    code, out, err = run(capsys, "index", "--local-folder", str(online))
    assert code == 0
    assert "inhouse: refused, a symlinked project folder" in out
    assert "1 refused" in out
    assert "inhouse" not in (online / "index.html").read_text()

    code, out, err = run(capsys, "verify", "--local-folder", str(online))
    assert code == 4
    assert "inhouse: a symlinked project folder: not on the root page, not exported" in out

    code, out, err = run(capsys, "export", "--local-folder", str(online), "-o", str(tmp_path / "b"))
    assert code == 0
    assert "inhouse is a symlink: left out of the bundle" in err


def test_index_keeps_the_first_of_two_names_that_differ_only_in_case(
    gap: tuple[FakeIndex, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, online, _, _ = gap
    demo = online / "demo"
    demo.mkdir()
    _, first, _ = build_sdist("demo", "1.0")
    _, second, _ = build_sdist("demo", "1.0", requires_python=">=3.9")
    (demo / "Demo-1.0.tar.gz").write_bytes(first)
    (demo / "demo-1.0.tar.gz").write_bytes(second)

    code, out, err = run(capsys, "index", "--local-folder", str(online))
    assert code == 0
    reason = "demo/demo-1.0.tar.gz: refused, its name differs only in case from Demo-1.0.tar.gz"
    assert reason in out  # the report line
    assert reason in err  # the warning
    page = json.loads((demo / JSON_PAGE).read_text())
    assert [f["filename"] for f in page["files"]] == ["Demo-1.0.tar.gz"]

    code, out, _ = run(capsys, "verify", "--local-folder", str(online))
    assert code == 4
    assert "demo/demo-1.0.tar.gz: not on the page: its name differs only in case from" in out


def test_sync_refuses_a_hand_placed_file_whose_name_differs_only_in_case(
    gap: tuple[FakeIndex, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    index, online, _, _ = gap
    _, other, _ = build_sdist("lib", "1.0", requires_python=">=3.9")
    (online / "lib" / "LIB-1.0.tar.gz").write_bytes(other)
    index.add_wheel("lib", "1.1")  # something to do: the sync rewrites lib's pages
    sync = ["sync", "app", *TARGET, "--index", index.url, "--local-folder", str(online)]
    code, _, err = run(capsys, *sync)
    assert code == 0, err
    assert "LIB-1.0.tar.gz: refused, its name differs only in case from lib-1.0.tar.gz" in err
    assert "LIB-1.0" not in (online / "lib" / JSON_PAGE).read_text()


def test_import_refuses_a_bundle_that_would_make_two_names_differ_only_in_case(
    gap: tuple[FakeIndex, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, online, offline, _ = gap
    index.add_wheel("lib", "2.0")
    sync = ["sync", "app", *TARGET, "--index", index.url, "--local-folder", str(online)]
    assert run(capsys, *sync)[0] == 0
    night2 = tmp_path / "night2.tar"
    assert run(capsys, "export", "--local-folder", str(online), "--output", str(night2))[0] == 0
    (offline / "lib" / "LIB-2.0-py3-none-any.whl").write_bytes(b"placed by hand")
    line = refused(capsys, offline, night2)
    assert "lib/lib-2.0-py3-none-any.whl and lib/LIB-2.0-py3-none-any.whl differ only in case" in (
        line
    )


# -- 6. a full disk, a read-only file system: one error line, exit 5 ----------------------


def os_error(code: int, filename: object = None, filename2: object = None) -> OSError:
    if filename is None:
        return OSError(code, os.strerror(code))
    return OSError(code, os.strerror(code), str(filename), None, filename2)


def fail(
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    attr: str,
    code: int,
    when: Callable[..., bool] = lambda *args: True,
    named: bool = True,
) -> None:
    """Make ``target.attr`` raise ``OSError(code)`` when ``when(*args)``; ``named``: with the
    first argument as its filename, as the system call would."""
    real = getattr(target, attr)

    def failing(*args: Any, **kwargs: Any) -> Any:
        if when(*args):
            first = args[0] if args and named else None
            second = args[1] if len(args) > 1 and named and attr == "replace" else None
            raise os_error(code, first, second)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, attr, failing)


def ends(*suffixes: str) -> Callable[..., bool]:
    return lambda *args: any(str(a).endswith(suffixes) for a in args)


@pytest.fixture
def stale(
    gap: tuple[FakeIndex, Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> tuple[FakeIndex, Path, Path, Path]:
    """``gap``, with lib 2.0 mirrored beside lib 1.0: a prune has something to remove."""
    index, online, _, _ = gap
    index.add_wheel("lib", "2.0")
    sync = ["sync", "app", *TARGET, "--index", index.url, "--local-folder", str(online)]
    assert run(capsys, *sync)[0] == 0
    return gap


SCENARIOS = {
    # name: (patch target, attribute, errno, when, the command, the start of the message)
    "export-rename": (os, "replace", errno.EROFS, ends(".tar"), "export", "cannot write {out}"),
    "export-write": (tarfile, "copyfileobj", errno.ENOSPC, None, "export", "cannot write {out}"),
    "export-read": (
        tarfile,
        "bltn_open",
        errno.EACCES,
        ends(".whl"),
        "export",
        "cannot read {whl}",
    ),
    "import-rename": (
        os,
        "replace",
        errno.EROFS,
        ends(".whl"),
        "import",
        "cannot import into {off}/",
    ),
    "import-staging": (tempfile, "mkdtemp", errno.ENOSPC, None, "import", "cannot write to {off}"),
    "prune-record": (os, "fsync", errno.ENOSPC, None, "prune", "cannot write {on}/.selmirror/pe"),
    "prune-page": (
        os,
        "replace",
        errno.EROFS,
        ends(".html"),
        "prune",
        "cannot write {on}/lib/index",
    ),
    "prune-unlink": (
        os,
        "unlink",
        errno.EROFS,
        ends(".whl"),
        "prune",
        "cannot remove files from {on}/",
    ),
    "sync-prune-unlink": (
        os,
        "unlink",
        errno.EROFS,
        ends(".whl"),
        "sync",
        "cannot remove files from",
    ),
    "verify-read": (hashes, "file_digest", errno.EACCES, None, "verify", "cannot read {on}/"),
    "repair-write": (
        os,
        "replace",
        errno.EROFS,
        ends(".metadata"),
        "repair",
        "cannot write {on}/lib",
    ),
    "index-write": (os, "fsync", errno.ENOSPC, None, "index", "cannot write {on}/inhouse/index"),
    "index-read": (hashes, "file_digest", errno.EIO, None, "index", "cannot index {on}/inhouse/in"),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_an_os_error_is_one_output_error_line_naming_the_path(
    stale: tuple[FakeIndex, Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    scenario: str,
) -> None:
    index, online, offline, _ = stale
    target, attr, code, when, command, names = SCENARIOS[scenario]
    out = tmp_path / "night2.tar"
    mirror = ["--local-folder", str(online)]
    args = {
        "export": ["export", *mirror, "--output", str(out)],
        "import": ["import", str(out), "--local-folder", str(offline)],
        "prune": ["prune", "app", *TARGET, "--index", index.url, *mirror],
        "sync": ["sync", "app", "--prune", *TARGET, "--index", index.url, *mirror],
        "verify": ["verify", *mirror],
        "repair": ["verify", "--repair", "--index", index.url, *mirror],
        "index": ["index", *mirror],
    }[command]
    if command == "import":
        assert main(["export", *mirror, "--output", str(out)]) == 0
    if command == "repair":
        sidecar = online / "lib" / "lib-2.0-py3-none-any.whl.metadata"
        sidecar.write_bytes(sidecar.read_bytes() + b"X-Stale: yes\n")
    if command == "index":
        (online / "inhouse").mkdir()
        filename, wheel, _ = build_wheel("inhouse", "0.1")
        (online / "inhouse" / filename).write_bytes(wheel)
    capsys.readouterr()
    fail(monkeypatch, target, attr, code, when or (lambda *args: True), named=attr != "fsync")

    status, _, err = run(capsys, *args)

    assert status == 5, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    whl = online / "lib" / "lib-2.0-py3-none-any.whl"  # the one wheel night 2 carries
    where = names.format(out=out, whl=whl, off=offline, on=online)
    assert errors[0].startswith(f"error: {where}"), errors[0]
    assert os.strerror(code) in errors[0]
    monkeypatch.undo()
    if command in ("prune", "sync"):  # what was recorded is finished by the next run
        assert run(capsys, "index", *mirror)[0] == 0
        recorded = scenario != "prune-record"  # else nothing was decided: nothing changed
        assert (online / "lib" / "lib-1.0-py3-none-any.whl").exists() is not recorded
        assert run(capsys, "verify", *mirror)[0] == 0
