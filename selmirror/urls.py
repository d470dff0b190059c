"""URL helpers: credentials never reach a log line, a page, a report or an error."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

_SECRET_QUERY_KEYS = ("token", "access_token", "auth", "key", "password", "signature", "sig")


def redact(url: str) -> str:
    """Hide userinfo and credential-like query values, as pip's ``redact_auth_from_url``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "****@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pieces = []
        for item in query.split("&"):
            key, sep, _ = item.partition("=")
            secret = sep and any(s in key.lower() for s in _SECRET_QUERY_KEYS)
            pieces.append(f"{key}=****" if secret else item)
        query = "&".join(pieces)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def project_url(index_url: str, name: str) -> str:
    """The project page URL on ``index_url``: ``<index>/<normalized-name>/`` (PEP 503)."""
    base = index_url if index_url.endswith("/") else index_url + "/"
    return urljoin(base, f"{name}/")
