"""The S3 edge of ``publish``: puts, deletes, listings and the lock object, through boto3.

Every boto3 and botocore error is mapped here to :class:`UpstreamError` (the bucket
refused or could not be reached) or :class:`OutputError` (a local file), naming the key.
Credentials come from boto3's usual chain and are never printed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selmirror.errors import Locked, OutputError, UpstreamError
from selmirror.publish.plan import Put

log = logging.getLogger(__name__)
LOCK_KEY = ".selmirror-publish.lock"  # beside the prefix, never inside the index


class Bucket:
    """One bucket; ``client`` is a boto3 S3 client (``botocore`` imported lazily)."""

    def __init__(self, client: Any, name: str) -> None:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        self.client = client
        self.name = name
        self.errors: tuple[type[Exception], ...] = (Boto3Error, BotoCoreError, ClientError)

    def put(self, put: Put, root: Path) -> None:
        """Upload one object (multipart when large, boto3 decides) with its headers and
        its sha256 as metadata, which a later ``--full`` compares without downloading."""
        extra = {
            "ContentType": put.content_type,
            "CacheControl": put.cache_control,
            "Metadata": {"sha256": put.sha256},
        }
        try:
            self.client.upload_file(str(root / put.source), self.name, put.key, ExtraArgs=extra)
        except OSError as exc:
            raise OutputError(f"cannot read {root / put.source}: {exc.strerror}") from None
        except self.errors as exc:
            raise _refused(f"cannot put s3://{self.name}/{put.key}", exc) from None

    def delete(self, keys: Iterable[str]) -> None:
        batch = [{"Key": k} for k in keys]
        for start in range(0, len(batch), 1000):  # DeleteObjects takes 1,000 at a time
            try:
                answer = self.client.delete_objects(
                    Bucket=self.name, Delete={"Objects": batch[start : start + 1000]}
                )
            except self.errors as exc:
                raise _refused(f"cannot remove objects in s3://{self.name}", exc) from None
            for error in answer.get("Errors", []):
                raise UpstreamError(
                    f"cannot delete s3://{self.name}/{error.get('Key')}: {error.get('Message')}"
                )

    def listing(self, prefix: str) -> dict[str, str | None]:
        """Every key under ``prefix`` with the sha256 its metadata says (``None``: none)."""
        keys: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix
            )
            for page in pages:
                keys += [o["Key"] for o in page.get("Contents", [])]
            found: dict[str, str | None] = {}
            for key in keys:
                head = self.client.head_object(Bucket=self.name, Key=key)
                found[key] = head.get("Metadata", {}).get("sha256")
        except self.errors as exc:
            raise _refused(f"cannot list s3://{self.name}/{prefix}", exc) from None
        return found

    def lock(self, key: str, stale: float) -> None:
        """Take the lock object (a conditional create); a lock older than ``stale``
        seconds is taken over, a younger one is :class:`Locked`."""
        body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "at": time.time()})
        for _ in range(2):
            try:
                self.client.put_object(
                    Bucket=self.name, Key=key, Body=body.encode(), IfNoneMatch="*"
                )
                return
            except self.errors as exc:
                if _status(exc) not in (409, 412):
                    raise _refused(f"cannot take the lock s3://{self.name}/{key}", exc) from None
            holder = self._holder(key)
            age = time.time() - float(holder.get("at", 0))
            if age < stale:
                raise Locked(
                    f"s3://{self.name}/{key} is held by {holder.get('host')} "
                    f"(pid {holder.get('pid')}) since {age:.0f}s: another publish is running",
                    hint=f"wait, or remove the lock object if that publish is gone "
                    f"(taken over after {stale:.0f}s)",
                )
            log.warning("taking over a stale publish lock (%.0fs old)", age)
            self.unlock(key)
        raise Locked(f"s3://{self.name}/{key}: another publish took the lock first")

    def unlock(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.name, Key=key)
        except self.errors as exc:
            raise _refused(f"cannot release s3://{self.name}/{key}", exc) from None

    def _holder(self, key: str) -> dict[str, Any]:
        unreadable: tuple[type[Exception], ...] = (*self.errors, ValueError)
        try:
            data = self.client.get_object(Bucket=self.name, Key=key)["Body"].read(4096)
            holder = json.loads(data)
        except unreadable:  # or gone: as good as stale
            return {}
        return holder if isinstance(holder, dict) else {}


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return status if isinstance(status, int) else None
    return None


def _refused(what: str, exc: Exception) -> UpstreamError:
    """A boto3 error as one line (its message names no credentials)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return UpstreamError(f"{what}: {error.get('Code')} ({error.get('Message', '')})")
    return UpstreamError(f"{what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
