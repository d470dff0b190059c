"""``selmirror publish``: its options, the bucket, and the plan carried out in order.

The mirror's folder stays the working copy: publish reads it under its lock (no sync
changes it meanwhile) and makes the bucket say the same, putting only what changed since
the last publish to that bucket and prefix (remembered in
``.selmirror/published/``), in the order :mod:`selmirror.publish.plan` gives.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from selmirror import cutoff
from selmirror.commands import base_parser
from selmirror.errors import InputError, OutputError
from selmirror.folder import HTML_PAGE, STATE_DIR, MirrorFolder, atomic_write
from selmirror.publish import plan as planning
from selmirror.publish.bucket import LOCK_KEY, Bucket
from selmirror.publish.inventory import inventory

log = logging.getLogger("selmirror")
STATE_FOLDER = "published"
LOCK_FOLDER = ".selmirror-publish/"  # lock objects live here, outside any index prefix


def parse(argv: Sequence[str]) -> argparse.Namespace:
    p = base_parser("publish", "Publish the mirror to S3-compatible object storage.")
    p.add_argument("target", metavar="s3://BUCKET[/PREFIX]")
    p.add_argument("--endpoint-url", metavar="URL", help="an S3-compatible server's URL")
    p.add_argument("--region", metavar="NAME")
    p.add_argument("--profile", metavar="NAME", help="an AWS profile for the credentials")
    p.add_argument("--dry-run", action="store_true", help="say what would change; change nothing")
    p.add_argument(
        "--full", action="store_true", help="compare with what the bucket holds, not the record"
    )
    p.add_argument("--workers", type=int, default=8, metavar="N", help="parallel uploads (8)")
    p.add_argument(
        "--delete-after",
        default="PT1H",
        metavar="DURATION",
        help="delete objects no page lists once they have been unlisted this long (PT1H), so "
        "that pages a CDN cached before still work",
    )
    p.add_argument(
        "--directory-page",
        choices=("json", "html", "none"),
        default="json",
        help="what GET PREFIX/name/ answers: JSON (current pip and uv, with upload times), "
        "HTML (older clients), or none (servers that take name/ for a folder: SeaweedFS)",
    )
    p.add_argument(
        "--stale-lock", type=float, default=3600.0, metavar="S", help="take over older locks"
    )
    args = p.parse_args(list(argv))
    args.command = "publish"
    parts = urlsplit(args.target)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise InputError(f"{args.target!r} is not s3://BUCKET[/PREFIX]")
    args.bucket = parts.netloc
    try:
        args.prefix = planning.normalize_prefix(parts.path)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if not 1 <= args.workers <= 64:
        raise InputError("--workers must be 1 to 64")
    try:
        now = datetime.now(timezone.utc)
        args.delay = now - cutoff.parse(args.delete_after, now)
    except cutoff.BadCutoff as exc:
        raise InputError(f"--delete-after: {exc}") from None
    if args.delay < timedelta(0) or not args.delete_after.upper().startswith("P"):
        raise InputError("--delete-after takes a duration (PT0S, PT1H, P1D)")
    return args


def client(args: argparse.Namespace) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise InputError(
            f"selmirror publish needs its extra ({(exc.name or '').split('.')[0]} is missing): "
            "pip install 'selmirror[publish]'"
        ) from None
    session = boto3.session.Session(profile_name=args.profile, region_name=args.region)
    config = Config(retries={"mode": "adaptive", "max_attempts": 10})
    return session.client("s3", endpoint_url=args.endpoint_url, config=config)


def run(args: argparse.Namespace, out: TextIO, make_client: Callable[..., Any] = client) -> int:
    folder = MirrorFolder(args.local_folder)
    if not (folder.root / HTML_PAGE).is_file():
        raise InputError(f"no mirror at {folder.root}")
    bucket = Bucket(make_client(args), args.bucket)
    started = time.monotonic()
    with folder.lock(args.lock_timeout):
        wanted = planning.objects(inventory(folder), args.prefix, args.directory_page)
        record = _state_path(folder, args)
        state = _load(record)
        if args.full or state is None:
            # what the bucket holds: ours (with a sha256) are compared and may go; others
            # are replaced where the mirror has the key, and otherwise left alone
            keys = {p.key for p in wanted}
            published = {
                k: v or ""
                for k, v in bucket.listing(args.prefix).items()
                if (v or k in keys) and not k.startswith(LOCK_FOLDER)
            }
            unlisted = (state or {}).get("unlisted", {})
        else:
            published, unlisted = state["objects"], state.get("unlisted", {})
        now = datetime.now(timezone.utc)
        todo = planning.plan(wanted, published, unlisted, now=now, delay=args.delay)
        if args.dry_run:
            print(_summary(todo, "would put", time.monotonic() - started), file=out)
            return 0
        lock_key = f"{LOCK_FOLDER}{args.prefix}{LOCK_KEY}"
        bucket.lock(lock_key, args.stale_lock)
        try:
            for phase in (todo.files, todo.pages, todo.roots):
                _put_all(bucket, folder.root, phase, args.workers)
                published.update({p.key: p.sha256 for p in phase})
                _save(record, published, todo.unlisted)
            bucket.delete(todo.deletes)
            for key in todo.deletes:
                published.pop(key, None)
            _save(record, published, todo.unlisted)
        finally:
            bucket.unlock(lock_key)
    print(_summary(todo, "put", time.monotonic() - started), file=out)
    return 0


def _put_all(bucket: Bucket, root: Path, puts: Sequence[planning.Put], workers: int) -> None:
    if not puts:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(puts))) as pool:
        list(pool.map(lambda p: bucket.put(p, root), puts))  # the first error is raised


def _summary(todo: planning.Plan, verb: str, seconds: float) -> str:
    size = sum(p.size for p in todo.puts)
    line = (
        f"{verb} {len(todo.puts)} object(s) ({size / 1e6:.1f} MB), {todo.unchanged} unchanged, "
        f"{len(todo.deletes)} deleted"
    )
    if todo.unlisted:
        line += f", {len(todo.unlisted)} unlisted (deleted after --delete-after)"
    return f"{line}; {seconds:.1f}s"


def _state_path(folder: MirrorFolder, args: argparse.Namespace) -> Path:
    where = f"{args.endpoint_url or 'aws'}|{args.bucket}|{args.prefix}"
    name = hashlib.sha256(where.encode()).hexdigest()[:16]
    return folder.root / STATE_DIR / STATE_FOLDER / f"{name}.json"


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("ignoring unreadable %s: comparing with the bucket instead", path)
        return None
    ok = isinstance(data, dict) and isinstance(data.get("objects"), dict)
    return data if ok else None


def _save(path: Path, published: dict[str, str], unlisted: Mapping[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"objects": published, "unlisted": dict(unlisted)}
        atomic_write(path, json.dumps(body, sort_keys=True).encode())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
