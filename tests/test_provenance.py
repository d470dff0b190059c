"""PEP 740 provenance: fetched beside each file, fetched again, linked under --base-url."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from selmirror.cli import main
from tests.fakeindex import FakeIndex
from tests.test_e2e import selmirror

WHEEL = "alpha-1.0-py3-none-any.whl"


def _provenance(n: int) -> bytes:
    bundle = {"publisher": {"kind": "GitHub", "repository": "a/alpha"}, "attestations": [n]}
    return json.dumps({"version": 1, "attestation_bundles": [bundle]}).encode()


def _entry(mirror: Path, name: str = "alpha", filename: str = WHEEL) -> dict[str, object]:
    page = json.loads((mirror / name / "index.v1_json").read_text())
    return next(e for e in page["files"] if e["filename"] == filename)  # type: ignore[no-any-return]


def test_provenance_is_fetched_kept_fetched_again_and_linked_only_with_a_base_url(
    any_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = any_index.add_wheel("alpha", "1.0")
    f.provenance = _provenance(1)
    any_index.add_wheel("beta", "1.0")  # none advertised
    mirror = tmp_path / "simple"
    assert selmirror(capsys, any_index, mirror, "alpha", "beta")[0] == 0
    kept = mirror / "alpha" / f"{WHEEL}.provenance"
    assert kept.read_bytes() == _provenance(1)
    entry = _entry(mirror)
    assert entry["_provenance-sha256"] == hashlib.sha256(_provenance(1)).hexdigest()
    assert "provenance" not in entry  # no --base-url: PEP 740 wants an absolute URL
    assert "data-provenance" not in (mirror / "alpha" / "index.html").read_text()
    assert not list((mirror / "beta").glob("*.provenance"))
    # upstream adds an attestation: the next run that reads the pages fetches it again (one
    # that finds nothing changed upstream takes its shortcut: a page changes here)
    f.provenance = _provenance(2)
    any_index.add_wheel("beta", "0.9")
    base = "https://mirror.example/simple"
    assert selmirror(capsys, any_index, mirror, "alpha", "beta", "--base-url", base)[0] == 0
    assert kept.read_bytes() == _provenance(2)
    url = f"{base}/alpha/{WHEEL}.provenance"
    assert _entry(mirror)["provenance"] == url
    assert f'data-provenance="{url}"' in (mirror / "alpha" / "index.html").read_text()
    # remembered: a later index run keeps linking it; the beta page has no link
    assert main(["index", "--local-folder", str(mirror), "--full"]) == 0
    assert _entry(mirror)["provenance"] == url
    assert "provenance" not in _entry(mirror, "beta", "beta-1.0-py3-none-any.whl")
    assert main(["verify", "--local-folder", str(mirror)]) == 0
    # a copy that no longer matches its page is found by verify
    kept.write_bytes(_provenance(3))
    capsys.readouterr()
    assert main(["verify", "--local-folder", str(mirror)]) != 0
    assert f"alpha/{WHEEL}.provenance: sha256 " in capsys.readouterr().out
    # upstream stops advertising one: ours goes too
    f.provenance = None  # the page changes
    assert selmirror(capsys, any_index, mirror, "alpha", "beta", "--base-url", base)[0] == 0
    assert not kept.exists()
    assert "_provenance-sha256" not in _entry(mirror)
    assert main(["verify", "--local-folder", str(mirror)]) == 0


def test_a_provenance_that_fails_to_fetch_or_is_no_provenance_leaves_the_file_mirrored(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0")
    f.provenance = b'{"not": "a provenance"}'
    mirror = tmp_path / "simple"
    code, _, err = selmirror(capsys, fake_index, mirror, "alpha")
    assert code == 0
    assert "is not a PEP 740 provenance object" in err
    assert (mirror / "alpha" / WHEEL).is_file()
    assert not (mirror / "alpha" / f"{WHEEL}.provenance").exists()
    assert "_provenance-sha256" not in _entry(mirror)


def test_provenance_travels_in_bundles_and_goes_with_a_pruned_file(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = fake_index.add_wheel("alpha", "1.0")
    f.provenance = _provenance(1)
    mirror, offline, bundle = tmp_path / "simple", tmp_path / "offline", tmp_path / "b.tar"
    assert selmirror(capsys, fake_index, mirror, "alpha")[0] == 0
    assert main(["export", "--local-folder", str(mirror), "--output", str(bundle)]) == 0
    assert main(["import", str(bundle), "--local-folder", str(offline)]) == 0
    assert (offline / "alpha" / f"{WHEEL}.provenance").read_bytes() == _provenance(1)
    assert main(["verify", "--local-folder", str(offline)]) == 0
    fake_index.add_wheel("alpha", "2.0")
    assert selmirror(capsys, fake_index, mirror, "alpha", "--prune")[0] == 0
    assert not (mirror / "alpha" / f"{WHEEL}.provenance").exists()


def test_base_url_must_be_https(
    fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = selmirror(capsys, fake_index, tmp_path / "m", "x", "--base-url", "http://a/")
    assert code == 2
    assert "--base-url" in err
    assert "https" in err
