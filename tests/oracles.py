"""Real installers run against a mirror, isolated from this machine's pip/uv configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
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
