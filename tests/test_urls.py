"""Credentials never reach a line a person reads, however the URL spells them."""

from __future__ import annotations

import pytest

from selmirror.urls import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://host/simple/", "https://host/simple/"),
        ("https://user:pass@host/simple/", "https://****@host/simple/"),
        ("https://token@host:8443/simple/", "https://****@host:8443/simple/"),
        # unencoded /, ? and # in a password: urlsplit ends the authority there
        ("https://u:pa/ss@host/simple/", "https://****@host/simple/"),
        ("https://u:p?a#b@host:8080/simple/x", "https://****@host:8080/simple/x"),
        ("https://u:a@b@host/", "https://****@host/"),
        ("https://h/s/?token=abc&x=1", "https://h/s/?token=****&x=1"),
        (
            "https://h/f.whl?X-Amz-Credential=AK%2Fx&X-Amz-Signature=ff&client_secret=zz",
            "https://h/f.whl?X-Amz-Credential=****&X-Amz-Signature=****&client_secret=****",
        ),
        (
            "https://h/?pwd=1&passwd=2&jwt=3&secret=4",
            "https://h/?pwd=****&passwd=****&jwt=****&secret=****",
        ),
        ("http://[::1/x", "<unparsable URL>"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown
