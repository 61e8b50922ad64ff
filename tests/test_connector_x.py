"""X API v2 connector: pagination, since_id, 429 resets, bad records, bearer token hygiene."""

from __future__ import annotations

import json
import logging
import time

import pytest

from connectors.ingest import run_ingest
from connectors.sample_server import CORPUS_DIR, sample_sources, serve_corpus
from connectors.x import parse_x_page, with_query
from infra.config import Settings
from schemas.raw import RawPost
from tests.connector_support import envelopes, scripted_server, source, with_sources

SEARCH = "/2/tweets/search/recent"
JSON = {"Content-Type": "application/json"}
TOKEN = "AAAA-test-bearer-token-never-logged-0123456789"


def _page(*ids: str, next_token: str | None = None) -> bytes:
    data = [
        {
            "id": i,
            "text": f"post {i}",
            "author_id": "42",
            "created_at": "2026-04-15T10:00:00.000Z",
            "lang": "en",
            "entities": {
                "urls": [{"expanded_url": "https://openai.com/index/x"}, {"expanded_url": "http://10.0.0.5/"}]
            },
            "referenced_tweets": [{"type": "quoted", "id": "1"}],
            "public_metrics": {"retweet_count": 1, "reply_count": 2, "like_count": 3, "quote_count": 4},
        }
        for i in ids
    ]
    meta = {"result_count": len(ids), **({"next_token": next_token} if next_token else {})}
    users = [{"id": "42", "username": "OpenAI", "name": "OpenAI", "verified": True}]
    return json.dumps({"data": data, "includes": {"users": users}, "meta": meta}).encode()


def _x_settings(settings: Settings, url: str, **kw: object) -> Settings:
    return with_sources(settings, [source("x-test", "x", url, tier="social", **kw)])


