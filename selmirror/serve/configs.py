"""nginx and Caddy configs that serve the mirror the way ``selmirror serve`` does, as far as
each server can (the contract is the docstring of :mod:`selmirror.serve`).

:func:`render` fills ``templates/nginx.conf`` (a whole ``nginx.conf``; the ``map`` blocks and
the ``server`` block between its BEGIN and END lines also drop into an existing ``http {}``)
or ``templates/Caddyfile``. Both use only what the stock Debian packages build in: nginx's
``map``, ``rewrite``, ``gzip``, ``headers`` and static modules (nginx-light), Caddy 2.6's
``map``, ``expression`` (CEL), ``file`` matcher, ``encode`` and ``file_server``.

What both do as ``selmirror serve`` does (``tests/test_serve_configs.py`` checks each point
against the real servers, and the negotiation against :func:`.negotiate.choose`):

- pages at ``PREFIX`` and ``PREFIX<project>/``, negotiated on ``Accept`` with its q-values:
  each representation takes the q of the most specific media range that names it (its
  exact names, ``latest+json``/``latest+html`` included, else ``application/*`` or
  ``text/*``, else ``*/*``); q=0 is never; the highest q wins and a tie goes to a type named
  over a wildcard, JSON first among names and ``text/html`` among wildcards. So pip and
  uv's ``v1+json, v1+html; q=0.1, text/html; q=0.01`` gets JSON, as
  ``application/vnd.pypi.simple.v1+json`` exactly; ``*/*``, ``text/html`` or no ``Accept``
  gets ``text/html; charset=utf-8``; ``v1+html`` by name gets
  ``application/vnd.pypi.simple.v1+html``; a set they cannot meet is 406. ``?format=``
  (``v1+json``, ``v1+html``, ``text/html``, ``latest+…``) overrides ``Accept``; an unknown
  or empty one is 406. nginx's ``map`` compares q-values with PCRE back-references, Caddy
  with CEL string comparisons: neither rounds or guesses;
- ``Vary: Accept, Accept-Encoding`` (one header) on every page answer: 200, 304, 404, 406;
  ETag and Last-Modified from the file, 304 for ``If-None-Match`` and for
  ``If-Modified-Since`` at or after it; ``Cache-Control: max-age=N, must-revalidate`` on 200
  and 304; gzip when ``Accept-Encoding`` names it (pages of 256 bytes and more);
- files and ``.metadata``: ``application/octet-stream``, ``Cache-Control: public,
  max-age=31536000, immutable``, ETag, Last-Modified, 304, ``Accept-Ranges``, 206 and 416,
  HEAD; a ``+`` in a name works sent literally or as ``%2B``;
- only normalized project names and names shaped like a wheel, an sdist (``.tar.gz``,
  ``.zip``) or a wheel's ``.metadata`` are ever looked up, so dotfiles, ``.selmirror/``,
  ``.selmirror.lock``, ``.selmirror-tmp-*``, ``index.html``/``index.v1_json`` asked for by
  file name (404 here, as in serve), other files and subfolders are 404; ``..``, encoded
  or not, never leaves the tree;
- ``PREFIX<project>`` and the prefix without its slash: 301 to the URL with the slash
  (relative ``Location``, query kept); methods other than GET and HEAD: 405 with
  ``Allow: GET, HEAD`` (uploads are ``selmirror serve``'s alone); ``GET /health``: 200
  ``{"status": "ok"}`` as ``application/json``.

What they cannot do, or do differently:

- no 301 from a non-normalized project name (``/simple/Foo_Bar/``, ``/simple/ALPHA``): neither
  config language can lower-case a URL without an extra module, so those are 404.
  Installers ask for the normalized name (PEP 503), so pip and uv never notice;
- no ``/ready`` (it reads the mirror's state: a job for Python); probe ``/health``, or watch
  ``DIR/.selmirror/completed``;
- negotiation, approximated: a media range named twice in one header counts once, at its
  first q (serve takes the higher); a header with no ``/`` at all counts as no ``Accept``,
  but one whose ranges are all malformed (``a/b/c``) is 406 (serve: ``text/html``);
  ``Accept-Encoding: *`` does not get gzip (serve gzips); in ``?format=`` nginx decodes
  only ``%2F`` and ``%2B``;
- URL normalization: both resolve ``.`` and ``..`` segments and decode ``%2F`` before
  routing, so ``/simple/x/../alpha/`` and ``/simple/alpha%2F<file>`` are served (serve:
  404); Caddy also merges doubled slashes and answers ``/simple/alpha/.`` with a 301; nginx
  answers 400 to a path that climbs above ``/`` and to an encoded NUL (serve: 404);
- validators: ETags are the servers' own (mtime and size), not a hash of the page; nginx
  marks a gzipped page's ETag weak (``W/``), Caddy 2.6 keeps the same ETag for both
  encodings (serve: a distinct strong one); Caddy's 304s leave out Last-Modified;
- a 416 also carries the files' year-long ``Cache-Control`` (serve's does not): both
  servers add headers before the range is checked;
- symlinks: nginx follows none below the mirror (``disable_symlinks on``: 404), where serve
  follows those that stay inside the tree; the mirror never makes any. Caddy 2.6 has no
  setting for it and follows every symlink, even one out of the tree, or a symlinked
  project folder: keep the tree free of symlinks when Caddy serves it;
- error bodies other than the pages' 404 and 406 are each server's own; 405 applies to
  every path, not only under the prefix.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

from selmirror.errors import InputError

Kind = Literal["nginx", "caddy"]

_TEMPLATES: dict[str, str] = {"nginx": "nginx.conf", "caddy": "Caddyfile"}
# URL path segments of unreserved and a few sub-delims characters: nothing that means
# something in either config language or in a regex character class, no dot segments
_PREFIX = re.compile(r"/(?:[A-Za-z0-9_~+@:=,!-][A-Za-z0-9._~+@:=,!-]*/)*")
_HOST = re.compile(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_UNSAFE_PATH = re.compile(r"[\s\"'`{}$;#\\]|[^\x20-\x7e]")
_PLACEHOLDER = re.compile(r"@@[A-Z_]+@@")


def render(
    kind: Kind,
    *,
    root: Path,
    prefix: str = "/simple/",
    host: str = "127.0.0.1",
    port: int = 8080,
    page_max_age: int = 60,
    runtime_dir: Path | None = None,
) -> str:
    """The config text for ``kind`` serving the mirror at ``root`` under ``prefix``.

    ``runtime_dir`` (for tests and unprivileged runs) puts nginx's pid file, logs and temp
    folders there and turns Caddy's admin endpoint off, with its storage there; without
    it, the Debian packages' defaults apply.
    """
    if kind not in _TEMPLATES:
        raise InputError(f"no config for {kind!r}: nginx or caddy")
    folder = _path(root, "root")
    _check_prefix(prefix)
    if not _HOST.fullmatch(host):
        raise InputError(f"{host!r} is not a host name or IP address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError(f"{port!r} is not a port number (1-65535)")
    if isinstance(page_max_age, bool) or not isinstance(page_max_age, int) or page_max_age < 0:
        raise InputError(f"{page_max_age!r} is not a number of seconds")
    runtime = None if runtime_dir is None else _path(runtime_dir, "runtime_dir")
    address = f"[{host}]" if ":" in host else host
    values = {
        "ROOT": folder,
        "PREFIX": prefix,
        "PREFIX_RE": re.escape(prefix),
        "PAGE_MAX_AGE": str(page_max_age),
    }
    if kind == "nginx":
        values |= _nginx(prefix, f"{address}:{port}", runtime)
    else:
        values |= _caddy(prefix, address, port, runtime)
    template = resources.files("selmirror.serve") / "templates" / _TEMPLATES[kind]
    return _PLACEHOLDER.sub(lambda m: values[m.group(0).strip("@")], template.read_text())


def _nginx(prefix: str, listen: str, runtime: str | None) -> dict[str, str]:
    if runtime is None:  # as Debian's own nginx.conf
        main = [
            "user www-data;",
            "pid /run/nginx.pid;",
            "error_log /var/log/nginx/error.log;",
        ]
        http = ["    access_log /var/log/nginx/access.log;"]
    else:
        main = [f"pid {runtime}/nginx.pid;", f"error_log {runtime}/error.log;"]
        http = [f"    access_log {runtime}/access.log;"] + [
            f"    {kind}_temp_path {runtime}/{kind}-temp;"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ]
    redirect = "        # the prefix is /: no redirect for it"
    if prefix != "/":
        redirect = (
            f'        location = "{prefix[:-1]}" {{\n'
            f"            return 301 {prefix}$is_args$args;\n"
            "        }"
        )
    return {
        "MAIN": "\n".join(["worker_processes auto;", *main]),
        "HTTP": "\n".join(http),
        "LISTEN": listen,
        "PREFIX_REDIRECT": redirect,
    }


def _caddy(prefix: str, address: str, port: int, runtime: str | None) -> dict[str, str]:
    options = ["\tauto_https off"]
    if runtime is not None:
        options += ["\tadmin off", f"\tstorage file_system {runtime}/caddy"]
    redirect = "\t\t# the prefix is /: no redirect for it"
    if prefix != "/":
        redirect = f"\t\tredir {prefix[:-1]} {prefix}{{sm_qmark}}{{query}} 301"
    return {
        "OPTIONS": "\n".join(options),
        "PORT": str(port),
        "HOST": address,
        "PREFIX_REDIRECT": redirect,
    }


def _check_prefix(prefix: str) -> None:
    if not prefix.startswith("/") or not prefix.endswith("/"):
        raise InputError(f"prefix {prefix!r} must start and end with '/', as /simple/ does")
    if not _PREFIX.fullmatch(prefix):
        raise InputError(
            f"prefix {prefix!r} is not a plain URL path: letters, digits and . _ ~ + @ : = , ! -"
            " between slashes, no segment starting with '.'"
        )


def _path(path: Path, what: str) -> str:
    resolved = Path(path).resolve()
    text = str(resolved)
    if not resolved.is_absolute() or text == "/":
        raise InputError(f"{what} {text!r} is not an absolute path below /")
    if _UNSAFE_PATH.search(text):
        raise InputError(
            f"{what} {text!r} has a character a config cannot take unquoted"
            " (whitespace, quotes, braces, '$', ';', '#', '\\' or non-ASCII)"
        )
    return text
