"""``selmirror serve``: its options, its checks, and the server processes (granian).

granian (a Rust HTTP server for Python applications, with ASGI and zero-copy file sends)
runs ``--workers`` processes, each with the application built from the same
:class:`~selmirror.serve.app.Settings`. SIGTERM and SIGINT stop it cleanly: connections in
flight finish, the workers exit, then the main process; SIGHUP restarts the workers.
"""

from __future__ import annotations

import argparse
import errno
import functools
import logging
import os
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from selmirror.commands import base_parser
from selmirror.errors import InputError, OutputError
from selmirror.folder import HTML_PAGE

if TYPE_CHECKING:
    from selmirror.serve.app import Settings

log = logging.getLogger("selmirror")
MAX_WORKERS = 64


def _prefix(text: str) -> str:
    if not text.startswith("/") or any(c in text for c in " \t\r\n\"'{};$?#%\\"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a URL path such as /simple/")
    return text.rstrip("/") + "/"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number from {low} to {high}")
        return value

    return check


def _size(text: str) -> int:
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    number, unit = text.rstrip("kKmMgGbB"), text[len(text.rstrip("kKmMgGbB")) :].lower()
    unit = unit.removesuffix("ib").removesuffix("b")
    try:
        value = int(number) * units[unit]
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 500M") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size above 0")
    return value


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = base_parser("serve", "Serve the mirror as a PEP 503/691 index (and take uploads if asked).")
    p.set_defaults(lock_timeout=60.0)  # an upload's wait for a sync: not a sync's for another
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (127.0.0.1; 0.0.0.0 or :: for every interface)",
    )
    p.add_argument("--port", type=_port, default=8080, help="8080; 0 picks a free one")
    p.add_argument(
        "--prefix", type=_prefix, default="/simple/", help="the index's URL path (/simple/)"
    )
    p.add_argument(
        "--workers",
        type=_bounded(1, MAX_WORKERS),
        default=min(os.cpu_count() or 1, 8),
        help="server processes (one per core, at most 8, by default)",
    )
    p.add_argument(
        "--page-max-age",
        type=_bounded(0, 86_400),
        default=60,
        metavar="S",
        help="how long clients and caches may reuse a page before asking again (60)",
    )
    p.add_argument(
        "--log-format",
        choices=("plain", "json", "off"),
        default="plain",
        help="the access log on stderr, one line per request (plain)",
    )
    p.add_argument(
        "--upload-htpasswd",
        type=Path,
        metavar="FILE",
        help="take uploads (twine, uv publish) from the users of this htpasswd file",
    )
    p.add_argument(
        "--allow-overwrite",
        action="store_true",
        help="an upload may replace a file of the same name (refused with 409 otherwise)",
    )
    p.add_argument(
        "--max-upload-size",
        type=_size,
        default=_size("2G"),
        metavar="SIZE",
        help="the largest upload taken (2G)",
    )
    p.add_argument(
        "--print-config",
        choices=("nginx", "caddy"),
        help="print a config with the same behaviour for that server, and exit",
    )
    return p.parse_args(list(argv))


def run(args: argparse.Namespace, out: TextIO) -> int:
    root = args.local_folder.absolute()
    if args.print_config:
        from selmirror.serve import configs

        print(
            configs.render(
                args.print_config,
                root=root,
                prefix=args.prefix,
                host=args.host,
                port=args.port or 8080,
                page_max_age=args.page_max_age,
            ),
            file=out,
        )
        return 0
    if not root.is_dir():
        raise InputError(f"no mirror at {root}")
    try:
        import granian.server  # noqa: F401 - here, so that a missing extra is one line
        import python_multipart  # noqa: F401
        import starlette  # noqa: F401

        if args.upload_htpasswd is not None:
            import bcrypt  # noqa: F401
        settings = _settings(args, root)
    except ImportError as exc:
        raise InputError(
            f"selmirror serve needs its extra ({(exc.name or '').split('.')[0]} is missing): "
            "pip install 'selmirror[serve]'"
        ) from None
    sock = _bind(args.host, args.port)
    if not (root / HTML_PAGE).is_file():
        log.warning("%s has no root page yet: /ready answers 503 until a sync writes it", root)
    host, port = sock.getsockname()[:2]
    sock.close()  # granian binds it again, in its own way; we only checked it can be had
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {root} at http://{shown}:{port}{args.prefix}", file=out, flush=True)
    _serve(settings, host, port, args.workers)
    return 0


def _settings(args: argparse.Namespace, root: Path) -> Settings:
    from selmirror.serve.app import Settings

    upload = None
    if args.upload_htpasswd is not None:
        from selmirror.serve.upload import UploadSettings, load_htpasswd

        upload = UploadSettings(
            htpasswd=args.upload_htpasswd.absolute(),
            users=load_htpasswd(args.upload_htpasswd),
            allow_overwrite=args.allow_overwrite,
            max_size=args.max_upload_size,
            lock_timeout=args.lock_timeout,
        )
    return Settings(
        root=root,
        prefix=args.prefix,
        page_max_age=args.page_max_age,
        log_format=args.log_format,
        upload=upload,
    )


def _bind(host: str, port: int) -> socket.socket:
    """Check that ``host:port`` can be listened on (and pick the port for 0)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"--host {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        raise OutputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    level = LogLevels.warning if log.getEffectiveLevel() >= logging.INFO else LogLevels.info
    server = Server(
        target="selmirror",  # not imported: the loader below builds the application
        address=host,
        port=port,
        interface=Interfaces.ASGINL,
        workers=workers,
        log_level=level,
        log_access=False,  # ours, in the application: plain or JSON
    )
    sys.stdout.flush()
    server.serve(target_loader=functools.partial(_load, settings), wrap_loader=False)


def _load(settings: Settings, *args: object, **kwargs: object) -> Callable[..., Any]:
    """granian's loader, run in each worker process: the application for ``settings``."""
    from selmirror.serve.app import App

    return App(settings)