def test_corpus_pagination_then_since_id(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        configured = with_sources(settings, [s for s in sample_sources(server.base_url) if s.kind == "x"])
        first = run_ingest(configured)
        x_requests = [path for path, _ in server.requests if path.startswith("/x/")]
        assert len(x_requests) == 3 and "next_token=" in x_requests[1] and "next_token=" in x_requests[2]
        assert first.total("produced") == 30
        posts = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
        assert all(isinstance(p, RawPost) and p.key == f"x:{p.native_id}" and p.social for p in posts)
        joined = next(p for p in posts if p.native_id == "2045804597867474945")
        assert joined.social.handle and joined.social.expanded_urls and joined.social.impressions == 880000

        second = run_ingest(configured)
        assert second.total("produced") == 0
        newest = max(int(p.native_id) for p in posts)
        assert f"since_id={newest}" in [path for path, _ in server.requests if path.startswith("/x/")][-1]


def test_rate_limit_reset_is_honoured_then_resumed(settings: Settings) -> None:
    wall, mono = time.time(), time.monotonic()
    reset = f"{wall + 0.3:.3f}"
    # The reset instant on the server's request clock: the retry must not come before it,
    # however long the first request took on a busy machine.
    reset_mono = mono + float(reset) - wall
    script = {SEARCH: [(429, {"x-rate-limit-reset": reset, **JSON}, b"{}"), (200, JSON, _page("101", "100"))]}
    with scripted_server(script) as server:
        report = run_ingest(_x_settings(settings, server.base_url + SEARCH + "?query=ai"))
    assert server.hits[SEARCH] == 2
    retry_at = [at for path, _, at in server.requests if path.startswith(SEARCH)][1]
    assert retry_at >= reset_mono - 0.01, "the retry waited for x-rate-limit-reset"
    assert report.total("produced") == 2 and report.total("dead_lettered") == 0


def test_rate_limit_beyond_bound_gives_up_without_advancing_since_id(settings: Settings, broker: str) -> None:
    script = {SEARCH: [(429, {"x-rate-limit-reset": str(int(time.time()) + 3600), **JSON}, b"{}")]}
    with scripted_server(script) as server:
        t0 = time.monotonic()
        report = run_ingest(_x_settings(settings, server.base_url + SEARCH + "?query=ai"))
        # It gives up at once instead of waiting an hour; the bound leaves a loaded machine room.
        assert time.monotonic() - t0 < 60
    assert server.hits[SEARCH] == 1
    letters = envelopes(broker, settings.kafka, settings.kafka.dlq_topic)
    assert "rate limited" in letters[0].reason and report.total("produced") == 0


def test_bad_records_dead_lettered_while_the_page_lands(settings: Settings, broker: str) -> None:
    body = (CORPUS_DIR / "hostile" / "x" / "wrong-types.json").read_bytes()
    with scripted_server({SEARCH: [(200, JSON, body)]}) as server:
        report = run_ingest(_x_settings(settings, server.base_url + SEARCH))
    assert report.total("produced") == 1 and report.total("dead_lettered") == 3
    reasons = [d.reason for d in envelopes(broker, settings.kafka, settings.kafka.dlq_topic)]
    assert all(r.startswith("wrong type") for r in reasons), reasons


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"", "empty body"),
        (200, b'{"data": [', "invalid json"),
        (200, b"[" * 100_000, "invalid json"),  # nesting deep enough to blow a recursive parser
        (200, b"<html><body>Over capacity</body></html>", "invalid json"),
        (200, b'"just a string"', "wrong type"),
        (200, b'{"data": "nope"}', "wrong type"),
        (200, b"\xff\xfe\x00garbage", "invalid json"),
        (500, b"oops", "http error"),
        (401, b'{"title":"Unauthorized"}', "http error"),
    ],
    ids=["empty", "truncated", "deep-nesting", "html", "string", "data-string", "binary", "500", "401"],
)
def test_hostile_pages(settings: Settings, broker: str, status: int, body: bytes, reason: str) -> None:
    with scripted_server({SEARCH: [(status, JSON, body)]}) as server:
        report = run_ingest(
            _x_settings(settings, server.base_url + SEARCH).model_copy(
                update={
                    "fetch": settings.fetch.model_copy(
                        update={"per_host_interval_s": 0, "retries": 1, "backoff_s": 0, "timeout_s": 5}
                    )
                }
            )
        )
    assert report.total("produced") == 0
    letters = envelopes(broker, settings.kafka, settings.kafka.dlq_topic)
    assert len(letters) == 1 and letters[0].reason.startswith(reason), letters[0].reason
    # 4xx is never retried; 5xx is retried (retries=1 -> 2 requests).
    assert server.hits[SEARCH] == (2 if status >= 500 else 1)


def test_bearer_token_only_when_configured_and_never_logged(
    settings: Settings, broker: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bad_record = json.dumps({"data": [{"id": "7", "author_id": "42"}], "includes": {"users": []}}).encode()
    script = {SEARCH: [(200, JSON, bad_record)]}
    with scripted_server(script) as server:
        url = server.base_url + SEARCH
        run_ingest(_x_settings(settings, url, token_env=""))
        monkeypatch.setenv("RADAR_TEST_X_TOKEN", TOKEN)
        with_token = _x_settings(settings, url, token_env="RADAR_TEST_X_TOKEN")
        run_ingest(with_token.model_copy(update={"sources": [with_token.sources[0].model_copy(update={"name": "x2"})]}))
    first, second = server.headers_of(SEARCH)
    assert "authorization" not in first
    assert second["authorization"] == f"Bearer {TOKEN}"
    dlq = b"".join(d.model_dump_json().encode() for d in envelopes(broker, settings.kafka, settings.kafka.dlq_topic))
    assert b"missing field" in dlq and TOKEN.encode() not in dlq
    assert TOKEN not in caplog.text


def test_parse_and_query_helpers() -> None:
    assert parse_x_page(b'{"meta": {"result_count": 0}}')["data"] == []
    url = with_query("https://api.x.com/2/tweets/search/recent?query=%28a%20OR%20b%29&next_token=old", next_token="n 1")
    assert url == "https://api.x.com/2/tweets/search/recent?query=%28a%20OR%20b%29&next_token=n%201"
