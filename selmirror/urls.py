"""URL helpers: credentials never reach a log line, a page, a report or an error."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit, urlunsplit

_SECRET_QUERY_KEYS = (
    "token", "auth", "key", "password", "passwd", "pass", "pwd", "secret", "signature",
    "sig", "jwt", "credential",
)  # fmt: skip
# userinfo, found as a string: a password may hold an unencoded "/", "?" or "#", which
# urlsplit takes for the end of the authority (and shows the password as the path)
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>.*)@(?P<rest>[^@]*)$")
_HOST = re.compile(r"[A-Za-z0-9._~%\[\]:-]+")


def redact(url: str) -> str:
    """Hide userinfo and credential-like query values, as pip's ``redact_auth_from_url``,
    and more: everything between ``://`` and the last ``@`` followed by a host."""
    match = _USERINFO.match(url)
    if match and _HOST.fullmatch(re.split(r"[/?#]", match["rest"], maxsplit=1)[0] or "-"):
        url = f"{match['scheme']}****@{match['rest']}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    query = parts.query
    if query:
        pieces = []
        for item in query.split("&"):
            key, sep, _ = item.partition("=")
            secret = sep and any(s in key.lower() for s in _SECRET_QUERY_KEYS)
            pieces.append(f"{key}=****" if secret else item)
        query = "&".join(pieces)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def project_url(index_url: str, name: str) -> str:
    """The project page URL on ``index_url``: ``<index>/<normalized-name>/`` (PEP 503)."""
    base = index_url if index_url.endswith("/") else index_url + "/"
    return urljoin(base, f"{name}/")
