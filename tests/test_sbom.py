"""selmirror sbom: a CycloneDX 1.6 document of every file of a real mirror (synced from the
fake index), checked against the schema, the pages and the bytes on disk."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.license import (
    DisjunctiveLicense,
    License,
    LicenseAcknowledgement,
    LicenseExpression,
)
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from fakeindex import FakeIndex, build_wheel
from packageurl import PackageURL

import selmirror
from selmirror import sbom
from selmirror.cli import main
from selmirror.folder import MirrorFolder

TARGET = ["--platform", "linux", "--python-version", "3.12"]
LICENSED = ["License-Expression: mit OR Apache-2.0"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mirror(fake_index: FakeIndex, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """app (wheel, PEP 639 license) -> lib (wheel with a legacy License field; sdist with
    no metadata file and no upload time), and a wheel placed by hand (origin "local")."""
    fake_index.add_wheel(
        "App", "1.0", requires_dist=["lib"], metadata_version="2.4", extra_metadata=LICENSED
    )
    fake_index.add_wheel("lib", "1.0", extra_metadata=["License: MIT"])
    fake_index.add_sdist("lib", "1.0", upload_time=None)
    root = tmp_path / "m"
    args = ["sync", "app", *TARGET, "--index", fake_index.url]
    code, _, err = run(capsys, *args, "--local-folder", str(root))
    assert code == 0, err
    filename, content, _ = build_wheel("hand", "2.0")
    (root / "hand").mkdir()
    (root / "hand" / filename).write_bytes(content)
    code, _, err = run(capsys, "index", "--local-folder", str(root))
    assert code == 0, err
    return root


def by_filename(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's components by the purl's file_name (each must have exactly one)."""
    found: dict[str, dict[str, Any]] = {}
    for component in document["components"]:
        filename = PackageURL.from_string(component["purl"]).qualifiers["file_name"]
        assert filename not in found, f"{filename} is listed twice"
        found[filename] = component
    return found


def properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def sbom_of(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(capsys, "sbom", "--local-folder", str(root), "-o", "-")
    assert code == 0, err
    return out


# -- the document ---------------------------------------------------------------------------


def test_every_file_once_with_its_hash_and_a_valid_document(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = mirror.parent / "mirror.cdx.json"
    code, out, err = run(capsys, "sbom", "--local-folder", str(mirror), "-o", str(output))
    assert code == 0, err
    text = output.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    components = by_filename(document)
    folder = MirrorFolder(mirror)
    recorded = {f: r for name in folder.projects() for f, r in folder.recorded(name).items()}
    assert len(recorded) == 4  # app, lib (wheel and sdist), hand
    assert set(components) == set(recorded)
    assert out == f"{output}: {len(recorded)} file(s)\n"
    for filename, record in recorded.items():
        component = components[filename]
        data = (mirror / record.project / filename).read_bytes()
        assert component["hashes"] == [{"alg": "SHA-256", "content": record.sha256}]
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert properties(component)["selmirror:size"] == str(len(data)) == str(record.size)
        assert component["name"] == record.project
        assert component["version"] == str(record.version)
        purl = PackageURL.from_string(component["purl"])
        assert (purl.type, purl.name, purl.version) == (
            "pypi",
            record.project,
            component["version"],
        )
        assert component["bom-ref"] == component["purl"]
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["tools"]["components"] == [
        {"type": "application", "name": "selmirror", "version": selmirror.__version__}
    ]
    assert document["metadata"]["component"]["name"] == "m"
    assert "timestamp" in document["metadata"]


def test_the_validator_rejects_a_broken_document(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(sbom_of(mirror, capsys))
    document["components"][0]["hashes"][0]["alg"] = "SHA-257"
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    assert validator.validate_str(json.dumps(document)) is not None


def test_licenses_upload_times_and_origins(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    components = by_filename(json.loads(sbom_of(mirror, capsys)))
    app, lib, lib_sdist, hand = (
        components["App-1.0-py3-none-any.whl"],
        components["lib-1.0-py3-none-any.whl"],
        components["lib-1.0.tar.gz"],
        components["hand-2.0-py3-none-any.whl"],
    )
    assert app["name"] == "app"  # normalized, though upstream says "App"
    assert app["licenses"] == [{"expression": "MIT OR Apache-2.0", "acknowledgement": "declared"}]
    assert lib["licenses"] == [{"license": {"id": "MIT", "acknowledgement": "declared"}}]
    assert "licenses" not in lib_sdist  # no metadata file for it
    assert "licenses" not in hand
    assert properties(app)["selmirror:upload-time"] == "2024-01-01T00:00:00Z"
    assert "selmirror:upload-time" not in properties(lib_sdist)
    assert "selmirror:upload-time" not in properties(hand)
    assert properties(app)["selmirror:origin"] == "upstream"
    assert properties(hand)["selmirror:origin"] == "local"


def expression(text: str) -> LicenseExpression:
    return LicenseExpression(text, acknowledgement=LicenseAcknowledgement.DECLARED)


def named(*, id: str | None = None, name: str | None = None) -> DisjunctiveLicense:
    return DisjunctiveLicense(id=id, name=name, acknowledgement=LicenseAcknowledgement.DECLARED)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["License-Expression: mit OR apache-2.0"], [expression("MIT OR Apache-2.0")]),
        (["License-Expression: MIT", "License: BSD"], [expression("MIT")]),  # PEP 639 first
        (["License-Expression: LicenseRef-Corp"], [expression("LicenseRef-Corp")]),
        (["License-Expression: MIT and more"], [named(name="MIT and more")]),  # not SPDX
        (["License: Apache-2.0"], [named(id="Apache-2.0")]),
        (["License: Apache 2.0"], [named(name="Apache 2.0")]),
        (["License: Copyright 2024 Someone", "        all rights reserved"], []),  # a text
        (["License: UNKNOWN"], []),
        (["Classifier: License :: OSI Approved :: MIT License"], []),
        ([], []),
    ],
)
def test_license_from_core_metadata(lines: list[str], expected: list[License]) -> None:
    metadata = "Metadata-Version: 2.4\nName: x\nVersion: 1\n" + "".join(f"{x}\n" for x in lines)
    assert sbom.licenses(metadata.encode(), "x-1-py3-none-any.whl") == expected


def test_a_missing_metadata_file_leaves_the_license_out(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (mirror / "app" / "App-1.0-py3-none-any.whl.metadata").unlink()
    code, out, err = run(capsys, "sbom", "--local-folder", str(mirror), "-o", "-")
    assert code == 0, err
    assert "licenses" not in by_filename(json.loads(out))["App-1.0-py3-none-any.whl"]
    assert "App-1.0-py3-none-any.whl.metadata is advertised but missing" in err


# -- the command ----------------------------------------------------------------------------


def test_to_stdout(mirror: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = sbom_of(mirror, capsys)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert len(by_filename(json.loads(text))) == 4


def test_no_mirror(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sbom", "--local-folder", str(tmp_path / "none"), "-o", "-")
    assert (code, out) == (2, "")
    assert err == f"error: no mirror at {tmp_path / 'none'}\n"


def test_output_cannot_be_written(mirror: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = mirror.parent / "missing" / "mirror.cdx.json"
    code, out, err = run(capsys, "sbom", "--local-folder", str(mirror), "-o", str(output))
    assert (code, out) == (5, "")
    assert err.startswith(f"error: cannot write {output}: ")
    assert err.count("\n") == 1


def test_without_the_extra(
    mirror: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "cyclonedx" or m.startswith("cyclonedx.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "selmirror.sbom")
    monkeypatch.delattr(selmirror, "sbom")
    code, out, err = run(capsys, "sbom", "--local-folder", str(mirror), "-o", "-")
    assert (code, out) == (2, "")
    assert err == (
        "error: selmirror sbom needs its extra (cyclonedx is missing): "
        "pip install 'selmirror[sbom]'\n"
    )
