"""The upstream client against scripted responses: negotiation, retries, errors, secrets."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from packaging.utils import NormalizedName
from responses import registries
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_none,
)

from selmirror.errors import ProjectNotFound, UpstreamError
from selmirror.upstream import (
    ACCEPT,
    TRANSIENT,
    USER_AGENT,
    RetryableStatus,
    Upstream,
    _wait,
    make_session,
)

INDEX = "https://idx.example/simple/"
PAGE = json.dumps(
    {
        "meta": {"api-version": "1.1"},
        "name": "foo",
        "files": [{"filename": "foo-1.0.tar.gz", "url": "foo-1.0.tar.gz", "hashes": {}}],
    }
)
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
FOO = NormalizedName("foo")


def _fast() -> Retrying:
    return Retrying(
        stop=stop_after_attempt(3),
        wait=wait_none(),
        reraise=True,
        retry=retry_if_exception_type(TRANSIENT),
    )


def _client(*indexes: str) -> Upstream:
    return Upstream(make_session(2), indexes or (INDEX,), timeout=5, retrying=_fast)


@responses.activate
def test_asks_for_json_with_pip_accept_header_and_our_user_agent() -> None:
    responses.get(INDEX + "foo/", body=PAGE, content_type=JSON_TYPE)
    page = _client().project_page(FOO)[0]
    assert [f.filename for f in page.files] == ["foo-1.0.tar.gz"]
    sent = responses.calls[0].request.headers
    assert sent["Accept"] == ACCEPT
    assert sent["User-Agent"] == USER_AGENT
    assert page.files[0].url == INDEX + "foo/foo-1.0.tar.gz"


@responses.activate
def test_index_url_without_trailing_slash() -> None:
    responses.get(INDEX + "foo/", body=PAGE, content_type=JSON_TYPE)
    _client(INDEX.rstrip("/")).project_page(FOO)[0]
    assert responses.calls[0].request.url == INDEX + "foo/"


@responses.activate
def test_html_is_accepted() -> None:
    responses.get(
        INDEX + "foo/", body='<a href="foo-1.0.tar.gz">foo-1.0.tar.gz</a>', content_type="text/html"
    )
    assert _client().project_page(FOO)[0].files[0].filename == "foo-1.0.tar.gz"


@responses.activate(registry=registries.OrderedRegistry)
def test_503_then_200_is_retried() -> None:
    responses.get(INDEX + "foo/", status=503)
    responses.get(INDEX + "foo/", status=503)
    responses.get(INDEX + "foo/", body=PAGE, content_type=JSON_TYPE)
    assert _client().project_page(FOO)[0].files
    assert len(responses.calls) == 3


@responses.activate(registry=registries.OrderedRegistry)
def test_connection_error_then_success() -> None:
    responses.get(INDEX + "foo/", body=requests.ConnectionError("reset"))
    responses.get(INDEX + "foo/", body=PAGE, content_type=JSON_TYPE)
    assert _client().project_page(FOO)[0].files


@responses.activate
def test_persistent_5xx_gives_up_with_one_line() -> None:
    responses.get(INDEX + "foo/", status=502)
    with pytest.raises(UpstreamError, match=r"HTTP 502 from https://idx.example/simple/foo/"):
        _client().project_page(FOO)[0]
    assert len(responses.calls) == 3


@responses.activate
def test_404_is_an_answer_not_retried() -> None:
    responses.get(INDEX + "foo/", status=404)
    with pytest.raises(ProjectNotFound, match=r"project foo not found on https://idx\.example"):
        _client().project_page(FOO)[0]
    assert len(responses.calls) == 1


@responses.activate
def test_first_index_that_has_the_project_wins() -> None:
    other = "https://other.example/simple/"
    responses.get(INDEX + "foo/", status=404)
    responses.get(other + "foo/", body=PAGE, content_type=JSON_TYPE)
    responses.get(INDEX + "bar/", body=PAGE.replace('"foo', '"bar'), content_type=JSON_TYPE)
    client = _client(INDEX, other)
    assert client.project_page(FOO)[0].url == other + "foo/"
    client.project_page(NormalizedName("bar"))[0]
    assert not any(c.request.url == other + "bar/" for c in responses.calls)


@responses.activate
def test_credentials_never_appear_in_errors() -> None:
    secret_index = "https://alice:s3cret@idx.example/simple/"
    responses.get(INDEX + "foo/", status=401)
    responses.get(secret_index + "foo/", status=401)
    with pytest.raises(UpstreamError) as info:
        _client(secret_index).project_page(FOO)[0]
    assert "s3cret" not in str(info.value)
    assert "alice" not in str(info.value)
    assert "401" in str(info.value)
    assert info.value.hint
    assert "netrc" in info.value.hint
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_timeout_is_an_upstream_error() -> None:
    responses.get(INDEX + "foo/", body=requests.ReadTimeout("slow"))
    with pytest.raises(UpstreamError, match="timed out after 5s"):
        _client().project_page(FOO)[0]


@responses.activate
def test_wrong_content_type() -> None:
    responses.get(INDEX + "foo/", body=PAGE, content_type="application/octet-stream")
    with pytest.raises(UpstreamError, match="unexpected Content-Type"):
        _client().project_page(FOO)[0]


@responses.activate
def test_relative_urls_resolve_against_the_final_url() -> None:
    responses.get(INDEX + "foo/", status=301, headers={"Location": "https://cdn.example/s/foo/"})
    responses.get("https://cdn.example/s/foo/", body=PAGE, content_type=JSON_TYPE)
    page = _client().project_page(FOO)[0]
    assert page.files[0].url == "https://cdn.example/s/foo/foo-1.0.tar.gz"


def test_retry_after_is_honoured_and_capped() -> None:
    def wait_for(retry_after: str | None) -> float:
        call = RetryCallState(Retrying(), None, (), {})
        call.set_exception((RetryableStatus, RetryableStatus("u", 429, retry_after), None))
        return _wait(call)

    assert wait_for("7") == 7.0
    assert wait_for("3600") == 60.0
    assert 0 < wait_for(None) <= 31


@responses.activate(registry=registries.OrderedRegistry)
def test_conditional_request_reuses_the_stored_page_on_304() -> None:
    responses.get(
        INDEX + "foo/",
        body=PAGE,
        content_type=JSON_TYPE,
        headers={"ETag": '"v1"', "Last-Modified": "Sun, 22 Nov 2026 10:00:00 GMT"},
    )
    responses.get(INDEX + "foo/", status=304)
    client = _client()
    first, raw = client.project_page(FOO)
    assert raw.etag == '"v1"'
    second, again = client.project_page(FOO, raw)
    assert again is raw  # nothing new came over the wire
    assert [f.filename for f in second.files] == [f.filename for f in first.files]
    sent = responses.calls[1].request.headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Sun, 22 Nov 2026 10:00:00 GMT"


@responses.activate
def test_a_redirect_from_https_to_plain_http_is_refused() -> None:
    responses.get(INDEX + "foo/", status=301, headers={"Location": "http://idx.example/foo/"})
    responses.get("http://idx.example/foo/", body=PAGE, content_type=JSON_TYPE)
    with pytest.raises(UpstreamError) as info:
        _client().project_page(FOO)
    assert info.value.message == (
        "https://idx.example/simple/foo/ redirects to plain http (http://idx.example/foo/): refused"
    )
    assert len(responses.calls) == 1  # never asked over plain http
    responses.get(INDEX + "bar/", status=302, headers={"Location": "https://cdn.example/bar/"})
    responses.get(
        "https://cdn.example/bar/", body=PAGE.replace('"foo"', '"bar"'), content_type=JSON_TYPE
    )
    assert _client().project_page(NormalizedName("bar"))[0].name == "bar"  # https to https: fine


@responses.activate
def test_an_index_url_that_is_no_simple_index_gets_a_hint() -> None:
    responses.get("https://pypi.example/foo/", status=404)
    with pytest.raises(ProjectNotFound) as info:
        _client("https://pypi.example/").project_page(FOO)
    assert info.value.hint == (
        "is https://pypi.example/ a simple index? they end in /simple/ (PyPI's: "
        "https://pypi.org/simple/)"
    )
    responses.get(INDEX + "foo/", status=404)
    with pytest.raises(ProjectNotFound) as info:
        _client().project_page(FOO)
    assert info.value.hint is None
