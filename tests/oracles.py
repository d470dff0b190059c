"""Real installers run against a mirror, isolated from this machine's pip/uv configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from uv import find_uv_bin


def clean_env(tmp: Path) -> dict[str, str]:
    """No PIP_*/UV_* settings, no config files, a private cache: only what we pass counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_NO_CONFIG": "1",
        "UV_CACHE_DIR": str(tmp / "uv-cache"),
        "NO_COLOR": "1",
    }
    return env


def _url(mirror: Path | str) -> str:
    return mirror if isinstance(mirror, str) else mirror.resolve().as_uri()


def pip_install_dry_run(
    mirror: Path | str, requirements: Sequence[str], tmp: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``pip install --dry-run`` of ``requirements`` from ``mirror`` only (a folder or a URL)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--index-url",
            _url(mirror),
            *extra,
            *requirements,
        ],
        capture_output=True,
        text=True,
        env=clean_env(tmp),
        check=False,
    )


def uv_compile(
    mirror: Path | str, requirements: Sequence[str], tmp: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """``uv pip compile`` of ``requirements`` against ``mirror`` only (a folder or a URL).

    For a folder uv runs ``--offline``: no network at all.
    """
    offline = ["--offline"] if isinstance(mirror, Path) else []
    return subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "compile",
            *offline,
            "--no-header",
            "--quiet",
            "--index-url",
            _url(mirror),
            *extra,
            "-",
        ],
        input="\n".join(requirements) + "\n",
        capture_output=True,
        text=True,
        env=clean_env(tmp),
        check=False,
    )


def assert_installable(
    mirror: Path | str, requirements: Sequence[str], tmp: Path, *extra: str
) -> None:
    """Both pip and uv resolve ``requirements`` from the mirror alone."""
    pip = pip_install_dry_run(mirror, requirements, tmp, *extra)
    assert pip.returncode == 0, pip.stderr + pip.stdout
    uv = uv_compile(mirror, requirements, tmp, *extra)
    assert uv.returncode == 0, uv.stderr + uv.stdout


@dataclass
class Builds:
    """One run of pip and of uv against the index (each only), side by side."""

    pip: subprocess.CompletedProcess[str]
    uv: subprocess.CompletedProcess[str]
    target: Path  # where uv installed

    def assert_ok(self, *would_install: str) -> None:
        assert self.pip.returncode == 0, self.pip.stdout + self.pip.stderr
        assert self.uv.returncode == 0, self.uv.stdout + self.uv.stderr
        assert f"Would install {' '.join(would_install)}\n" in self.pip.stdout

    def assert_failed(self, pip_says: str, uv_says: str) -> None:
        assert self.pip.returncode != 0, self.pip.stdout
        assert self.uv.returncode != 0, self.uv.stdout
        assert pip_says in self.pip.stdout + self.pip.stderr
        assert uv_says in self.uv.stdout + self.uv.stderr


def build_with_pip_and_uv(mirror: Path | str, requirements: Sequence[str], tmp: Path) -> Builds:
    """pip's ``install --dry-run --ignore-installed`` (which prepares sdist metadata in an
    isolated build environment: get_requires_for_build_wheel, prepare_metadata_for_build_wheel)
    and a real ``uv pip install --no-cache --target`` (which builds the wheel), concurrently.
    Each gets ``mirror`` (a folder, then uv runs ``--offline``, or an index URL) as its only
    index and no configuration."""
    tmp = Path(tempfile.mkdtemp(dir=tmp))
    target = tmp / "target"
    env = {k: v for k, v in clean_env(tmp).items() if not k.lower().endswith("_proxy")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    offline = ["--offline"] if isinstance(mirror, Path) else []
    uv = [
        find_uv_bin(), "pip", "install", "--no-cache", *offline, "--python", sys.executable,
        "--target", str(target), "--index-url", _url(mirror), *requirements,
    ]  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        pip_run = pool.submit(pip_install_dry_run, mirror, requirements, tmp / "pip")
        uv_run = pool.submit(
            subprocess.run, uv, env=env, capture_output=True, text=True, timeout=120
        )
        return Builds(pip_run.result(timeout=120), uv_run.result(), target)
