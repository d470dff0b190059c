"""Benchmark: ``selmirror serve`` against nginx (the ceiling) and pypiserver (what users run
today), on the same mirror (W3's tree), side by side in one run.

    python benchmarks/bench_serve.py [--mirror DIR] [--seconds 5] [--rounds 2]
                                     [--pypiserver PATH] [--no-pip]

- wrk (Debian's ``wrk``) on loopback, bounded runs: requests per second and p99 latency for
  a project page as JSON and as HTML and for a ``.metadata`` file, 64 connections; MB/s
  for a large wheel, 8 connections. Each server in turn, ``--rounds`` times; the medians.
  pypiserver has no JSON pages and no ``.metadata``: those cells say so.
- ``pip install`` of the whole W3 file (53 projects) into an empty target, through serve
  and through nginx, alternating, ``--rounds`` times each.

nginx runs the config ``selmirror serve --print-config nginx`` prints (so both give the same
answers), with as many workers as serve has (one per core). Each server logs every request,
as it would in production. pypiserver is the PyPI package ``pypiserver`` (its ``pypi-server``
command, from PATH or ``--pypiserver``), set up as its README advises for speed:
``pip install 'pypiserver[cache]' waitress`` (watchdog caches the directory listing).

Without ``--mirror``, W3's tree is built first (Linux x86_64, CPython 3.12), which needs the
network. Goals: pages >= 50% of nginx's requests per second and >= 5x pypiserver's; files
>= 80% of nginx's MB/s; the pip install through serve within 10% of nginx's time.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from selmirror.serve import configs  # noqa: E402

W3 = HERE.parent.parent / "shared" / "workloads" / "w3-team.txt"
JSON = "application/vnd.pypi.simple.v1+json"
PROJECT = "numpy"  # a page, its .metadata and its wheel (the largest file of the tree)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early: {process.args}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


@contextmanager
def running(
    command: list[str], url: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[None]:
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env, start_new_session=True)
    try:
        wait_up(url, process)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wrk(url: str, seconds: int, connections: int, accept: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if accept:
        command[1:1] = ["-H", f"Accept: {accept}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    mb = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "mb_s": float(transfer.group(1)) * mb[transfer.group(2)] if transfer else 0.0,
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def build_mirror(target: Path) -> None:
    selmirror = Path(sys.executable).with_name("selmirror")
    subprocess.run(
        [
            str(selmirror),
            "-r",
            str(W3),
            "--platform",
            "linux",
            "--python-version",
            "3.12",
            "--local-folder",
            str(target),
            "-q",
        ],
        check=True,
    )


def pip_install(index: str, tmp: Path) -> float:
    target = Path(tempfile.mkdtemp(dir=tmp))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-cache-dir",
            "--index-url",
            index,
            "--target",
            str(target),
            "--python-version",
            "3.12",
            "--only-binary=:all:",
            "-r",
            str(W3),
        ],
        check=True,
        env=env,
    )
    elapsed = time.perf_counter() - started
    shutil.rmtree(target)
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mirror", type=Path)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pypiserver", default=shutil.which("pypi-server"))
    p.add_argument("--no-pip", action="store_true", help="skip the pip install comparison")
    args = p.parse_args()
    if not shutil.which("wrk") or not shutil.which("nginx"):
        raise SystemExit("needs wrk and nginx (apt-get install wrk nginx-light)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    root = args.mirror.resolve() if args.mirror else tmp / "simple"
    if not args.mirror:
        build_mirror(root)
    wheel = max((root / PROJECT).glob("*.whl"), key=lambda f: f.stat().st_size).name
    workers = str(os.cpu_count() or 1)

    ports = {"serve": free_port(), "nginx": free_port(), "pypiserver": free_port()}
    runtime = tmp / "nginx"
    runtime.mkdir()
    conf = tmp / "nginx.conf"
    text = configs.render("nginx", root=root, port=ports["nginx"], runtime_dir=runtime)
    conf.write_text(text.replace("access_log off;", f"access_log {runtime}/access.log;"))
    servers = {
        "serve": (
            [
                str(Path(sys.executable).with_name("selmirror")),
                "serve",
                "--local-folder",
                str(root),
                "--port",
                str(ports["serve"]),
                "--workers",
                workers,
            ],
            f"http://127.0.0.1:{ports['serve']}",
        ),
        "nginx": (
            ["nginx", "-c", str(conf), "-g", "daemon off;"],
            f"http://127.0.0.1:{ports['nginx']}",
        ),
    }
    if args.pypiserver:
        servers["pypiserver"] = (
            [
                args.pypiserver,
                "run",
                "-p",
                str(ports["pypiserver"]),
                "-i",
                "127.0.0.1",
                "--log-stream",
                "stderr",
                str(root),
            ],
            f"http://127.0.0.1:{ports['pypiserver']}",
        )
    cases = [
        ("page JSON", f"/simple/{PROJECT}/", JSON, 64),
        ("page HTML", f"/simple/{PROJECT}/", "text/html", 64),
        (".metadata", f"/simple/{PROJECT}/{wheel}.metadata", None, 64),
        ("file", f"/simple/{PROJECT}/{wheel}", None, 8),
    ]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for name, (command, base) in servers.items():
            with running(command, base + "/simple/", tmp / f"{name}.log"):
                for case, path, accept, connections in cases:
                    if name == "pypiserver":
                        if case in ("page JSON", ".metadata"):
                            continue  # pypiserver has neither
                        path = path.replace("/simple/", "/packages/") if case == "file" else path
                    got = wrk(base + path, args.seconds, connections, accept)
                    runs.setdefault((name, case), []).append(got)
    results = {
        key: {k: statistics.median(r[k] for r in cells) for k in cells[0]}
        for key, cells in runs.items()
    }
    print(
        f"\nW3 tree: {root} ({sum(1 for _ in root.iterdir())} entries); {workers} workers; "
        f"wrk {args.seconds}s per cell, median of {args.rounds} rounds\n"
    )
    names = ("serve", "nginx", "pypiserver")
    print(
        f"{'':12} "
        + " ".join(f"{n:>22}" for n in names)
        + f" {'serve/nginx':>12} {'/pypiserver':>12}"
    )
    for case, *_ in cases:
        row = [f"{case:12}"]
        unit = "mb_s" if case == "file" else "rps"
        for name in ("serve", "nginx", "pypiserver"):
            r = results.get((name, case))
            if r is None:
                row.append(f"{'n/a':>22}")
            elif unit == "mb_s":
                row.append(f"{r['mb_s']:>10.0f} MB/s p99 {r['p99_ms']:>5.1f}ms")
            else:
                row.append(f"{r['rps']:>9.0f} r/s p99 {r['p99_ms']:>5.1f}ms")
        s, n, q = (results.get((k, case)) for k in ("serve", "nginx", "pypiserver"))
        row.append(f"{s[unit] / n[unit]:>11.2f}x" if s and n else f"{'':>12}")
        row.append(f"{s[unit] / q[unit]:>11.1f}x" if s and q else f"{'':>12}")
        print(" ".join(row))
    errors = {k: v["errors"] for k, v in results.items() if v["errors"]}
    if errors:
        print(f"non-2xx answers: {errors}")

    if not args.no_pip:
        times: dict[str, list[float]] = {"serve": [], "nginx": []}
        for _ in range(args.rounds):
            for name in ("serve", "nginx"):
                command, base = servers[name]
                with running(command, base + "/simple/", tmp / f"{name}-pip.log"):
                    times[name].append(pip_install(base + "/simple/", tmp))
        s, n = statistics.median(times["serve"]), statistics.median(times["nginx"])
        print(
            f"\npip install -r w3 (53 projects), median of {args.rounds}: "
            f"serve {s:.1f}s, nginx {n:.1f}s: serve/nginx {s / n:.2f}x "
            f"(serve {', '.join(f'{t:.1f}' for t in times['serve'])}; "
            f"nginx {', '.join(f'{t:.1f}' for t in times['nginx'])})"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
